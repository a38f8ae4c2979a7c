"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: int8 with int32 bias, per-channel or
per-tensor weight scales, fused activation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Null, Offset, Scratch
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    fused_activation_range,
    nhwc,
    requantization,
    require_accumulator_bound,
    require_int8_activation,
    require_shape,
    require_shifts,
    spatial_padding,
)
from tinyml_pipeline.tools.compiler.ops.conv_filter import (
    conv_filter_layout,
    conv_filter_values,
    conv_filter_wide,
)
from tinyml_pipeline.tools.compiler.ops.fully_connected_packed import fully_connected_packed
from tinyml_pipeline.tools.compiler.ops.widening_budget import conv_filter_widened, packed_fits
from tinyml_pipeline.tools.compiler.quantization import (
    conv_channel_multipliers,
    fully_connected_tensor_multiplier,
)

HEADER = "tinyml/op_conv.h"


def filter_operand(op: OpView, channels: int, channel_axis: int, rank: int
            ) -> tuple[Tensor, list[float]]:
    weights = op.input(1)
    op.require(weights is not None and weights.is_constant, "the filter must be constant")
    op.require_types(weights, "INT8")
    require_shape(op, weights, "filter", rank=rank)
    scales = list(weights.info.scales)
    op.require(len(scales) in (1, channels), f"filter has {len(scales)} scales for {channels} "
                                             f"output channels")
    for scale in scales:
        op.require(math.isfinite(scale) and scale > 0,
                   f"filter scale {scale} is not a finite positive number")
    if len(scales) > 1:
        op.require(weights.info.quantized_dimension == channel_axis,
                   f"filter is quantized along axis {weights.info.quantized_dimension}, "
                   f"expected {channel_axis}")
    op.require(all(z == 0 for z in weights.info.zero_points),
               "filter zero points must be 0 (symmetric int8 weights)")
    return weights, scales if len(scales) > 1 else scales * channels


def bias_operand(op: OpView, channels: int, position: int = 2):
    """The optional int32 bias at input `position` (3 for TRANSPOSE_CONV)."""
    bias = op.input(position)
    if bias is None:
        return Null()
    op.require(bias.is_constant, "the bias must be constant")
    op.require_types(bias, "INT32")
    require_shape(op, bias, "bias")
    op.require(bias.size == channels, f"bias size {bias.size} is not the {channels} output "
                                      f"channels")
    return Const("int32_t", bias.data.reshape(-1).astype(np.int32), "bias")


def requantization_fields(op: OpView, multipliers, shifts) -> list[tuple[str, object]]:
    require_shifts(op, "requantization", multipliers, shifts)
    return [("multiplier", Const("int32_t", np.array(multipliers, np.int32), "multiplier")),
            ("shift", Const("int8_t", np.array(shifts, np.int8), "shift"))]


# The largest |input + input_offset| of an int8 input: offsets run from -127 to 128.
_MAX_OFFSET_INPUT = 255
_INT32_LIMIT = 1 << 31


