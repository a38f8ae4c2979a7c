"""STRIDED_SLICE (int8, up to 4-D): a strided copy, no arithmetic.

Where the slice starts and stops on each axis follows TFLM: Prepare checks the output shape with
StartForAxis/StopForAxis on the model's axes, and Eval pads the slice to five axes and walks it
with StridedSliceStartForAxis/EndForAxis. The converter does both: it refuses what Prepare
refuses and hands the kernel each padded axis's first index, step and count."""

from __future__ import annotations

import math

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import require_int8_activation
from tinyml_pipeline.tools.compiler.quantization import f32

HEADER = "tinyml/op_data_movement.h"
SLICE_DIMS = 5  # the reference kernel's padded rank
MAX_INPUT_RANK = 4  # TFLM's Prepare: "input dim should not exceed 4"
INT_MAX, INT_LOWEST = (1 << 31) - 1, -(1 << 31)


def _clamp(value: int, low: int, high: int) -> int:
    return high if high < value else low if value < low else value


def _clamped(index: int, stride: int, size: int) -> int:
    if index < 0:
        index += size
    return _clamp(index, 0, size) if stride > 0 else _clamp(index, -1, size - 1)


def prepare_extent(begin: int, end: int, stride: int, size: int, begin_masked: bool,
                   end_masked: bool, shrink: bool) -> int:
    """The output size of one axis as TFLM's CheckOutputSize computes it (StartForAxis,
    StopForAxis, then ceil((end - begin) / float(stride)), at least 0)."""
    if size == 0:
        start = stop = 0
    else:
        start = (INT_LOWEST if stride > 0 else INT_MAX) if begin_masked else begin
        start = _clamped(start, stride, size)
        stop = (INT_MAX if stride > 0 else INT_LOWEST) if end_masked else end
        stop = _clamped(stop, stride, size)
    if shrink:
        stop = start + 1
    return max(0, math.ceil(float(f32(stop - start) / f32(stride))))


def eval_axis(begin: int, end: int, stride: int, size: int, begin_masked: bool,
              end_masked: bool, shrink: bool) -> tuple[int, int]:
    """(first index, count) of one padded axis as TFLM's Eval walks it
    (StridedSliceStartForAxis, StridedSliceEndForAxis, LoopCondition)."""
    start = _clamped(begin, stride, size)
    if begin_masked:
        start = 0 if stride > 0 else size - 1
    if shrink:
        stop = start if start >= size else start + 1
    else:
        stop = _clamped(end, stride, size)
        if end_masked:
            stop = size if stride > 0 else -1
    span = stop - start if stride > 0 else start - stop
    return start, max(0, -(-span // abs(stride)))


def _indices(op: OpView, role: str, position: int, rank: int) -> list[int]:
    tensor = op.input(position)
    op.require(tensor is not None and tensor.is_constant, f"{role} must be constant")
    op.require_types(tensor, "INT32")
    op.require(tensor.shape == (rank,), f"{role} shape {list(tensor.shape)} is not [{rank}]")
    return [int(v) for v in tensor.data.reshape(-1)]


def _options(op: OpView) -> tuple[int, int, int]:
    options = op.options_of("StridedSliceOptionsT", required=False)
    if options is None:
        return 0, 0, 0
    # TFLM's micro kernel sets these to zero whatever the model says: such a model would not
    # compute what it describes, so it is refused instead.
    for field in ("ellipsisMask", "newAxisMask"):
        value = getattr(options, field, 0)
        op.require(not value, f"{field} {value} is not supported (TFLM ignores it)")
    offset = getattr(options, "offset", False)
    op.require(not offset, "offset slicing is not supported (TFLM ignores it)")
    return options.beginMask, options.endMask, options.shrinkAxisMask


def _element_strides(shape: tuple[int, ...]) -> list[int]:
    strides, step = [0] * len(shape), 1
    for axis in reversed(range(len(shape))):
        strides[axis] = step
        step *= shape[axis]
    return strides


@lowering("STRIDED_SLICE")
def lower_strided_slice(op: OpView) -> Layer:
    op.require(op.input_count == 4, f"expected 4 inputs (input, begin, end, strides), got "
                                    f"{op.input_count}")
    source: Tensor = op.input(0)
    output = op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    rank = len(source.shape)
    op.require(1 <= rank <= MAX_INPUT_RANK, f"input rank {rank} is outside the 1 to "
                                            f"{MAX_INPUT_RANK} TFLM slices")
    begins = _indices(op, "begin", 1, rank)
    ends = _indices(op, "end", 2, rank)
    strides = _indices(op, "strides", 3, rank)
    op.require(all(stride != 0 for stride in strides), f"strides {strides} hold a zero")
    begin_mask, end_mask, shrink_mask = _options(op)

    def bit(mask: int, axis: int) -> bool:
        return bool(mask & (1 << axis))

    expected = [prepare_extent(begins[a], ends[a], strides[a], source.shape[a],
                               bit(begin_mask, a), bit(end_mask, a), bit(shrink_mask, a))
                for a in range(rank) if not bit(shrink_mask, a)]
    op.require(list(output.shape) == expected,
               f"output shape {list(output.shape)} is not the sliced {expected}")

    # Eval's view: padded in front to five axes that take everything (start 0, stop 1).
    pad = SLICE_DIMS - rank
    shape = (1,) * pad + tuple(source.shape)
    begins, ends, strides = [0] * pad + begins, [1] * pad + ends, [1] * pad + strides
    full = (1 << pad) - 1
    begin_mask, end_mask = (begin_mask << pad) | full, (end_mask << pad) | full
    shrink_mask <<= pad
    axes = [eval_axis(begins[a], ends[a], strides[a], shape[a], bit(begin_mask, a),
                      bit(end_mask, a), bit(shrink_mask, a)) for a in range(SLICE_DIMS)]
    counts = [count for _, count in axes]
    op.require(math.prod(counts) == output.size,
               f"the slice walks {math.prod(counts)} elements for an output of {output.size}")
    element = _element_strides(shape)
    first = sum(start * element[a] for a, (start, _) in enumerate(axes))
    steps = [strides[a] * element[a] for a in range(SLICE_DIMS)]
    return Layer(op=op.name, op_index=op.index, kernel="tinyml_strided_slice_s8",
                 params_type="tinyml_strided_slice_params", header=HEADER,
                 fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                         ("first", first), ("steps", steps), ("counts", counts)],
                 reads=(source.index,), writes=(output.index,))
