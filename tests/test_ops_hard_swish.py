"""HARD_SWISH (int8): the built-in runtime gives TFLM's bytes for 200 schema-built models with
random input and output quantizations and for converter-built ones (x * relu6(x + 3) / 6,
which the TFLite converter fuses into one HARD_SWISH)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.modelgen import Case, convert_cases
from tests.support.opbuild import Operand, Quantization, random_quantization, single_op_model
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.ops.activations import downscale_to_int16
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 4
PER_BATCH = 50


def _model(shape, input_quantization, output_quantization) -> bytes:
    return single_op_model("HARD_SWISH", [Operand(shape, input_quantization)], shape,
                           output_quantization)


@pytest.mark.parametrize("seed", range(BATCHES))
def test_hard_swish_models_match_tflm(seed):
    rng = np.random.default_rng(8800 + seed)
    built = []
    while len(built) < PER_BATCH:
        shape = tuple([1] + [int(rng.integers(1, 7)) for _ in range(int(rng.integers(0, 4)))])
        input_quantization = random_quantization(rng, 1e-3, 0.2)
        # The output scale within what TFLM's Prepare accepts: at least input scale / 128.
        output_quantization = random_quantization(rng, input_quantization.scale / 100, 0.2)
        text = f"HARD_SWISH {shape} in {input_quantization} out {output_quantization}"
        built.append((text, _model(shape, input_quantization, output_quantization)))
    failures = compare_models([TFLiteModel(data, text) for text, data in built],
                              [text for text, _ in built], seed)
    assert not failures, "\n".join(failures)


def test_converter_built_hard_swish_matches_tflm():
    import tensorflow as tf

    rng = np.random.default_rng(8900)
    cases = []
    for index in range(12):
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5)))
        low = float(rng.uniform(-6.0, -0.5))
        cases.append(Case(f"hard swish {shape} [{index}]", shape,
                          lambda x: x * tf.nn.relu6(x + 3.0) / 6.0, (low, -low * 1.5)))
    models = [TFLiteModel(data, case.description)
              for case, data in zip(cases, convert_cases(cases, 0), strict=True)]
    assert all(model.op_names() == ["HARD_SWISH"] for model in models), \
        [model.op_names() for model in models]
    failures = compare_models(models, [case.description for case in cases], 0)
    assert not failures, "\n".join(failures)


def test_the_int16_multiplier_is_the_rounded_top_half():
    assert downscale_to_int16(1 << 30) == 1 << 14
    assert downscale_to_int16((1 << 30) + (1 << 15)) == (1 << 14) + 1  # half rounds up
    assert downscale_to_int16((1 << 31) - 1) == (1 << 15) - 1  # saturates


def test_an_output_scale_too_fine_for_tflm_is_refused():
    data = _model((1, 4), Quantization(0.5, 0), Quantization(0.5 / 1000, 0))
    with pytest.raises(CompileError, match=r"op #0 HARD_SWISH .*output exponent 3 outside"):
        compile_plan(TFLiteModel(data, "fine.tflite"))
