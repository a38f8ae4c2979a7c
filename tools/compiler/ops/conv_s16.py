"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int16 activations and int8 weights
(16x8): symmetric activations, int64 or int32 bias, per-channel or per-tensor weight scales,
fused activation clamped to int16."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Null, Offset
from tinyml_pipeline.tools.compiler.ops import lowering_s16
from tinyml_pipeline.tools.compiler.ops.common import (
    require_shape,
    require_shifts,
)
from tinyml_pipeline.tools.compiler.ops.common_s16 import (
    fused_activation_range_s16,
    require_int16_activation,
)
from tinyml_pipeline.tools.compiler.ops.conv import (
    conv_operands,
    fully_connected_operands,
)

HEADER = "tinyml/op_conv_s16.h"
TENSOR_TYPE_INT32 = 2  # schema TensorType.INT32, as an options' quantized_bias_type
MAX_INPUT = 1 << 15  # the largest |int16 input|
# TFLM's int64 requantization asserts |acc| < 2^47 and a shift below 8 (15 - shift is its
# rounding shift); the int32 one must not see a wrapped sum.
WIDE_LIMIT, NARROW_LIMIT = 1 << 47, 1 << 31
WIDE_MAX_SHIFT = 7


def _output_stage(op: OpView, activation: int, output, multipliers, shifts, channels: int,
                  channel_weights: np.ndarray, narrow_without_bias: bool,
                  int32_bias_ok: bool = True) -> list[tuple[str, object]]:
    """act_min, act_max, wide, bias, multiplier, shift (TINYML_OUTPUT_STAGE_S16_FIELDS).

    TFLM accumulates in the bias's type: int64 (and requantizes with its int64 rounding) or
    int32; without a bias, in int32 only when the options' quantized_bias_type asks for it
    (`narrow_without_bias`)."""
    act_min, act_max = fused_activation_range_s16(op, activation, output)
    bias = op.input(2)
    if bias is None:
        values, wide = None, not narrow_without_bias
    else:
        op.require(bias.is_constant, "the bias must be constant")
        op.require_types(bias, "INT64", "INT32")
        op.require(bias.type_name == "INT64" or int32_bias_ok,
                   "an int32 bias is read as int64 by TFLM's 16x8 kernel here; only int64 is "
                   "supported")
        require_shape(op, bias, "bias")
        op.require(bias.size == channels, f"bias size {bias.size} is not the {channels} "
                                          f"output channels")
        values, wide = bias.data.reshape(-1).astype(np.int64), bias.type_name == "INT64"
    limit = WIDE_LIMIT if wide else NARROW_LIMIT
    sums = np.abs(np.asarray(channel_weights, np.int64)).sum(axis=1)
    for channel in range(channels):
        channel_bias = 0 if values is None else int(values[channel])
        bound = abs(channel_bias) + MAX_INPUT * int(sums[channel])
        what = "int64 requantization" if wide else "int32 accumulator"
        op.require(bound < limit, f"bias {channel_bias} of channel {channel} with its weights "
                                  f"can overflow the {what} (bound {bound} >= "
                                  f"2^{limit.bit_length() - 1})")
    require_shifts(op, "requantization", multipliers, shifts,
                   max_shift=WIDE_MAX_SHIFT if wide else 30)
    return [("act_min", act_min), ("act_max", act_max), ("wide", int(wide)),
            ("bias", Null() if values is None else Const("int64_t", values, "bias")),
            ("multiplier", Const("int32_t", np.array(multipliers, np.int32), "multiplier")),
            ("shift", Const("int8_t", np.array(shifts, np.int8), "shift"))]


def _narrow_without_bias(options) -> bool:
    return getattr(options, "quantizedBiasType", 0) == TENSOR_TYPE_INT32


def _lower_conv_s16(op: OpView, depthwise: bool) -> Layer:
    options, source, output, geometry = conv_operands(
        op, depthwise, require_activation=require_int16_activation)
    weights, out_c = geometry.weights, geometry.out_c
    kernel = "depthwise_conv2d_s16" if depthwise else "conv2d_s16"
    if depthwise:
        # TFLM's 16x8 depthwise kernel always takes an int64 bias and accumulator.
        stage = _output_stage(op, options.fusedActivationFunction, output, geometry.multipliers,
                              geometry.shifts, out_c, weights.data.reshape(-1, out_c).T,
                              narrow_without_bias=False, int32_bias_ok=False)
    else:
        stage = _output_stage(op, options.fusedActivationFunction, output, geometry.multipliers,
                              geometry.shifts, out_c, weights.data.reshape(out_c, -1),
                              _narrow_without_bias(options))
    return Layer(
        op=op.name, op_index=op.index, kernel=f"tinyml_{kernel}",
        params_type=f"tinyml_{kernel}_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                *geometry.shape_fields(), *geometry.window,
                ("filter", Const("int8_t", weights.data.reshape(-1), "filter")), *stage],
        reads=(source.index,), writes=(output.index,))


@lowering_s16("CONV_2D")
def lower_conv2d_s16(op: OpView) -> Layer:
    return _lower_conv_s16(op, depthwise=False)


@lowering_s16("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d_s16(op: OpView) -> Layer:
    return _lower_conv_s16(op, depthwise=True)


@lowering_s16("FULLY_CONNECTED")
def lower_fully_connected_s16(op: OpView) -> Layer:
    fc = fully_connected_operands(op, require_int16_activation)
    options, activation, source, output = fc.options, fc.activation, fc.source, fc.output
    weights, units, depth = fc.weights, fc.units, fc.depth
    multipliers, shifts = fc.multipliers, fc.shifts
    return Layer(
        op="FULLY_CONNECTED", op_index=op.index, kernel="tinyml_fully_connected_s16",
        params_type="tinyml_fully_connected_s16_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("batches", source.size // depth), ("accum_depth", depth),
                ("output_depth", units),
                ("filter", Const("int8_t", weights.data.reshape(-1), "filter")),
                *_output_stage(op, activation, output, multipliers, shifts, units,
                               weights.data.reshape(units, depth),
                               options is not None and _narrow_without_bias(options))],
        reads=(source.index,), writes=(output.index,))
