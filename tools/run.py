"""`tinyml run`: one batch of int8 (or, for a 16x8 model, int16) inputs through one backend,
outputs saved as .npy.

The backends are the built-in runtime compiled for this machine, TFLM's host interpreter and
LiteRT, so users can compare them on their own models.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import testset
from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BACKENDS = ("builtin", "tflm", "litert")


def load_inputs(path: Path, model: TFLiteModel) -> np.ndarray:
    """Reads X.npy, or the array `x` of an .npz (a test set's layout; its only array if it has
    one), and returns it as a batch shaped (N, *input_shape). The header's dtype and shape are
    checked before the data is read (tools/testset.py's limits)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"inputs not found: {path}")
    key = None
    if path.suffix == ".npz" or zipfile.is_zipfile(path):
        names = testset.npz_keys(path)
        if "x" not in names and len(names) != 1:
            raise InputError(f"{path}: an .npz needs an array named 'x' (it has: "
                             f"{', '.join(names) or 'none'})")
        key = "x" if "x" in names else names[0]
    shape, dtype = testset.array_header(path, key)
    expected = model.inputs[0].shape
    if not expected or expected[0] != 1:
        raise InputError(f"{model.source}: input shape {list(expected)} has no batch dimension "
                         f"of 1; `run` feeds one sample per invoke")
    takes = np.dtype(model.inputs[0].dtype)
    if dtype != takes:
        raise InputError(f"{path}: inputs are {dtype}, the model takes {takes} "
                         f"(quantize with scale {model.inputs[0].scale} and zero point "
                         f"{model.inputs[0].zero_point})")
    if shape == expected:
        return testset.read_array(path, key)[np.newaxis]
    if shape[1:] == expected or shape[1:] == expected[1:]:
        return testset.read_array(path, key).reshape((-1, *expected))
    raise InputError(f"{path}: inputs of shape {list(shape)} do not fit the model input "
                     f"{list(expected)} (give N samples as [N, ...])")


def run_backend(model: TFLiteModel, batch: np.ndarray, backend: str,
                cache_dir: Path | None = None) -> np.ndarray:
    """`cache_dir`: where the builtin backend's host builds are cached."""
    if backend == "builtin":
        from tinyml_pipeline.tools.compiler.host import build_runner, run_builtin

        runner = build_runner([("model", model)], cache_dir=cache_dir)
        return run_builtin(runner, "model", model, batch)
    if backend == "tflm":
        from tinyml_pipeline.tools.reference import TFLMRunner, native_stderr_silenced

        with native_stderr_silenced():
            runner = TFLMRunner(model, arena_size="generous")
    elif backend == "litert":
        from tinyml_pipeline.tools.reference import LiteRTRunner

        runner = LiteRTRunner(model)
    else:
        raise InputError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return np.stack([runner.invoke(sample[0]).reshape(model.outputs[0].shape)
                     for sample in batch])


def run_model(model_path: Path, inputs_path: Path, out_path: Path, backend: str,
              cache_dir: Path | None = None) -> np.ndarray:
    model = TFLiteModel.from_file(model_path)
    model.require_integer_io()
    batch = load_inputs(inputs_path, model)
    outputs = run_backend(model, batch, backend, cache_dir)
    stream = io.BytesIO()
    np.save(stream, outputs)
    atomic_write_bytes(out_path, stream.getvalue())
    return outputs
