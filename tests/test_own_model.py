"""A user's own models through quantize, card and validate: an anomaly-detection autoencoder
(no labels: plain tensors, judged by tensor metrics), an int8 .tflite described with `tinyml
card`, another test set given with --data, and what is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tinyml_pipeline.tools.cli import main


def _autoencoder(directory):
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    phases = rng.uniform(0, 2 * np.pi, (700, 1))
    x = np.sin(np.linspace(0, 4 * np.pi, 32)[np.newaxis] + phases).astype(np.float32)
    model = keras.Sequential([keras.layers.Input((32,)),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(32)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    model.fit(x[:600], x[:600], epochs=15, batch_size=32, verbose=0)
    import warnings

    with warnings.catch_warnings():  # HDF5 on purpose: quantize reads .h5 as well as .keras
        warnings.simplefilter("ignore", UserWarning)
        model.save(directory / "autoencoder.h5")
    np.savez(directory / "train.npz", x=x[:600])
    np.savez(directory / "test.npz", x=x[600:])


@pytest.mark.slow
def test_an_autoencoder_validates_on_the_host_port_with_tensor_metrics(tmp_path, capsys):
    _autoencoder(tmp_path)
    workspace = ["--workspace", str(tmp_path)]
    assert main(["-q", *workspace, "quantize", str(tmp_path / "autoencoder.h5"),
                 "--calibration", str(tmp_path / "train.npz"), "--test",
                 str(tmp_path / "test.npz"), "--out", str(tmp_path / "models/anomaly")]) == 0
    card = json.loads((tmp_path / "models/anomaly/card.json").read_text())
    assert card["task"] == {"kind": "tensors", "metric": "rmse"} and card["labels"] is None
    assert card["test"]["int8_vs_float"]["cosine_similarity"] > 0.95
    assert card["model"]["weight_quantization"]["dense"] == "per-tensor"
    sources, build = tmp_path / "build/sources", tmp_path / "build/host"
    assert main(["-q", *workspace, "convert", str(tmp_path / "models/anomaly/model.tflite"),
                 "--out", str(sources)]) == 0
    assert main(["-q", *workspace, "firmware", "build", "--target", "host", "--models-dir",
                 str(sources), "--build-dir", str(build)]) == 0
    capsys.readouterr()
    assert main(["-q", *workspace, "validate", "--model", "anomaly", "--emulator", "host",
                 "--image", str(build / "tinyml-host")]) == 0
    console = capsys.readouterr().out
    assert "device vs float" in console and "device vs TFLM" in console
    report = json.loads((tmp_path / "build/validation/anomaly/report.json").read_text())
    assert report["tflm"]["exact"] == 100 and "device" not in report["accuracy"]
    assert report["tensor_metrics"]["vs_tflm"]["rmse"] == 0.0
    versus_float = report["tensor_metrics"]["vs_float"]
    assert versus_float["cosine_similarity"] > 0.95 and versus_float["relative_l2_error"] < 0.3


def _linear_test_set(path, count=9):
    x = np.linspace(-4, 4, count, dtype=np.float32).reshape(-1, 1)
    np.savez(path, x=x, y=2 * x - 1)


def test_a_card_for_an_int8_tflite_made_elsewhere_validates_like_a_trained_one(tmp_path, capsys):
    """The committed linear model, described anew: same name and bytes as the firmware's."""
    _linear_test_set(tmp_path / "points.npz")
    out = tmp_path / "described" / "linear"
    assert main(["-q", "card", str(MODELS_DIR / "linear/model.tflite"), "--test",
                 str(tmp_path / "points.npz"), "--out", str(out)]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["task"]["kind"] == "regression" and card["test_set"]["count"] == 9
    assert card["test"]["int8"]["mean_abs_error"] < 0.2
    capsys.readouterr()
    assert main(["-q", "validate", "--model", str(out), "--emulator", "host", "--report",
                 str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report/linear/report.json").read_text())
    assert report["validated"] == 9 and report["tflm"]["exact"] == 9
    assert report["accuracy"]["device"]["rmse"] >= report["accuracy"]["device"][
        "mean_abs_error"]


def test_data_overrides_the_test_set_and_a_resume_with_other_data_is_refused(tmp_path,
                                                                           capsys):
    _linear_test_set(tmp_path / "a.npz", 5)
    _linear_test_set(tmp_path / "b.npz", 5)
    np.savez(tmp_path / "b.npz", x=np.linspace(5, 9, 5, dtype=np.float32).reshape(-1, 1))
    report = ["--report", str(tmp_path / "report")]
    assert main(["-q", "validate", "--model", "linear", "--emulator", "host", "--data",
                 str(tmp_path / "a.npz"), *report]) == 0
    found = json.loads((tmp_path / "report/linear/report.json").read_text())
    assert found["validated"] == 5 and found["dataset"].endswith("a.npz")
    capsys.readouterr()
    assert main(["-q", "validate", "--model", "linear", "--emulator", "host", "--data",
                 str(tmp_path / "b.npz"), "--resume", *report]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "holds results for dataset" in error[0]


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "is missing"),
    (lambda d: (d / "model.tflite").write_bytes((MODELS_DIR / "linear/model.tflite")
                                                .read_bytes()), "already int8: describe it"),
    (lambda d: (d / "model.tflite").mkdir(), "without saved_model.pb"),
    (lambda d: (d / "model.tflite").write_text("x"), "not a .tflite|not a TFLite"),
])
def test_quantize_refuses_what_it_cannot_quantize_in_one_line(tmp_path, capsys, make, message):
    import re

    make(tmp_path)
    np.save(tmp_path / "x.npy", np.zeros((4, 1), np.float32))
    status = main(["quantize", str(tmp_path / "model.tflite"), "--calibration",
                   str(tmp_path / "x.npy"), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(error) == 1 and re.search(message, error[0]), error
    assert not (tmp_path / "out").exists()


def test_validate_names_the_models_it_has_when_one_is_unknown(capsys):
    assert main(["validate", "--model", "nosuchmodel", "--emulator", "host"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no model 'nosuchmodel'" in error[0] and "digits" in error[0]


def test_the_first_differing_layer_is_named_exactly(tmp_path, monkeypatch, capsys):
    """The host port's tampering backend changes every value of digits' layer 1 (its second
    convolution and max pool, fused) by 64 LSB on every inference: validate fails the gate and
    names that layer, its op and the difference."""
    monkeypatch.setenv("TINYML_TAMPER_LAYER", "1:1")  # model 1 of the registry: digits
    assert main(["-q", "validate", "--model", "digits", "--emulator", "host", "--limit", "30",
                 "--trace-layers", "2", "--report", str(tmp_path)]) == 1
    console = capsys.readouterr().out
    assert "first differing layer 1 of 6: CONV_2D+MAX_POOL_2D (op #2" in console
    traces = json.loads((tmp_path / "digits/report.json").read_text())["layer_trace"]
    assert len(traces) == 2
    for trace in traces:
        assert (trace["status"], trace["layer"], trace["op"]) == ("differs", 1,
                                                                   "CONV_2D+MAX_POOL_2D")
        assert trace["max_lsb"] == 64 and trace["differing_values"] == trace["values"] == 600


def test_an_untampered_device_is_not_traced(tmp_path, capsys):
    assert main(["-q", "validate", "--model", "digits", "--emulator", "host", "--limit", "5",
                 "--report", str(tmp_path)]) == 0
    assert "layer_trace" not in json.loads((tmp_path / "digits/report.json").read_text())


def test_a_runtime_without_layers_is_reported_as_unsupported():
    from tinyml_pipeline.tools.framing import DeviceError, Status
    from tinyml_pipeline.tools.tflite_model import TFLiteModel
    from tinyml_pipeline.tools.validation.layer_trace import first_differing_layer

    class TflmImage:
        def layer_output(self, model, layer, sample):
            raise DeviceError(Status.UNSUPPORTED, "LAYER_OUTPUT")

    model = TFLiteModel.from_file(MODELS_DIR / "linear/model.tflite")
    trace = first_differing_layer(TflmImage(), "tflm", 2, model, np.zeros(1, np.int8), 4)
    assert trace["status"] == "unsupported" and "tflm runtime" in trace["reason"]
