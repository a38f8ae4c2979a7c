"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int8 with int32 bias, per-channel or
per-tensor weight scales, fused activation."""

from __future__ import annotations

import numpy as np

from tools.compiler.graph import OpView, Tensor
from tools.compiler.layers import Const, Layer, Null, Offset, Scratch
from tools.compiler.ops import lowering
from tools.compiler.ops.common import (
    fused_activation_range,
    nhwc,
    require_int8_activation,
    spatial_padding,
)
from tools.compiler.quantization import conv_channel_multipliers, fully_connected_tensor_multiplier

HEADER = "tinyml/op_conv.h"


def _filter(op: OpView, channels: int, channel_axis: int) -> tuple[Tensor, list[float]]:
    weights = op.input(1)
    op.require(weights is not None and weights.is_constant, "the filter must be constant")
    op.require_types(weights, "INT8")
    scales = list(weights.info.scales)
    op.require(len(scales) in (1, channels), f"filter has {len(scales)} scales for {channels} "
                                             f"output channels")
    if len(scales) > 1:
        op.require(weights.info.quantized_dimension == channel_axis,
                   f"filter is quantized along axis {weights.info.quantized_dimension}, "
                   f"expected {channel_axis}")
    op.require(all(z == 0 for z in weights.info.zero_points),
               "filter zero points must be 0 (symmetric int8 weights)")
    return weights, scales if len(scales) > 1 else scales * channels


def _bias(op: OpView, channels: int):
    bias = op.input(2)
    if bias is None:
        return Null()
    op.require(bias.is_constant, "the bias must be constant")
    op.require_types(bias, "INT32")
    op.require(bias.size == channels, f"bias has {bias.size} values for {channels} channels")
    return Const("int32_t", bias.data.reshape(-1).astype(np.int32), "bias")


def _requantization(multipliers, shifts) -> list[tuple[str, object]]:
    return [("multiplier", Const("int32_t", np.array(multipliers, np.int32), "multiplier")),
            ("shift", Const("int8_t", np.array(shifts, np.int8), "shift"))]


def _window_fields(op: OpView, in_hw, filter_hw, out_hw) -> list[tuple[str, object]]:
    """Strides, dilations and TFLM's padding of a convolution window."""
    options = op.options
    strides = (options.strideH, options.strideW)
    dilations = (options.dilationHFactor, options.dilationWFactor)
    pad_top, pad_left = spatial_padding(op, options.padding, in_hw, filter_hw, strides,
                                        dilations, out_hw)
    return [("stride_h", strides[0]), ("stride_w", strides[1]),
            ("dilation_h", dilations[0]), ("dilation_w", dilations[1]),
            ("pad_top", pad_top), ("pad_left", pad_left)]


def _output_stage_fields(op: OpView, source: Tensor, output: Tensor, weights: Tensor,
                         multipliers, shifts, channels: int) -> list[tuple[str, object]]:
    """Offsets, clamp bounds, weights, bias and requantization, in the order all three params
    structs declare them."""
    act_min, act_max = fused_activation_range(op, op.options.fusedActivationFunction, output)
    return [("input_offset", -source.zero_point), ("output_offset", output.zero_point),
            ("act_min", act_min), ("act_max", act_max),
            ("filter", Const("int8_t", weights.data.reshape(-1), "filter")),
            ("bias", _bias(op, channels)), *_requantization(multipliers, shifts)]


