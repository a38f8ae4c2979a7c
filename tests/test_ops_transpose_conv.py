"""TRANSPOSE_CONV (int8): the built-in runtime gives TFLM's bytes for 200 schema-built models
(strides 1 to 3, SAME and VALID, kernels up to 5x5, per-channel and per-tensor weights, with and
without a bias, fused activations) and for converter-built ones (Conv2DTranspose)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.modelgen import Case, _schema, convert_cases
from tests.support.opbuild import (
    Operand,
    PerChannel,
    random_quantization,
    single_op_model,
)
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 4
PER_BATCH = 50


def _transpose_conv(rng, output_shape_override=None) -> tuple[str, bytes]:
    schema = _schema()
    in_h, in_w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    in_c, out_c = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    k_h, k_w = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride_h, stride_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = int(rng.integers(0, 2))  # 0 SAME, 1 VALID
    if padding == 0:
        out_h, out_w = in_h * stride_h, in_w * stride_w
    else:
        out_h, out_w = (in_h - 1) * stride_h + k_h, (in_w - 1) * stride_w + k_w
    output_shape = output_shape_override or (1, out_h, out_w, out_c)
    input_quantization = random_quantization(rng, 0.005, 0.1)
    per_channel = rng.random() < 0.7
    scales = tuple(float(np.float32(rng.uniform(0.002, 0.05)))
                   for _ in range(out_c if per_channel else 1))
    weights = rng.integers(-127, 128, (out_c, k_h, k_w, in_c), dtype=np.int8)
    options = schema.TransposeConvOptionsT()
    options.padding, options.strideH, options.strideW = padding, stride_h, stride_w
    options.fusedActivationFunction = int(rng.choice([0, 1, 3], p=[0.6, 0.2, 0.2]))
    # An output scale near what the sums need keeps the outputs off the clamps.
    typical = input_quantization.scale * max(scales) * 127 * np.sqrt(in_c * k_h * k_w) * 30
    output_quantization = random_quantization(rng, typical / 300, typical / 30)
    bias = None
    if rng.random() < 0.7:
        bias = Operand((out_c,), None, rng.integers(-5000, 5000, out_c, dtype=np.int32))
    operands = [Operand((4,), None, np.array(output_shape, np.int32)),
                Operand(weights.shape, PerChannel(scales), weights),
                Operand((1, in_h, in_w, in_c), input_quantization), bias]
    if bias is None and rng.random() < 0.5:
        operands = operands[:3]  # the bias left out rather than marked omitted
    text = (f"transpose conv in {(1, in_h, in_w, in_c)} filter {weights.shape} stride "
            f"{(stride_h, stride_w)} {'SAME' if padding == 0 else 'VALID'} act "
            f"{options.fusedActivationFunction} bias {bias is not None} per-channel {per_channel}")
    return text, single_op_model("TRANSPOSE_CONV", operands, output_shape, output_quantization,
                                 options)


@pytest.mark.parametrize("seed", range(BATCHES))
def test_transpose_conv_models_match_tflm(seed):
    rng = np.random.default_rng(9000 + seed)
    built = [_transpose_conv(rng) for _ in range(PER_BATCH)]
    failures = compare_models([TFLiteModel(data, text) for text, data in built],
                              [text for text, _ in built], seed)
    assert not failures, "\n".join(failures)


def test_converter_built_transpose_convs_match_tflm():
    import tensorflow as tf

    rng = np.random.default_rng(9100)
    cases = []
    for index in range(10):
        shape = (1, int(rng.integers(2, 7)), int(rng.integers(2, 7)), int(rng.integers(1, 5)))
        out_c = int(rng.integers(1, 5))
        kernel = rng.normal(size=(3, 3, out_c, shape[3]), scale=0.5).astype(np.float32)
        stride = int(rng.integers(1, 3))
        out_shape = [1, shape[1] * stride, shape[2] * stride, out_c]
        cases.append(Case(f"conv2d_transpose {shape} -> {out_shape} [{index}]", shape,
                          lambda x, k=kernel, o=out_shape, s=stride: tf.nn.conv2d_transpose(
                              x, k, o, s, "SAME")))
    models = [TFLiteModel(data, case.description)
              for case, data in zip(cases, convert_cases(cases, 0), strict=True)]
    assert all("TRANSPOSE_CONV" in model.op_names() for model in models), \
        [model.op_names() for model in models]
    failures = compare_models(models, [case.description for case in cases], 0)
    assert not failures, "\n".join(failures)


def test_an_output_shape_input_unlike_the_output_is_refused():
    rng = np.random.default_rng(9200)
    _, data = _transpose_conv(rng, output_shape_override=None)
    model = TFLiteModel(data, "ok.tflite")
    compile_plan(model)  # the consistent one converts
    schema = _schema()
    parsed = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    shape_buffer = parsed.buffers[parsed.subgraphs[0].tensors[0].buffer]
    values = np.frombuffer(bytes(bytearray(shape_buffer.data)), "<i4").copy()
    values[1] += 1
    shape_buffer.data = values.view(np.uint8).tolist()
    from tests.support.modelgen import pack

    with pytest.raises(CompileError, match=r"op #0 TRANSPOSE_CONV .*output shape input"):
        compile_plan(TFLiteModel(pack(parsed), "mismatch.tflite"))
