"""MAX_POOL_2D and AVERAGE_POOL_2D."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    fused_activation_range,
    nhwc,
    require_int8_activation,
    require_same_quantization,
    spatial_padding,
)


def in_place_safe(batches: int, in_hw: tuple[int, int], out_hw: tuple[int, int],
                  strides: tuple[int, int], pads: tuple[int, int]) -> bool:
    """Whether op_pooling.c stays exact with its output at its input's offset.

    The kernel writes the outputs one at a time in storage order (batch, y, x, channel), each
    after reading its whole window. With both tensors at one offset, when output element o is
    computed, outputs 0 .. o-1 have overwritten input elements 0 .. o-1; so the kernel never
    reads an overwritten byte if and only if every input element read for output o lies at
    index >= o. (The DSP build reads the windows of four channels, then writes their four
    bytes at once: each byte is still written after its window is read, and the other three
    channels' reads only move earlier, when fewer bytes have been overwritten, so the same
    condition covers it.)
    Input and output have the same channel count and a window reads one channel,
    so with pixel indices p_out = (b * out_h + y) * out_w + x and
    p_in = (b * in_h + in_y) * in_w + in_x that is p_in >= p_out for the lowest pixel the
    window reads: its first row and column clipped to the image, max(0, y * stride_h - pad_top)
    and max(0, x * stride_w - pad_left).

    Checked for every output pixel of this layer. It holds with no padding before (in_y >= y,
    in_x >= x, in_h >= out_h, in_w >= out_w) and fails for example for a stride-1 SAME window
    larger than 1, whose outputs read pixels above and left of themselves.

    p_in - p_out = b * (in_h * in_w - out_h * out_w) + (in_y * in_w - y * out_w) + (in_x - x)
    is a sum of three terms in b, y and x alone, so its minimum over all pixels is the sum of
    each term's minimum; each term is linear in b, or piecewise linear in y (x) with one bend
    where the window stops being clipped, so its minimum lies at an end of a piece. That needs
    no array the size of the output (a corrupted shape must not allocate gigabytes here).
    """
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    batch_term = min(0, (batches - 1) * (in_h * in_w - out_h * out_w))

    def lowest(size: int, stride: int, pad: int, term) -> int:
        bend = pad // stride  # the last output whose window starts clipped (in_y = 0)
        ends = {0, size - 1, bend, bend + 1}
        return min(term(i, max(0, i * stride - pad)) for i in ends if 0 <= i < size)

    y_term = lowest(out_h, strides[0], pads[0], lambda y, in_y: in_y * in_w - y * out_w)
    x_term = lowest(out_w, strides[1], pads[1], lambda x, in_x: in_x - x)
    return batch_term + y_term + x_term >= 0


@lowering("MAX_POOL_2D", "AVERAGE_POOL_2D")
def lower_pool2d(op: OpView) -> Layer:
    options = op.options_of("Pool2DOptionsT")
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    require_same_quantization(op, source, output, "input",
                              "the int8 pooling kernels do not rescale")
    batches, in_h, in_w, channels = nhwc(op, source, "input")
    out_batches, out_h, out_w, out_c = nhwc(op, output, "output")
    op.require(out_batches == batches,
               f"output batch {out_batches} is not the input batch {batches}")
    op.require(out_c == channels, f"output channels {out_c} are not the input channels "
                                  f"{channels}")
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
        reads=(source.index,), writes=(output.index,),
        in_place_ok=in_place_safe(batches, (in_h, in_w), (out_h, out_w), strides,
                                  (pad_top, pad_left)))