def output_stage_table(channel_weights: np.ndarray, bias, multipliers, shifts,
                       output_offset: int, folded_input_offset: int | None = None
                       ) -> np.ndarray | None:
    """The DSP kernels' fast output stage (tinyml_output_stage_fast in op_conv.h), per output
    channel {start, 2 * multiplier - 2^32, 2^(s-1) + output_offset * 2^s, s} with s = -shift,
    flattened; None when it would not give the general requantization's bytes for every input.

    `channel_weights` is [channels, values]. `start` seeds the accumulator: the bias, plus
    `folded_input_offset` times the channel's weight sum when the kernel leaves the input offset
    out of its products (FULLY_CONNECTED). The kernel computes y = round(acc * multiplier / 2^31)
    exactly for any int32 acc; what must not overflow int32 is y + rounding, so the table is only
    emitted when the accumulator's bound, |bias| + 255 * sum |w|, keeps that sum in range (and
    keeps the reference's own int32 accumulator from wrapping). Multipliers below 2^30 (a zero
    scale) and shifts >= 0 (a scale >= 0.5, no right shift to round) take the general path."""
    channel_weights = np.asarray(channel_weights, dtype=np.int64)
    rows = []
    for channel, (multiplier, shift) in enumerate(zip(multipliers, shifts, strict=True)):
        multiplier, shift = int(multiplier), int(shift)
        if multiplier < (1 << 30) or shift >= 0:
            return None
        right = -shift
        rounding = (1 << (right - 1)) + output_offset * (1 << right)
        channel_bias = 0 if bias is None else int(bias[channel])
        weights = channel_weights[channel]
        bound = abs(channel_bias) + _MAX_OFFSET_INPUT * int(np.abs(weights).sum())
        high_bound = bound * multiplier // _INT32_LIMIT + 1  # |round(acc * M / 2^31)|
        if bound >= _INT32_LIMIT or high_bound + abs(rounding) + 1 >= _INT32_LIMIT:
            return None
        start = channel_bias
        if folded_input_offset is not None:
            start += folded_input_offset * int(weights.sum())
        rows.append((start, 2 * multiplier - (1 << 32), rounding, right))
    return np.array(rows, dtype=np.int64).astype(np.int32).reshape(-1)


def _window_fields(op: OpView, options, in_hw, filter_hw, out_hw, in_c: int
                   ) -> list[tuple[str, object]]:
    """Strides, dilations and TFLM's padding of a convolution window."""
    strides = (options.strideH, options.strideW)
    dilations = (options.dilationHFactor, options.dilationWFactor)
    pad_top, pad_left = spatial_padding(op, options.padding, in_hw, filter_hw, strides,
                                        dilations, out_hw, (in_hw[1] * in_c, in_c))
    return [("stride_h", strides[0]), ("stride_w", strides[1]),
            ("dilation_h", dilations[0]), ("dilation_w", dilations[1]),
            ("pad_top", pad_top), ("pad_left", pad_left)]


def _output_stage_fields(op: OpView, activation: int, source: Tensor, output: Tensor,
                         filter_values: np.ndarray, multipliers, shifts, channels: int,
                         channel_weights: np.ndarray, fold_input_offset: bool = False
                         ) -> list[tuple[str, object]]:
    """Offsets, clamp bounds, the filter (as the kernel reads it), bias, requantization and the
    fast output stage, in the order all three params structs declare them."""
    act_min, act_max = fused_activation_range(op, activation, output)
    bias = bias_operand(op, channels)
    require_accumulator_bound(op, None if isinstance(bias, Null) else bias.values,
                              channel_weights)
    table = output_stage_table(
        channel_weights, None if isinstance(bias, Null) else bias.values, multipliers, shifts,
        output.zero_point, -source.zero_point if fold_input_offset else None)
    return [("input_offset", -source.zero_point), ("output_offset", output.zero_point),
            ("act_min", act_min), ("act_max", act_max),
            ("filter", Const("int8_t", filter_values.reshape(-1), "filter")),
            ("bias", bias), *requantization_fields(op, multipliers, shifts),
            ("output_stage", Null() if table is None else Const("int32_t", table,
                                                                "output_stage"))]


def conv_pointwise8_packed(wide: np.ndarray, output_stage: np.ndarray) -> np.ndarray:
    """The DSP kernel's stream for a 1x1 CONV_2D over 8 input channels (op_conv2d_asm.h,
    conv_pointwise8_asm), int32 words in the order it reads them: per filter its 4 widened words
    (conv_filter_wide) then its output_stage_table row (start, 2M - 2^32, rounding, shift), so
    that one pointer walks the filters. The last filter's shift word also has bit 8 set, which
    ends the kernel's loop over the filters: ASR by a register reads only its low byte."""
    stage = np.asarray(output_stage, np.int64).reshape(-1, 4).copy()
    stage[-1, 3] |= 1 << 8
    words = np.concatenate([np.asarray(wide, np.int64).reshape(len(stage), 4), stage], axis=1)
    return words.reshape(-1).astype(np.int32)


