"""Runs randomized models through the built-in runtime and through TFLM and compares bytes.

A mismatch is reported with the case's description, its seed and index, and the paths where
the offending .tflite and input were saved, so the failure reproduces outside the test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.modelgen import Case, convert_cases
from tinyml_pipeline.tools.compiler.host import build_runner, run_builtin
from tinyml_pipeline.tools.console import native_stderr_silenced
from tinyml_pipeline.tools.reference import TFLMRunner
from tinyml_pipeline.tools.tflite_model import TFLiteModel

REPO_ROOT = Path(__file__).resolve().parents[2]
FAILURE_DIR = REPO_ROOT / "build" / "op-failures"


def compare_models(models: list[TFLiteModel], descriptions: list[str], seed: int,
                   samples: int = 3, extra_flags: tuple[str, ...] = ()) -> list[str]:
    """Returns one line per model whose builtin output differs from TFLM's (empty: all equal)."""
    named = [(f"case{index}", model) for index, model in enumerate(models)]
    runner = build_runner(named, extra_flags)
    rng = np.random.default_rng(seed)
    failures = []
    for (name, model), description in zip(named, descriptions, strict=True):
        inputs = random_inputs(rng, model, samples)
        builtin = run_builtin(runner, name, model, inputs)
        with native_stderr_silenced():
            tflm_runner = TFLMRunner(model, arena_size="generous")
        expected = np.stack([tflm_runner.invoke(sample[0]).reshape(model.outputs[0].shape)
                             for sample in inputs])
        if not np.array_equal(builtin, expected):
            failures.append(_report(model, description, seed, name, inputs, builtin, expected))
    return failures


def random_inputs(rng: np.random.Generator, model: TFLiteModel, samples: int) -> np.ndarray:
    """`samples` inputs spread over the input type's whole range (int8 or int16), or, for a
    float32 input, over +-4 times 2^-k for k up to 12 (so that quantizing meets every rounding
    and saturation)."""
    info = model.inputs[0]
    if info.type_name == "INT16":
        return rng.integers(-32768, 32768, size=(samples, *info.shape), dtype=np.int16)
    if info.type_name == "FLOAT32":
        magnitudes = 2.0 ** -rng.integers(-2, 13, size=(samples, *info.shape))
        return (rng.uniform(-1, 1, size=(samples, *info.shape)) * magnitudes).astype(np.float32)
    return rng.integers(-128, 128, size=(samples, *info.shape), dtype=np.int8)


def check_cases(cases: list[Case], seed: int, samples: int = 3) -> list[str]:
    models = [TFLiteModel(data, f"seed {seed} case {index}")
              for index, data in enumerate(convert_cases(cases, seed))]
    return compare_models(models, [case.description for case in cases], seed, samples)


def _report(model: TFLiteModel, description: str, seed: int, name: str, inputs, builtin,
            expected) -> str:
    FAILURE_DIR.mkdir(parents=True, exist_ok=True)
    stem = FAILURE_DIR / f"seed{seed}_{name}"
    stem.with_suffix(".tflite").write_bytes(model.data)
    np.save(stem.with_suffix(".npy"), inputs)
    where = np.argwhere(builtin.astype(np.int32) != expected.astype(np.int32))
    first = tuple(int(i) for i in where[0])
    return (f"{description} [seed {seed}, {name}, ops {model.op_names()}]: "
            f"{len(where)} of {expected.size} bytes differ, first at {first}: builtin "
            f"{int(builtin[first])} vs tflm {int(expected[first])}; model and inputs saved as "
            f"{stem}.tflite / .npy")
