"""Helpers the lowerings share: spatial padding as TFLM computes it, and the checks of shapes,
quantization and requantization every lowering makes before it computes anything.

Every check names the field and the value it refuses, through OpView.require, so a corrupted
model is a one-line CompileError and never an exception inside the arithmetic that follows."""

from __future__ import annotations

import math

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.quantization import (
    ACTIVATION_NAMES,
    INT8_MAX,
    INT8_MIN,
    activation_range,
)

PADDING_SAME, PADDING_VALID = 0, 1
# The shifts the kernels' requantization accepts (fixedpoint.h): a right shift of at most 31
# bits, a left shift of at most 30 (TFLM's x * (1 << shift) is undefined beyond that).
MIN_SHIFT, MAX_SHIFT = -31, 30
INT32_LIMIT = 1 << 31
# The largest |input + input_offset| of an int8 input (offsets -127 to 128), rounded up to
# cover FULLY_CONNECTED's folded form too (its start holds -zero_point * sum w, |zp| <= 128).
MAX_OFFSET_INPUT = 256


def output_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int) -> int:
    effective = (filter_size - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective) // stride


def padding_before(stride: int, dilation: int, in_size: int, filter_size: int,
                   out_size: int) -> int:
    """ComputePaddingWithOffset: TFLM pads the odd pixel after, so before = total // 2."""
    effective = (filter_size - 1) * dilation + 1
    total = max((out_size - 1) * stride + effective - in_size, 0)
    return total // 2


def require_at_least(op: OpView, field: str, value, minimum: int) -> int:
    op.require(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
               f"{field} {value!r} is not an integer >= {minimum}")
    return value


def spatial_padding(op: OpView, padding: int, in_hw, filter_hw, strides, dilations, out_hw,
                    steps=(1, 1)) -> tuple[int, int]:
    """ComputePaddingHeightWidth: the output size the window implies must be the output's.
    `steps`: the input values one tap moves over along each axis (row and pixel size)."""
    op.require(padding in (PADDING_SAME, PADDING_VALID), f"padding {padding} is unknown")
    for axis, name in ((0, "height"), (1, "width")):
        require_at_least(op, f"filter {name}", filter_hw[axis], 1)
        require_at_least(op, f"stride {name}", strides[axis], 1)
        require_at_least(op, f"dilation {name}", dilations[axis], 1)
        # The kernels compute window coordinates (span, padding, input size) and the step
        # dilation * elements per row or pixel in int32. Legal in TFLite however large (SAME
        # padding), so only the overflow is refused.
        span = (filter_hw[axis] - 1) * dilations[axis] + 1
        op.require(span + dilations[axis] + in_hw[axis] < INT32_LIMIT,
                   f"dilation {name} {dilations[axis]} with a filter {name} {filter_hw[axis]} "
                   f"spans {span} pixels, beyond the kernels' int32 coordinates")
        op.require(dilations[axis] * steps[axis] < INT32_LIMIT,
                   f"dilation {name} {dilations[axis]} times the {steps[axis]} input values it "
                   f"steps over is beyond the kernels' int32 offsets")
    for axis, name in ((0, "height"), (1, "width")):
        expected = output_size(padding, in_hw[axis], filter_hw[axis], strides[axis],
                               dilations[axis])
        op.require(expected == out_hw[axis],
                   f"output {name} {out_hw[axis]} does not follow from the input {name} "
                   f"{in_hw[axis]} (expected {expected})")
    return tuple(padding_before(strides[a], dilations[a], in_hw[a], filter_hw[a], out_hw[a])
                 for a in (0, 1))


def require_shape(op: OpView, tensor: Tensor, role: str, rank: int | None = None,
                  min_rank: int = 0, max_rank: int | None = None) -> tuple[int, ...]:
    """The tensor's shape, every dimension >= 1 (a 0 or negative one sizes the memory plan
    negatively) and the rank the kernel assumes."""
    shape = tuple(tensor.shape)
    if rank is not None:
        op.require(len(shape) == rank, f"{role} rank {len(shape)} (shape {list(shape)}) is not "
                                       f"{rank}")
    op.require(len(shape) >= min_rank, f"{role} rank {len(shape)} is below {min_rank}")
    if max_rank is not None:
        op.require(len(shape) <= max_rank, f"{role} rank {len(shape)} is above {max_rank}")
    for axis, dim in enumerate(shape):
        op.require(dim >= 1, f"{role} dim[{axis}] {dim} is not positive (shape "
                             f"{list(shape)})")
    # The kernels index every tensor with int32 arithmetic.
    op.require(math.prod(shape) < INT32_LIMIT,
               f"{role} element count {math.prod(shape)} (shape {list(shape)}) does not fit "
               f"the kernels' int32 indexing")
    return shape


