"""RESIZE_NEAREST_NEIGHBOR (int8): every output pixel copies one input pixel's channels.

TFLM picks the source row and column per output pixel in float32 (GetNearestNeighbor); the
converter computes both maps once, in the same float32 arithmetic, and the kernel only copies
bytes, as TFLM does (no rescaling, whatever the output's quantization)."""

from __future__ import annotations

import math

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import require_int8_activation
from tinyml_pipeline.tools.compiler.quantization import f32, round_half_away

HEADER = "tinyml/op_data_movement.h"


def nearest_neighbor(index: int, input_size: int, output_size: int, align_corners: bool,
                     half_pixel_centers: bool) -> int:
    """GetNearestNeighbor: the input row (or column) output `index` copies."""
    if align_corners and output_size > 1:
        scale = f32(input_size - 1) / f32(output_size - 1)
    else:
        scale = f32(input_size) / f32(output_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    position = float((f32(index) + offset) * scale)
    chosen = int(round_half_away(position)) if align_corners else math.floor(position)
    chosen = min(chosen, input_size - 1)
    return max(0, chosen) if half_pixel_centers else chosen


@lowering("RESIZE_NEAREST_NEIGHBOR")
def lower_resize_nearest_neighbor(op: OpView) -> Layer:
    op.require(op.input_count == 2, f"expected 2 inputs (the image and its new size), got "
                                    f"{op.input_count}")
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    op.require(len(source.shape) == 4, f"input rank {len(source.shape)} is not the 4 (NHWC) "
                                       f"TFLM's kernel needs")
    size = op.input(1)
    op.require(size is not None and size.is_constant, "the size must be constant")
    op.require_types(size, "INT32")
    op.require(size.shape == (2,), f"size shape {list(size.shape)} is not [2]")
    height, width = (int(v) for v in size.data)
    op.require(height >= 1 and width >= 1, f"size {[height, width]} is not positive")
    batches, input_height, input_width, depth = source.shape
    expected = (batches, height, width, depth)
    op.require(tuple(output.shape) == expected,
               f"output shape {list(output.shape)} is not the resized {list(expected)}")
    options = op.options_of("ResizeNearestNeighborOptionsT", required=False)
    align_corners = bool(options.alignCorners) if options is not None else False
    half_pixel = bool(options.halfPixelCenters) if options is not None else False
    rows = [nearest_neighbor(y, input_height, height, align_corners, half_pixel)
            for y in range(height)]
    columns = [nearest_neighbor(x, input_width, width, align_corners, half_pixel)
               for x in range(width)]
    return Layer(op=op.name, op_index=op.index, kernel="tinyml_resize_nearest_neighbor_s8",
                 params_type="tinyml_resize_nearest_params", header=HEADER,
                 fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                         ("batches", batches), ("input_height", input_height),
                         ("input_width", input_width), ("depth", depth),
                         ("output_height", height), ("output_width", width),
                         ("rows", Const("int32_t", np.array(rows, np.int32), "rows")),
                         ("columns", Const("int32_t", np.array(columns, np.int32), "columns"))],
                 reads=(source.index,), writes=(output.index,))