@lowering("CONV_2D")
def lower_conv2d(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    batches, in_h, in_w, in_c = nhwc(op, source, "input")
    _, out_h, out_w, out_c = nhwc(op, output, "output")
    weights, filter_scales = _filter(op, out_c, 0)
    op.require(len(weights.shape) == 4 and weights.shape[0] == out_c,
               f"filter shape {list(weights.shape)} does not match {out_c} output channels")
    _, filter_h, filter_w, filter_c = weights.shape
    op.require(in_c % filter_c == 0 and out_c % (in_c // filter_c) == 0,
               f"{in_c} input channels do not split into groups of {filter_c}")
    multipliers, shifts = conv_channel_multipliers(source.scale, filter_scales, output.scale)
    # The DSP kernel's im2col: two int16 columns of K = filter_h * filter_w * filter_c values,
    # each rounded up to an even count (word-aligned second column): 4 * (K + K % 2) bytes.
    # Requested for every build, so that the plan does not depend on the target.
    column = filter_h * filter_w * filter_c
    scratch_bytes = 2 * 2 * (column + column % 2)
    return Layer(
        op="CONV_2D", op_index=op.index, kernel="tinyml_conv2d_s8",
        params_type="tinyml_conv2d_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("scratch", Scratch()),
                ("batches", batches), ("input_h", in_h), ("input_w", in_w), ("input_c", in_c),
                ("output_h", out_h), ("output_w", out_w), ("output_c", out_c),
                ("filter_h", filter_h), ("filter_w", filter_w), ("filter_c", filter_c),
                *_window_fields(op, (in_h, in_w), (filter_h, filter_w), (out_h, out_w)),
                *_output_stage_fields(op, source, output, weights, multipliers, shifts, out_c)],
        reads=(source.index,), writes=(output.index,), scratch_bytes=scratch_bytes)


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    batches, in_h, in_w, in_c = nhwc(op, source, "input")
    _, out_h, out_w, out_c = nhwc(op, output, "output")
    weights, filter_scales = _filter(op, out_c, 3)
    op.require(len(weights.shape) == 4 and weights.shape[0] == 1 and weights.shape[3] == out_c,
               f"filter shape {list(weights.shape)} is not [1, h, w, {out_c}]")
    op.require(out_c % in_c == 0, f"{out_c} output channels are not a multiple of {in_c}")
    multiplier = out_c // in_c
    options = op.options
    op.require(options.depthMultiplier in (0, multiplier),
               f"depth_multiplier {options.depthMultiplier} disagrees with the shapes "
               f"({in_c} -> {out_c} channels)")
    _, filter_h, filter_w, _ = weights.shape
    multipliers, shifts = conv_channel_multipliers(source.scale, filter_scales, output.scale)
    return Layer(
        op="DEPTHWISE_CONV_2D", op_index=op.index, kernel="tinyml_depthwise_conv2d_s8",
        params_type="tinyml_depthwise_conv2d_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("batches", batches), ("input_h", in_h), ("input_w", in_w), ("input_c", in_c),
                ("output_h", out_h), ("output_w", out_w), ("output_c", out_c),
                ("filter_h", filter_h), ("filter_w", filter_w), ("depth_multiplier", multiplier),
                *_window_fields(op, (in_h, in_w), (filter_h, filter_w), (out_h, out_w)),
                *_output_stage_fields(op, source, output, weights, multipliers, shifts, out_c)],
        reads=(source.index,), writes=(output.index,))


@lowering("FULLY_CONNECTED")
def lower_fully_connected(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    options = op.options
    op.require(options.weightsFormat == 0, "shuffled weights are not supported")
    weights = op.input(1)
    op.require(weights is not None and len(weights.shape) == 2,
               "the filter must be a 2-D [units, depth] tensor")
    units, depth = weights.shape
    out_c = output.shape[-1] if output.shape else 1
    op.require(out_c == units, f"output depth {out_c} does not match {units} filter rows")
    weights, filter_scales = _filter(op, units, 0)
    batches = output.size // units
    op.require(source.size == batches * depth,
               f"input of {source.size} values is not {batches} rows of {depth}")
    if len(weights.info.scales) > 1:
        multipliers, shifts = conv_channel_multipliers(source.scale, filter_scales,
                                                       output.scale)
    else:
        significand, shift = fully_connected_tensor_multiplier(source.scale, filter_scales[0],
                                                               output.scale)
        multipliers, shifts = [significand] * units, [shift] * units
    return Layer(
        op="FULLY_CONNECTED", op_index=op.index, kernel="tinyml_fully_connected_s8",
        params_type="tinyml_fully_connected_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("batches", batches), ("accum_depth", depth), ("output_depth", units),
                *_output_stage_fields(op, source, output, weights, multipliers, shifts, units)],
        reads=(source.index,), writes=(output.index,))
