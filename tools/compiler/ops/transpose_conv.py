"""TRANSPOSE_CONV (int8, per-channel or per-tensor weights): TFLM's reference scatter.

Every input pixel adds its products into an int32 scratch the size of the output, then each
output value is requantized per channel; the padding is what a forward convolution from the
output's size would use (ComputePaddingHeightWidth on the output's height and width)."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Offset, Scratch
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    fused_activation_range,
    nhwc,
    output_size,
    padding_before,
    requantization,
    require_int8_activation,
)
from tinyml_pipeline.tools.compiler.ops.conv import (
    bias_operand,
    filter_operand,
    requantization_fields,
)
from tinyml_pipeline.tools.compiler.quantization import conv_channel_multipliers

HEADER = "tinyml/op_transpose_conv.h"
PADDING_NAMES = {0: "SAME", 1: "VALID"}


@lowering("TRANSPOSE_CONV")
def lower_transpose_conv(op: OpView) -> Layer:
    op.require(op.input_count in (3, 4), f"expected 3 or 4 inputs (output shape, filter, input, "
                                         f"bias), got {op.input_count}")
    source, output = op.input(2), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    batches, input_h, input_w, input_c = nhwc(op, source, "input")
    out_batches, output_h, output_w, output_c = nhwc(op, output, "output")
    shape = op.input(0)
    op.require(shape is not None and shape.is_constant, "the output shape must be constant")
    op.require_types(shape, "INT32")
    op.require([int(v) for v in shape.data.reshape(-1)] == list(output.shape),
               f"output shape input {shape.data.reshape(-1).tolist()} is not the output "
               f"tensor's {list(output.shape)}")
    op.require(out_batches == batches, f"output batch {out_batches} is not the input's {batches}")
    weights, scales = filter_operand(op, output_c, 0, 4)
    op.require(len(weights.shape) == 4 and weights.shape[0] == output_c
               and weights.shape[3] == input_c,
               f"filter shape {list(weights.shape)} is not [{output_c}, h, w, {input_c}]")
    filter_h, filter_w = weights.shape[1:3]
    options = op.options_of("TransposeConvOptionsT")
    stride_h, stride_w = options.strideH, options.strideW
    op.require(stride_h >= 1 and stride_w >= 1, f"strides {[stride_h, stride_w]} are not "
                                                f"positive")
    op.require(options.padding in PADDING_NAMES, f"unknown padding {options.padding}")
    # ComputePaddingHeightWidth with the output as the forward convolution's input.
    pads = [padding_before(stride, 1, size, filter_size,
                           output_size(options.padding, size, filter_size, stride, 1))
            for stride, size, filter_size in ((stride_h, output_h, filter_h),
                                              (stride_w, output_w, filter_w))]
    activation = getattr(options, "fusedActivationFunction", 0)
    act_min, act_max = fused_activation_range(op, activation, output)
    multipliers, shifts = requantization(op, "requantization", conv_channel_multipliers,
                                         source.scale, scales, output.scale)
    return Layer(
        op=op.name, op_index=op.index, kernel="tinyml_transpose_conv_s8",
        params_type="tinyml_transpose_conv_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("scratch", Scratch()), ("batches", batches), ("input_h", input_h),
                ("input_w", input_w), ("input_c", input_c), ("output_h", output_h),
                ("output_w", output_w), ("output_c", output_c), ("filter_h", filter_h),
                ("filter_w", filter_w), ("stride_h", stride_h), ("stride_w", stride_w),
                ("pad_top", pads[0]), ("pad_left", pads[1]),
                ("input_offset", -source.zero_point), ("output_offset", output.zero_point),
                ("act_min", act_min), ("act_max", act_max),
                ("filter", Const("int8_t", weights.data.reshape(-1).astype(np.int8), "filter")),
                ("bias", bias_operand(op, output_c, 3)),
                *requantization_fields(op, multipliers, shifts)],
        reads=(source.index,), writes=(output.index,), scratch_bytes=4 * output.size)
