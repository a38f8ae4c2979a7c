"""Every training path, on small subsets with one epoch: the files it writes, and an int8 model
with int8 input and output of the expected shapes."""

import json

import numpy as np
import pytest

from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.tflite_model import TFLiteModel

CASES = {
    # name: (cli arguments, input shape, output shape)
    "linear": (["linear", "--epochs", "1"], (1, 1), (1, 1)),
    "digits-cnn": (["digits", "--arch", "cnn"], (1, 28, 28, 1), (1, 10)),
    "digits-mlp": (["digits", "--arch", "mlp"], (1, 28, 28, 1), (1, 10)),
    "digits-mlp-sigmoid": (["digits", "--arch", "mlp-sigmoid"], (1, 28, 28, 1), (1, 10)),
    "activity": (["activity"], (1, 100, 6), (1, 4)),
    "digits-cnn-qat": (["digits", "--arch", "cnn", "--qat", "--qat-epochs", "1"],
                       (1, 28, 28, 1), (1, 10)),
    "activity-qat": (["activity", "--qat", "--qat-epochs", "1"], (1, 100, 6), (1, 4)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_training_path_writes_an_int8_model(case, tmp_path, capsys):
    arguments, input_shape, output_shape = CASES[case]
    if "--epochs" not in arguments:
        arguments = arguments + ["--epochs", "1", "--subset", "256"]
    out = tmp_path / case
    assert main(["-q", "train", *arguments, "--out", str(out)]) == 0
    summary = capsys.readouterr().out
    assert str(out) in summary

    model = TFLiteModel.from_file(out / "model.tflite")
    assert model.inputs[0].type_name == "INT8" and model.outputs[0].type_name == "INT8"
    assert model.inputs[0].shape == input_shape and model.outputs[0].shape == output_shape

    card = json.loads((out / "card.json").read_text())
    assert card["model"]["sha256"] == model.sha256
    assert card["training"]["qat"] == ("--qat" in arguments)
    assert card["macs"] == model.macs() > 0
    assert card["tflm_arena_bytes"] > 0
    indices = card["calibration"]["indices"]
    assert indices == sorted(set(indices)) and len(indices) == card["calibration"]["count"]
    assert (out / "training.png").exists()
    assert (out / ("prediction.png" if case == "linear" else "confusion.png")).exists()
    if card["labels"]:
        matrix = np.array(card["test"]["int8"]["confusion_matrix"])
        assert matrix.sum() == card["test"]["int8"]["total"]
        assert np.trace(matrix) == card["test"]["int8"]["correct"]
    if case.startswith("activity"):
        assert len(card["input"]["normalization"]["mean"]) == 6
    assert not list(out.glob("*.partial")) and not list(out.glob(".*"))


def test_calibration_indices_are_fixed_by_the_seed():
    from tinyml_pipeline.training.quantize import calibration_indices

    assert calibration_indices(1000, seed=4) == calibration_indices(1000, seed=4)
    assert calibration_indices(1000, seed=4) != calibration_indices(1000, seed=5)
    assert calibration_indices(10, seed=4) == list(range(10))