def require_scale(op: OpView, tensor: Tensor, role: str) -> float:
    scale = tensor.scale
    op.require(math.isfinite(scale) and scale > 0,
               f"{role} scale {scale} is not a finite positive number")
    return scale


def require_int8_tensor(op: OpView, tensor: Tensor | None, role: str) -> Tensor:
    """An int8 tensor with one finite positive scale, an int8 zero point and positive dims."""
    op.require(tensor is not None, f"{role} is missing")
    op.require_types(tensor, "INT8")
    op.require(len(tensor.info.scales) <= 1, f"{role} '{tensor.info.name}' is quantized per "
                                             f"channel; only per-tensor scales are supported")
    op.require(len(tensor.info.scales) == 1, f"{role} '{tensor.info.name}' has no quantization "
                                             f"scale")
    require_scale(op, tensor, role)
    op.require(len(tensor.info.zero_points) == 1,
               f"{role} zero points {list(tensor.info.zero_points)} are not the one value its "
               f"scale needs")
    zero_point = tensor.zero_point
    op.require(INT8_MIN <= zero_point <= INT8_MAX,
               f"{role} zero point {zero_point} is outside int8 [{INT8_MIN}, {INT8_MAX}]")
    require_shape(op, tensor, role)
    return tensor


def require_int8_activation(op: OpView, tensor: Tensor | None, role: str) -> None:
    require_int8_tensor(op, tensor, role)
    op.require(not tensor.is_constant, f"{role} '{tensor.info.name}' is constant; the built-in "
                                       f"runtime expects an activation there")


def require_same_shape(op: OpView, source: Tensor, output: Tensor) -> None:
    op.require(tuple(source.shape) == tuple(output.shape),
               f"output shape {list(output.shape)} is not the input shape {list(source.shape)}")


def require_same_quantization(op: OpView, source: Tensor, output: Tensor, role: str,
                              why: str) -> None:
    """TFLM's kernels that move bytes without rescaling require equal scale and zero point."""
    op.require(source.scale == output.scale,
               f"{role} scale {source.scale} differs from the output scale {output.scale} "
               f"({why})")
    op.require(source.zero_point == output.zero_point,
               f"{role} zero point {source.zero_point} differs from the output zero point "
               f"{output.zero_point} ({why})")


def requantization(op: OpView, field: str, compute, *args):
    """Runs one of quantization.py's Prepare computations, which raise ValueError on a
    multiplier TFLM's Prepare would refuse; the refusal names the op and the field."""
    try:
        return compute(*args)
    except ValueError as error:
        raise op.fail(f"{field}: {error}") from None


def require_shifts(op: OpView, field: str, multipliers, shifts, min_shift: int = MIN_SHIFT,
                   max_shift: int = MAX_SHIFT) -> None:
    """Every (multiplier, shift) as the kernels take it: a Q0.31 significand and a shift the
    C shifts by without undefined behaviour."""
    for channel, (multiplier, shift) in enumerate(zip(multipliers, shifts, strict=True)):
        where = f"{field} (channel {channel})" if len(shifts) > 1 else field
        op.require(0 <= multiplier < INT32_LIMIT,
                   f"{where} multiplier {multiplier} is outside [0, 2^31)")
        op.require(min_shift <= shift <= max_shift,
                   f"{where} shift {shift} is outside the {min_shift} to {max_shift} the "
                   f"kernels shift by (a scale ratio of 2^{shift})")


def require_accumulator_bound(op: OpView, bias, channel_weights) -> None:
    """The int32 accumulator of a convolution or fully connected layer, bias included, must not
    overflow for any int8 input: |bias| + 256 * sum |w| < 2^31 per output channel (an
    INT32_MIN bias made the kernel's sum overflow)."""
    for channel, weights in enumerate(channel_weights):
        channel_bias = 0 if bias is None else int(bias[channel])
        bound = abs(channel_bias) + MAX_OFFSET_INPUT * int(abs(weights.astype("int64")).sum())
        op.require(bound < INT32_LIMIT,
                   f"bias {channel_bias} of channel {channel} with its weights can overflow the "
                   f"int32 accumulator (bound {bound} >= 2^31)")


def fused_activation_range(op: OpView, activation: int, output: Tensor) -> tuple[int, int]:
    op.require(activation in (0, 1, 2, 3), f"fused activation "
                                           f"{ACTIVATION_NAMES.get(activation, activation)} is "
                                           f"not supported")
    return requantization(op, f"fused activation {ACTIVATION_NAMES[activation]}",
                          activation_range, activation, output.scale, output.zero_point)


def nhwc(op: OpView, tensor: Tensor, role: str) -> tuple[int, int, int, int]:
    return require_shape(op, tensor, role, rank=4)