def _pointwise8_fields(geometry: ConvGeometry, depth: int, fields: list) -> list:
    """`packed`: conv_pointwise8_packed where the DSP kernel takes that path (1x1 over 8
    channels, stride 1, the widened filter, the fast output table with the full int8 range,
    output channels a multiple of 4), costing 32 more bytes of flash a filter; Null
    otherwise."""
    named = dict(fields)
    window = dict(geometry.window)
    if (geometry.filter_h, geometry.filter_w, geometry.filter_c, geometry.in_c, depth) == \
            (1, 1, 8, 8, 8) and (window["stride_h"], window["stride_w"]) == (1, 1) and \
            isinstance(named["filter_wide"], Const) and \
            isinstance(named["output_stage"], Const) and \
            (named["act_min"], named["act_max"]) == (-128, 127) and geometry.out_c % 4 == 0:
        return [("packed", Const("int32_t", conv_pointwise8_packed(
            named["filter_wide"].values, named["output_stage"].values), "filter"))]
    return [("packed", Null())]


def _require_batch(op: OpView, batches: int, out_batches: int) -> None:
    op.require(out_batches == batches,
               f"output batch {out_batches} is not the input batch {batches}")


@dataclass(frozen=True)
class ConvGeometry:
    """A CONV_2D's or DEPTHWISE_CONV_2D's checked shapes, filter, per-channel requantization
    and window: what the int8 and int16 lowerings share (their activation types, output stages
    and kernels differ). Exactly one of filter_c (CONV_2D) and depth_multiplier is set."""
    batches: int
    in_h: int
    in_w: int
    in_c: int
    out_h: int
    out_w: int
    out_c: int
    filter_h: int
    filter_w: int
    filter_c: int | None
    depth_multiplier: int | None
    weights: Tensor
    multipliers: list
    shifts: list
    window: list[tuple[str, object]]

    def shape_fields(self) -> list[tuple[str, object]]:
        """batches .. filter_c or depth_multiplier, in the order every conv params struct
        declares them."""
        last = (("filter_c", self.filter_c) if self.depth_multiplier is None
                else ("depth_multiplier", self.depth_multiplier))
        return [("batches", self.batches), ("input_h", self.in_h), ("input_w", self.in_w),
                ("input_c", self.in_c), ("output_h", self.out_h), ("output_w", self.out_w),
                ("output_c", self.out_c), ("filter_h", self.filter_h),
                ("filter_w", self.filter_w), last]


def conv_operands(op: OpView, depthwise: bool, require_activation
                  ) -> tuple[object, Tensor, Tensor, ConvGeometry]:
    """A CONV_2D's (or, `depthwise`, a DEPTHWISE_CONV_2D's) options, input and output, their
    types checked by `require_activation` (int8 or int16), and its geometry."""
    options = op.options_of("DepthwiseConv2DOptionsT" if depthwise else "Conv2DOptionsT")
    source, output = op.input(0), op.output()
    require_activation(op, source, "input")
    require_activation(op, output, "output")
    return options, source, output, conv_geometry(op, options, source, output, depthwise)


