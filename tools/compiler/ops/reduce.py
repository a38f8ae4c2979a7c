"""MEAN (int8), over any set of axes, keep_dims or not.

TFLM (since 2023) has a single int8 MEAN path, reference_ops::QuantizedMeanOrSum: an int32 sum
per output, minus input_zero_point * count, requantized by the input/output scale ratio with
1/count folded into the multiplier. Everything that does not depend on the data is computed
here; the kernel sums and requantizes."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    INT32_LIMIT,
    requantization,
    require_int8_activation,
    require_shape,
    require_shifts,
)
from tinyml_pipeline.tools.compiler.quantization import f32, quantize_multiplier

MAX_RANK = 6  # TINYML_MAX_RANK


def wrap_int32(value: int) -> int:
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """PrepareMeanOrSumHelper's QuantizeMultiplier(double(s_in) / double(s_out)), then
    QuantizedMeanOrSum's fold of 1/count: multiplier * 2^k / count (int64, truncating) with
    k = floor(log2(count)) capped at 32 and at 31 + shift."""
    multiplier, shift = quantize_multiplier(float(f32(input_scale)) / float(f32(output_scale)))
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << k) // count, shift - k


def resolve_axes(op: OpView, axes, rank: int) -> list[int]:
    """ResolveAxis: negative axes count from the end; duplicates are dropped."""
    resolved = []
    for axis in (int(a) for a in axes):
        op.require(-rank <= axis < rank, f"axis {axis} is out of range for rank {rank}")
        axis = axis + rank if axis < 0 else axis
        if axis not in resolved:
            resolved.append(axis)
    return resolved


def _loops(shape, axes) -> list[tuple[int, int]]:
    """(dim, input element stride) of the given axes, outermost first, size-1 axes dropped and
    neighbours that are contiguous in the input fused."""
    strides, step = [0] * len(shape), 1
    for axis in reversed(range(len(shape))):
        strides[axis] = step
        step *= shape[axis]
    loops: list[tuple[int, int]] = []
    for axis in axes:
        dim, stride = shape[axis], strides[axis]
        if dim == 1:
            continue
        if loops and loops[-1][1] == stride * dim:
            loops[-1] = (loops[-1][0] * dim, stride)
        else:
            loops.append((dim, stride))
    return loops


def _padded(loops) -> tuple[list[int], list[int]]:
    pad = MAX_RANK - len(loops)
    return [1] * pad + [d for d, _ in loops], [0] * pad + [s for _, s in loops]


@lowering("MEAN")
def lower_mean(op: OpView) -> Layer:
    options = op.options_of("ReducerOptionsT", required=False)
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    axis_tensor = op.input(1)
    op.require(axis_tensor is not None and axis_tensor.is_constant,
               "the axes must be a constant tensor")
    op.require_types(axis_tensor, "INT32")
    shape = require_shape(op, source, "input", max_rank=MAX_RANK)
    op.require(axis_tensor.size <= 2 * MAX_RANK, f"axis count {axis_tensor.size} is above "
                                                 f"{2 * MAX_RANK}")
    reduced = resolve_axes(op, axis_tensor.data.reshape(-1), len(shape))
    kept = [axis for axis in range(len(shape)) if axis not in reduced]
    keep_dims = bool(options.keepDims) if options is not None else False
    expected = tuple(1 if axis in reduced else shape[axis] for axis in range(len(shape))) \
        if keep_dims else tuple(shape[axis] for axis in kept)
    op.require(tuple(output.shape) == expected,
               f"output shape {list(output.shape)} is not {list(expected)} for axes {reduced}")
    count = 1
    for axis in reduced:
        count *= shape[axis]
    # The kernel sums `count` int8 values in int32 (|value| <= 128 after the offset).
    op.require(count * 256 < INT32_LIMIT, f"reduced element count {count} can overflow the "
                                          f"int32 sum")
    multiplier, shift = requantization(op, "requantization", mean_multiplier, source.scale,
                                       output.scale, count)
    require_shifts(op, "requantization", [multiplier], [shift])
    outer_dims, outer_strides = _padded(_loops(shape, kept))
    inner_dims, inner_strides = _padded(_loops(shape, sorted(reduced)))
    return Layer(
        op="MEAN", op_index=op.index, kernel="tinyml_mean_s8", params_type="tinyml_mean_params",
        header="tinyml/op_mean.h",
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("outer_dims", outer_dims), ("outer_strides", outer_strides),
                ("inner_dims", inner_dims), ("inner_strides", inner_strides),
                ("zero_point_sum", wrap_int32(source.zero_point * count)),
                ("multiplier", multiplier), ("shift", shift),
                ("output_zero_point", output.zero_point)],
        reads=(source.index,), writes=(output.index,))
