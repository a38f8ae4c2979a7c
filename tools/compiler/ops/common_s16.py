"""Checks the int16 lowerings share: an int16 activation as TFLite's 16x8 quantization makes it
(one finite positive scale, zero point 0) and the int16 clamp of a fused activation."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.ops.common import requantization, require_scale, require_shape
from tinyml_pipeline.tools.compiler.quantization import ACTIVATION_NAMES, activation_range

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def require_int16_activation(op: OpView, tensor: Tensor | None, role: str,
                             symmetric: bool = True) -> Tensor:
    """An int16 activation with one scale; `symmetric`: its zero point must be 0, as TFLM's
    16x8 kernels require (QUANTIZE and DEQUANTIZE take any int16 zero point)."""
    op.require(tensor is not None, f"{role} is missing")
    op.require(not tensor.is_constant, f"{role} '{tensor.info.name}' is constant; the built-in "
                                       f"runtime expects an activation there")
    return require_int16_tensor(op, tensor, role, symmetric)


def require_int16_tensor(op: OpView, tensor: Tensor | None, role: str,
                         symmetric: bool = True) -> Tensor:
    """require_int16_activation, constants allowed."""
    op.require(tensor is not None, f"{role} is missing")
    op.require_types(tensor, "INT16")
    op.require(len(tensor.info.scales) == 1 and len(tensor.info.zero_points) == 1,
               f"{role} '{tensor.info.name}' needs one scale and one zero point, it has "
               f"{len(tensor.info.scales)} and {len(tensor.info.zero_points)}")
    require_scale(op, tensor, role)
    zero_point = tensor.zero_point
    if symmetric:
        op.require(zero_point == 0, f"{role} zero point {zero_point} is not 0 (16x8 "
                                    f"quantization is symmetric)")
    else:
        op.require(INT16_MIN <= zero_point <= INT16_MAX,
                   f"{role} zero point {zero_point} is outside int16")
    require_shape(op, tensor, role)
    return tensor


def fused_activation_range_s16(op: OpView, activation: int, output: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for an int16 output."""
    op.require(activation in (0, 1, 2, 3), f"fused activation "
                                           f"{ACTIVATION_NAMES.get(activation, activation)} is "
                                           f"not supported")
    return requantization(op, f"fused activation {ACTIVATION_NAMES[activation]}",
                          activation_range, activation, output.scale, output.zero_point,
                          INT16_MIN, INT16_MAX)