def conv_geometry(op: OpView, options, source: Tensor, output: Tensor,
                  depthwise: bool) -> ConvGeometry:
    """Checks a CONV_2D's (or, `depthwise`, a DEPTHWISE_CONV_2D's) input, output and filter
    shapes against each other and derives its requantization and window."""
    batches, in_h, in_w, in_c = nhwc(op, source, "input")
    out_batches, out_h, out_w, out_c = nhwc(op, output, "output")
    _require_batch(op, batches, out_batches)
    filter_c = depth_multiplier = None
    if depthwise:
        weights, filter_scales = filter_operand(op, out_c, 3, rank=4)
        op.require(weights.shape[0] == 1 and weights.shape[3] == out_c,
                   f"filter shape {list(weights.shape)} is not [1, h, w, {out_c}]")
        op.require(out_c % in_c == 0, f"output channels {out_c} are not a multiple of the "
                                      f"input channels {in_c}")
        depth_multiplier = out_c // in_c
        op.require(options.depthMultiplier in (0, depth_multiplier),
                   f"depth_multiplier {options.depthMultiplier} disagrees with the shapes "
                   f"({in_c} -> {out_c} channels)")
        _, filter_h, filter_w, _ = weights.shape
    else:
        weights, filter_scales = filter_operand(op, out_c, 0, rank=4)
        op.require(weights.shape[0] == out_c,
                   f"filter output channels {weights.shape[0]} (shape {list(weights.shape)}) "
                   f"are not the output's {out_c}")
        _, filter_h, filter_w, filter_c = weights.shape
        op.require(in_c % filter_c == 0 and out_c % (in_c // filter_c) == 0,
                   f"input channels {in_c} do not split into groups of the filter's {filter_c} "
                   f"that divide the {out_c} output channels")
    multipliers, shifts = requantization(op, "requantization", conv_channel_multipliers,
                                         source.scale, filter_scales, output.scale)
    window = _window_fields(op, options, (in_h, in_w), (filter_h, filter_w), (out_h, out_w),
                            in_c)
    return ConvGeometry(batches, in_h, in_w, in_c, out_h, out_w, out_c, filter_h, filter_w,
                        filter_c, depth_multiplier, weights, multipliers, shifts, window)


@lowering("CONV_2D")
def lower_conv2d(op: OpView) -> Layer:
    options, source, output, geometry = conv_operands(op, depthwise=False,
                                                      require_activation=require_int8_activation)
    weights, out_c = geometry.weights, geometry.out_c
    depth, row_stride, tap_stride = conv_filter_layout(
        geometry.filter_h, geometry.filter_w, geometry.filter_c, geometry.in_c, geometry.in_w,
        dict(geometry.window)["dilation_h"], dict(geometry.window)["dilation_w"])
    # The DSP kernel's im2col: two int16 columns laid out as the filter, 4 * depth bytes.
    # Requested for every build, so that the plan does not depend on the target.
    scratch_bytes = 2 * 2 * depth
    values = conv_filter_values(weights.data, depth, row_stride, tap_stride)
    fields = _output_stage_fields(op, options.fusedActivationFunction, source, output, values,
                                  geometry.multipliers, geometry.shifts, out_c,
                                  weights.data.reshape(out_c, -1))
    # Exactly one of filter and filter_wide is set; both are always initialized (the generated
    # C compiles as C++ with -Wmissing-field-initializers).
    at = [name for name, _ in fields].index("filter") + 1
    fields.insert(at, ("filter_wide", Null()))
    if conv_filter_widened(op, values.size):
        # Labelled a filter: the bench counts it with the weights.
        fields[at - 1:at + 1] = [("filter", Null()),
                                 ("filter_wide", Const("int32_t", conv_filter_wide(values),
                                                       "filter"))]
    fields += _pointwise8_fields(geometry, depth, fields)
    return Layer(
        op="CONV_2D", op_index=op.index, kernel="tinyml_conv2d_s8",
        params_type="tinyml_conv2d_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("scratch", Scratch()), *geometry.shape_fields(),
                ("filter_depth", depth), ("filter_row_stride", row_stride),
                ("filter_tap_stride", tap_stride), *geometry.window, *fields],
        reads=(source.index,), writes=(output.index,), scratch_bytes=scratch_bytes)


# The DSP kernel's tap-paired layout holds the taps' input addresses in a list on the stack:
# windows of 2 .. DEPTHWISE_PACKED_TAPS taps (op_depthwise_conv2d_dsp.h, DW_PACKED_TAPS).
DEPTHWISE_PACKED_TAPS = 25


