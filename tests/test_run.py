"""`tinyml run`: the three backends on a batch of int8 inputs, and its refusals."""

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tinyml_pipeline.tools.cli import main

LINEAR = MODELS_DIR / "linear" / "model.tflite"
DIGITS = MODELS_DIR / "digits" / "model.tflite"


def _run(model, inputs, out, backend) -> int:
    return main(["run", str(model), "--inputs", str(inputs), "--out", str(out), "--backend",
                 backend])


@pytest.mark.parametrize("model", [LINEAR, DIGITS], ids=["linear", "digits"])
def test_builtin_tflm_and_litert_give_the_same_bytes(model, tmp_path):
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    shape = TFLiteModel.from_file(model).inputs[0].shape
    inputs = np.random.default_rng(7).integers(-128, 128, (12, *shape[1:]), dtype=np.int8)
    np.save(tmp_path / "x.npy", inputs)
    outputs = {}
    for backend in ("builtin", "tflm", "litert"):
        assert _run(model, tmp_path / "x.npy", tmp_path / f"{backend}.npy", backend) == 0
        outputs[backend] = np.load(tmp_path / f"{backend}.npy")
    assert outputs["builtin"].dtype == np.int8 and len(outputs["builtin"]) == 12
    assert np.array_equal(outputs["builtin"], outputs["tflm"])
    assert np.array_equal(outputs["tflm"], outputs["litert"])


def _refused(tmp_path, capsys, model, inputs, expected: str) -> None:
    out = tmp_path / "y.npy"
    assert _run(model, inputs, out, "builtin") == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and expected in error, error
    assert not out.exists()


def test_run_refuses_missing_inputs(tmp_path, capsys):
    _refused(tmp_path, capsys, LINEAR, tmp_path / "absent.npy", "inputs not found")


def test_run_refuses_a_missing_model(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 1), np.int8))
    _refused(tmp_path, capsys, tmp_path / "absent.tflite", tmp_path / "x.npy", "model not found")


def test_run_refuses_float_inputs(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 1), np.float32))
    _refused(tmp_path, capsys, LINEAR, tmp_path / "x.npy", "inputs are float32")


def test_run_refuses_inputs_of_the_wrong_shape(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 5), np.int8))
    _refused(tmp_path, capsys, LINEAR, tmp_path / "x.npy", "do not fit the model input [1, 1]")


def test_run_refuses_a_file_that_is_not_npy(tmp_path, capsys):
    (tmp_path / "x.npy").write_text("1,2,3\n")
    _refused(tmp_path, capsys, LINEAR, tmp_path / "x.npy", "not a readable .npy")


def test_run_refuses_a_corrupt_model(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 1), np.int8))
    (tmp_path / "m.tflite").write_bytes(LINEAR.read_bytes()[:300])
    _refused(tmp_path, capsys, tmp_path / "m.tflite", tmp_path / "x.npy", "corrupt .tflite")


def test_run_rejects_an_unknown_backend(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 1), np.int8))
    with pytest.raises(SystemExit) as stop:
        _run(LINEAR, tmp_path / "x.npy", tmp_path / "y.npy", "cmsis")
    assert stop.value.code == 2


def test_run_takes_the_x_array_of_an_npz(tmp_path):
    inputs = np.random.default_rng(3).integers(-128, 128, (5, 1), dtype=np.int8)
    np.savez(tmp_path / "test.npz", x=inputs, y=np.zeros(5))
    assert _run(LINEAR, tmp_path / "test.npz", tmp_path / "y.npy", "tflm") == 0
    assert np.load(tmp_path / "y.npy").shape[0] == 5


def test_run_refuses_an_npz_without_x(tmp_path, capsys):
    np.savez(tmp_path / "test.npz", a=np.zeros((2, 1), np.int8), b=np.zeros(2))
    _refused(tmp_path, capsys, LINEAR, tmp_path / "test.npz", "needs an array named 'x'")


def test_two_firmware_folders_share_one_runner_cache(tmp_path, monkeypatch):
    """A second checkout or installed copy builds its runners in the same user cache: each
    firmware folder gets its own CMake tree (CMake refuses a tree configured from another)."""
    import shutil

    from tinyml_pipeline.tools.compiler import host
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    model = TFLiteModel.from_file(MODELS_DIR / "linear" / "model.tflite")
    inputs = np.arange(-3, 3, dtype=np.int8).reshape(6, 1)
    cache = tmp_path / "cache"
    first = host.run_builtin(host.build_runner([("linear", model)], cache_dir=cache),
                             "linear", model, inputs)
    copy = tmp_path / "copy" / "firmware"
    shutil.copytree(host.FIRMWARE_DIR, copy, ignore=shutil.ignore_patterns("models"))
    # Another version of the sources (one more comment), built with the same flags.
    with open(copy / "CMakeLists.txt", "a", encoding="utf-8") as cmake:
        cmake.write("# the copy\n")
    monkeypatch.setattr(host, "FIRMWARE_DIR", copy)
    host._firmware_digest.cache_clear()
    try:
        second = host.run_builtin(host.build_runner([("linear", model)], cache_dir=cache),
                                  "linear", model, inputs)
    finally:
        host._firmware_digest.cache_clear()
    assert np.array_equal(first, second)
    assert len(list((cache / "cmake").iterdir())) == 2
