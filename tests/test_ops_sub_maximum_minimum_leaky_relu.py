"""SUB, MAXIMUM, MINIMUM and LEAKY_RELU (int8): the built-in runtime gives TFLM's bytes.

Most models are written directly with the schema (tests/support/opbuild.py), with random scales,
zero points, broadcasting shapes, fused activations and alphas, 200 per op; a batch of
converter-built models checks the forms the TFLite converter emits (tf.subtract with a fused
activation, tf.maximum and tf.minimum against constants, tf.nn.leaky_relu)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.modelgen import Case, _schema, convert_cases
from tests.support.opbuild import (
    Operand,
    broadcast_pair,
    random_quantization,
    single_op_model,
)
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 4
PER_BATCH = 50  # 200 models per op
ALPHAS = (0.0, 0.01, 0.1, 0.2, 0.3, 0.5, 0.9, 1.0, 1.7)


def _binary(rng, op: str, index: int) -> tuple[str, bytes]:
    schema = _schema()
    first, second, output_shape = broadcast_pair(rng)
    constant = rng.integers(-128, 128, second, dtype=np.int8)
    if op == "SUB":
        options = schema.SubOptionsT()
        options.fusedActivationFunction = int(rng.choice([0, 1, 2, 3], p=[0.4, 0.2, 0.2, 0.2]))
        quantizations = [random_quantization(rng) for _ in range(3)]
        if options.fusedActivationFunction:
            # A fused activation needs its clamp inside the output's range: an output scale
            # of at least 1/64 keeps 6.0 and -1..1 representable.
            quantizations[2] = random_quantization(rng, low=1.0 / 64, high=1.0)
        description = f"SUB act {options.fusedActivationFunction}"
    else:
        options = None
        shared = random_quantization(rng)
        # Mostly one quantization, as the converter writes; sometimes three, which TFLM
        # still compares byte by byte.
        quantizations = ([shared] * 3 if rng.random() < 0.8
                         else [random_quantization(rng) for _ in range(3)])
        description = op
    model = single_op_model(op, [Operand(first, quantizations[0]),
                                 Operand(second, quantizations[1], constant)],
                            output_shape, quantizations[2], options)
    return f"{description} {first} with {second} -> {output_shape} [{index}]", model


def _leaky_relu(rng, index: int) -> tuple[str, bytes]:
    options = _schema().LeakyReluOptionsT()
    options.alpha = float(rng.choice(ALPHAS))
    shape = tuple([1] + [int(rng.integers(1, 7)) for _ in range(int(rng.integers(0, 4)))])
    model = single_op_model("LEAKY_RELU", [Operand(shape, random_quantization(rng))], shape,
                            random_quantization(rng), options)
    return f"LEAKY_RELU alpha {options.alpha} {shape} [{index}]", model


def _compare(built: list[tuple[str, bytes]], seed: int, dsp: bool = False) -> None:
    """With dsp, also through the DSP kernels emulated on the host (SUB's output stage)."""
    models = [TFLiteModel(data, description) for description, data in built]
    for flags in [(), ("-DTINYML_EMULATE_DSP",)] if dsp else [()]:
        failures = compare_models(models, [description for description, _ in built], seed,
                                  extra_flags=flags)
        assert not failures, f"build flags {flags}:\n" + "\n".join(failures)


@pytest.mark.parametrize("op", ["SUB", "MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("seed", range(BATCHES))
def test_binary_models_match_tflm(op, seed):
    rng = np.random.default_rng({"SUB": 8000, "MAXIMUM": 8100, "MINIMUM": 8200}[op] + seed)
    _compare([_binary(rng, op, index) for index in range(PER_BATCH)], seed, dsp=op == "SUB")


@pytest.mark.parametrize("seed", range(BATCHES))
def test_leaky_relu_models_match_tflm(seed):
    rng = np.random.default_rng(8300 + seed)
    _compare([_leaky_relu(rng, index) for index in range(PER_BATCH)], seed)


def _converter_cases(rng) -> list[tuple[Case, str]]:
    import tensorflow as tf

    cases = []
    for index in range(40):
        shape = (1, int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 5)))
        # Within the input's (-1, 1): relu(x - c) keeps a range (one collapsed to a point is
        # a model TFLM cannot prepare).
        value = rng.uniform(-0.5, 0.5, size=(shape[-1],)).astype(np.float32)
        kind = ("SUB", "MAXIMUM", "MINIMUM", "LEAKY_RELU")[index % 4]
        if kind == "SUB":
            cases.append((Case(f"relu(x - c) {shape}", shape,
                               lambda x, c=value: tf.nn.relu(tf.subtract(x, c))), kind))
        elif kind == "MAXIMUM":
            cases.append((Case(f"maximum(x, c) {shape}", shape,
                               lambda x, c=value: tf.maximum(x, c)), kind))
        elif kind == "MINIMUM":
            cases.append((Case(f"minimum(x, c) {shape}", shape,
                               lambda x, c=value: tf.minimum(x, c)), kind))
        else:
            alpha = float(rng.choice([0.1, 0.2, 0.3]))
            cases.append((Case(f"leaky_relu(x, {alpha}) {shape}", shape,
                               lambda x, a=alpha: tf.nn.leaky_relu(x, a)), kind))
    return cases


def test_converter_built_models_match_tflm():
    rng = np.random.default_rng(8400)
    cases = _converter_cases(rng)
    models = [TFLiteModel(data, f"converter case {index}") for index, data in
              enumerate(convert_cases([case for case, _ in cases], 0, calibration_samples=48))]
    missing = [f"{case.description}: {model.op_names()}"
               for (case, op), model in zip(cases, models, strict=True)
               if op not in model.op_names()]
    assert not missing, "the converter did not emit the op under test:\n" + "\n".join(missing)
    fused = [model for (_, op), model in zip(cases, models, strict=True) if op == "SUB"]
    assert all(m.operators[-1].name == "SUB"
               and m.operators[-1].options.fusedActivationFunction == 1 for m in fused)
    failures = compare_models(models, [case.description for case, _ in cases], 0)
    assert not failures, "\n".join(failures)


def test_a_negative_alpha_is_refused_naming_it():
    options = _schema().LeakyReluOptionsT()
    options.alpha = -0.5
    quantization = random_quantization(np.random.default_rng(0))
    model = TFLiteModel(single_op_model("LEAKY_RELU", [Operand((1, 4), quantization)], (1, 4),
                                        quantization, options), "negative.tflite")
    with pytest.raises(CompileError, match=r"op #0 LEAKY_RELU .*alpha -0.5"):
        compile_plan(model)


def test_shapes_that_do_not_broadcast_are_refused():
    quantization = random_quantization(np.random.default_rng(1))
    model = TFLiteModel(single_op_model(
        "MAXIMUM", [Operand((1, 4), quantization),
                    Operand((3,), quantization, np.zeros(3, np.int8))], (1, 4), quantization),
        "mismatch.tflite")
    with pytest.raises(CompileError, match=r"op #0 MAXIMUM .*do not broadcast"):
        compile_plan(model)
