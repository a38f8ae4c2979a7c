"""MAX_POOL_2D and AVERAGE_POOL_2D."""

from __future__ import annotations

from tools.compiler.graph import OpView
from tools.compiler.layers import Layer, Offset
from tools.compiler.ops import lowering
from tools.compiler.ops.common import (
    fused_activation_range,
    nhwc,
    require_int8_activation,
    spatial_padding,
)


@lowering("MAX_POOL_2D", "AVERAGE_POOL_2D")
def lower_pool2d(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    op.require(source.scale == output.scale and source.zero_point == output.zero_point,
               "input and output quantization differ; the int8 pooling kernels do not rescale")
    batches, in_h, in_w, channels = nhwc(op, source, "input")
    _, out_h, out_w, out_c = nhwc(op, output, "output")
    op.require(out_c == channels, "pooling must keep the channel count")
    options = op.options
    filter_hw = (options.filterHeight, options.filterWidth)
    strides = (options.strideH, options.strideW)
    pad_top, pad_left = spatial_padding(op, options.padding, (in_h, in_w), filter_hw, strides,
                                        (1, 1), (out_h, out_w))
    act_min, act_max = fused_activation_range(op, options.fusedActivationFunction, output)
    kernel = "tinyml_max_pool2d_s8" if op.name == "MAX_POOL_2D" else "tinyml_average_pool2d_s8"
    return Layer(
        op=op.name, op_index=op.index, kernel=kernel, params_type="tinyml_pool2d_params",
        header="tinyml/op_pooling.h",
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("batches", batches), ("input_h", in_h), ("input_w", in_w),
                ("channels", channels), ("output_h", out_h), ("output_w", out_w),
                ("filter_h", filter_hw[0]), ("filter_w", filter_hw[1]),
                ("stride_h", strides[0]), ("stride_w", strides[1]),
                ("pad_top", pad_top), ("pad_left", pad_left),
                ("act_min", act_min), ("act_max", act_max)],
        reads=(source.index,), writes=(output.index,))