def depthwise_packed_filter(weights: np.ndarray, bias, input_offset: int,
                            output_stage: np.ndarray, tap_offsets=None) -> np.ndarray:
    """The DSP kernel's multiplier-1 filter (op_depthwise_conv2d_dsp.h, dw_run9 / dw_groups),
    int32 words in the order the kernel reads them, per group of 4 channels (the channels past
    the last whole group are left out). Everything the accumulators sum is doubled, so that they
    hold 2 * acc, which lets SMMLAR take the multiplier itself and add the rounding in the same
    instruction (see depthwise_packed_doubles for when 2 * acc fits):
      4 starts: 2 * (bias + input_offset * the channel's weight sum) (the kernel leaves the
        offset out of its products; a padded tap reads the input zero point, so it adds
        -offset * w, which cancels its share of the sum);
      per pair of taps (2p, 2p + 1) in row-major order, per channel: 2w[2p] | 2w[2p + 1] << 16,
        the int16 halves SMLAD pairs with the two taps' inputs;
      an odd last tap: 2w[c0] | 2w[c2] << 16, 2w[c1] | 2w[c3] << 16, for SMLABB / SMLATT;
      per channel the output stage (multiplier, rounding, s): output_stage_table's row with the
        multiplier in place of 2 * multiplier - 2^32, and without its start, so that one
        pointer walks the group: a register the pass needs.
    3x3 windows (`tap_offsets`: the 9 taps' byte offsets from the window's origin, row-major)
    take the layout dw_run9 reads, so that one LDM brings a pair's input offsets with its
    weights: in front of each pair's 4 words (and of the last tap's 2) the taps' offsets plus
    the group's first channel (4 * group), and bit 31 set in the last group's last word (its s:
    ASR by a register reads the bottom byte) where the kernel's group loop ends.
    `weights` is [filter_h, filter_w, channels], `output_stage` output_stage_table's flat table.
    Sums wrap to int32 as the kernel's do."""
    filter_h, filter_w, channels = weights.shape
    taps = 2 * weights.reshape(filter_h * filter_w, channels).astype(np.int64)
    stage = np.asarray(output_stage, np.int64).reshape(channels, 4).copy()
    stage[:, 1] = (stage[:, 1] % (1 << 32)) // 2  # 2M - 2^32 as int32 back to M
    sums = taps.sum(axis=0)
    starts = 2 * (np.zeros(channels, np.int64) if bias is None else
                  np.asarray(bias, np.int64)) + input_offset * sums
    if tap_offsets is not None and len(tap_offsets) != len(taps):
        raise ValueError(f"{len(tap_offsets)} tap offsets for {len(taps)} taps")
    groups = channels // 4
    words = []
    for group in range(groups):
        lanes = slice(4 * group, 4 * group + 4)
        offsets = (None if tap_offsets is None else
                   np.asarray(tap_offsets, np.int64) + 4 * group)
        words.append(starts[lanes])
        for pair in range(len(taps) // 2):
            if offsets is not None:
                words.append(offsets[2 * pair:2 * pair + 2])
            words.append((taps[2 * pair, lanes] & 0xFFFF) | (taps[2 * pair + 1, lanes] << 16))
        if len(taps) % 2:
            last = taps[-1, lanes]
            if offsets is not None:
                words.append(offsets[-1:])
            words.append(np.array([(last[0] & 0xFFFF) | (last[2] << 16),
                                   (last[1] & 0xFFFF) | (last[3] << 16)]))
        rows = stage[lanes, 1:].reshape(-1)
        if offsets is not None and group == groups - 1:
            rows[-1] |= 1 << 31  # the end mark
        words.append(rows)
    flat = np.concatenate(words) if words else np.zeros(0, np.int64)
    return ((flat + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def depthwise_packed_doubles(weights: np.ndarray, bias) -> bool:
    """Whether every channel's doubled accumulator (depthwise_packed_filter) fits int32 for any
    input: 2 * (|bias| + 255 * sum |w|) below 2^31, the bound output_stage_table takes for acc
    itself. `weights` is [filter_h, filter_w, channels]."""
    channels = weights.shape[-1]
    magnitude = np.abs(weights.reshape(-1, channels).astype(np.int64)).sum(axis=0)
    biases = np.zeros(channels, np.int64) if bias is None else np.abs(np.asarray(bias, np.int64))
    return bool((2 * (biases + _MAX_OFFSET_INPUT * magnitude) < _INT32_LIMIT).all())


def _window_leaves_input(window: dict, in_hw, filter_hw, out_hw) -> bool:
    """Whether some output pixel's window has a tap outside the input (padding)."""
    for axis, (stride, dilation, pad) in enumerate(
            ((window["stride_h"], window["dilation_h"], window["pad_top"]),
             (window["stride_w"], window["dilation_w"], window["pad_left"]))):
        last = (out_hw[axis] - 1) * stride - pad + (filter_hw[axis] - 1) * dilation
        if pad > 0 or last >= in_hw[axis]:
            return True
    return False


def _depthwise_packed_fields(source: Tensor, weights: np.ndarray, stage_fields, window: dict,
                             in_hw, out_hw, multiplier: int) -> list[tuple[str, object]]:
    """`packed` and `pad_input`: the tap-paired filter for multiplier 1 where the fast output
    stage exists (its start values assume that path), and the input zero point repeated over
    the channels, which the kernel reads for a tap outside the input; NULLs otherwise."""
    fields = dict(stage_fields)
    filter_h, filter_w, channels = weights.shape
    taps = filter_h * filter_w
    if (multiplier != 1 or channels < 4 or isinstance(fields["output_stage"], Null) or
            not 2 <= taps <= DEPTHWISE_PACKED_TAPS):
        return [("packed", Null()), ("pad_input", Null())]
    bias = None if isinstance(fields["bias"], Null) else fields["bias"].values
    if not depthwise_packed_doubles(weights, bias):
        return [("packed", Null()), ("pad_input", Null())]
    tap_offsets = None
    if (filter_h, filter_w) == (3, 3):  # dw_run9's layout: the taps' offsets in the words
        row, col = window["dilation_h"] * in_hw[1] * channels, window["dilation_w"] * channels
        tap_offsets = [y * row + x * col for y in range(3) for x in range(3)]
    packed = depthwise_packed_filter(weights, bias, -source.zero_point,
                                     fields["output_stage"].values, tap_offsets)
    pad = Null()
    if _window_leaves_input(window, in_hw, (filter_h, filter_w), out_hw):
        pad = Const("int8_t", np.full(channels, source.zero_point, np.int8), "pad_input")
    return [("packed", Const("int32_t", packed, "packed")), ("pad_input", pad)]


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv2d(op: OpView) -> Layer:
    options, source, output, geometry = conv_operands(op, depthwise=True,
                                                      require_activation=require_int8_activation)
    weights, out_c = geometry.weights, geometry.out_c
    stage = _output_stage_fields(op, options.fusedActivationFunction, source, output,
                                 weights.data, geometry.multipliers, geometry.shifts, out_c,
                                 weights.data.reshape(-1, out_c).T)
    packed = _depthwise_packed_fields(
        source, weights.data.reshape(geometry.filter_h, geometry.filter_w, out_c), stage,
        dict(geometry.window), (geometry.in_h, geometry.in_w), (geometry.out_h, geometry.out_w),
        geometry.depth_multiplier)
    if not isinstance(dict(packed)["packed"], Null) and out_c % 4 == 0:
        # The packed words hold the output stage of every channel: the table would be read by
        # nothing (the flash of 16 bytes a channel).
        stage = [(name, Null() if name == "output_stage" else value) for name, value in stage]
    return Layer(
        op="DEPTHWISE_CONV_2D", op_index=op.index, kernel="tinyml_depthwise_conv2d_s8",
        params_type="tinyml_depthwise_conv2d_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                *geometry.shape_fields(), *geometry.window, *stage, *packed],
        reads=(source.index,), writes=(output.index,))


def fully_connected_output_shape(input_shape, units: int, depth: int,
                                 keep_num_dims: bool) -> tuple[int, ...]:
    """TFLite's FULLY_CONNECTED Prepare: the input flattened to rows of `depth`, each giving
    `units`; with keep_num_dims, the input's shape with its last dimension replaced."""
    if keep_num_dims:
        return (*input_shape[:-1], units)
    return (math.prod(input_shape) // depth, units)


@dataclass(frozen=True)
class FullyConnectedOperands:
    """A FULLY_CONNECTED's checked operands and requantization, shared by the int8 and 16x8
    lowerings."""
    options: object  # FullyConnectedOptionsT or None (TFLite's defaults)
    activation: int
    source: object
    output: object
    weights: object
    units: int
    depth: int
    multipliers: list
    shifts: list


def fully_connected_operands(op: OpView, require_activation) -> FullyConnectedOperands:
    """TFLite's FULLY_CONNECTED Prepare checks (options, shapes) with `require_activation`
    checking the input and output type; the requantization per row."""
    # Absent options are TFLite's defaults: no activation, default weights, dims not kept.
    options = op.options_of("FullyConnectedOptionsT", required=False)
    activation = options.fusedActivationFunction if options is not None else 0
    keep_num_dims = bool(options.keepNumDims) if options is not None else False
    weights_format = options.weightsFormat if options is not None else 0
    op.require(weights_format == 0, f"weights format {weights_format} (shuffled) is not "
                                    f"supported")
    source, output = op.input(0), op.output()
    require_activation(op, source, "input")
    require_activation(op, output, "output")
    weights = op.input(1)
    op.require(weights is not None, "the filter is missing")
    require_shape(op, weights, "filter", rank=2)
    units, depth = weights.shape
    in_shape = require_shape(op, source, "input", min_rank=1)
    if keep_num_dims:
        op.require(in_shape[-1] == depth, f"input depth {in_shape[-1]} is not the filter's "
                                          f"{depth} (keep_num_dims)")
    op.require(source.size % depth == 0,
               f"input size {source.size} is not a whole number of rows of the filter depth "
               f"{depth}")
    expected = fully_connected_output_shape(in_shape, units, depth, keep_num_dims)
    op.require(tuple(output.shape) == expected,
               f"output shape {list(output.shape)} is not {list(expected)} (input "
               f"{list(in_shape)}, filter [{units}, {depth}])")
    weights, filter_scales = filter_operand(op, units, 0, rank=2)
    if len(weights.info.scales) > 1:
        multipliers, shifts = requantization(op, "requantization", conv_channel_multipliers,
                                             source.scale, filter_scales, output.scale)
    else:
        significand, shift = requantization(op, "requantization",
                                            fully_connected_tensor_multiplier, source.scale,
                                            filter_scales[0], output.scale)
        multipliers, shifts = [significand] * units, [shift] * units
    return FullyConnectedOperands(options, activation, source, output, weights, units, depth,
                                  multipliers, shifts)


@lowering("FULLY_CONNECTED")
def lower_fully_connected(op: OpView) -> Layer:
    fc = fully_connected_operands(op, require_int8_activation)
    activation, source, output = fc.activation, fc.source, fc.output
    weights, units, depth = fc.weights, fc.units, fc.depth
    multipliers, shifts = fc.multipliers, fc.shifts
    batches = source.size // depth
    fields = _output_stage_fields(op, activation, source, output, weights.data, multipliers,
                                  shifts, units, weights.data.reshape(units, depth),
                                  fold_input_offset=True)
    # With the fast output stage, rows of a whole block and room in the flash budget, the
    # weights go packed (widened, four rows interleaved, the output stage inside): then the
    # kernels read nothing else of filter and output_stage, which are left NULL. Labelled a
    # filter: the bench counts it with the weights.
    names = [name for name, _ in fields]
    table = fields[names.index("output_stage")][1]
    packed = Null()
    if isinstance(table, Const) and packed_fits(op, depth):
        packed = Const("int32_t", fully_connected_packed(weights.data.reshape(units, depth),
                                                         table.values), "filter")
        fields[names.index("filter")] = ("filter", Null())
        fields[names.index("output_stage")] = ("output_stage", Null())
    return Layer(
        op="FULLY_CONNECTED", op_index=op.index, kernel="tinyml_fully_connected_s8",
        params_type="tinyml_fully_connected_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("batches", batches), ("accum_depth", depth), ("output_depth", units),
                *fields, ("packed", packed)],
        reads=(source.index,), writes=(output.index,))
