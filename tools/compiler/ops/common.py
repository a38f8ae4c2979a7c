"""Helpers the lowerings share: spatial padding as TFLM computes it, and tensor checks."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.quantization import ACTIVATION_NAMES, activation_range

PADDING_SAME, PADDING_VALID = 0, 1


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


def spatial_padding(op: OpView, padding: int, in_hw, filter_hw, strides, dilations, out_hw
                    ) -> tuple[int, int]:
    op.require(padding in (PADDING_SAME, PADDING_VALID), f"unknown padding {padding}")
    for axis, name in ((0, "height"), (1, "width")):
        expected = output_size(padding, in_hw[axis], filter_hw[axis], strides[axis],
                               dilations[axis])
        op.require(expected == out_hw[axis],
                   f"output {name} {out_hw[axis]} does not follow from the input {name} "
                   f"{in_hw[axis]} (expected {expected})")
    return tuple(padding_before(strides[a], dilations[a], in_hw[a], filter_hw[a], out_hw[a])
                 for a in (0, 1))


def require_int8_tensor(op: OpView, tensor: Tensor | None, role: str) -> Tensor:
    """An int8 tensor with one scale (constant or not)."""
    op.require(tensor is not None, f"missing {role}")
    op.require_types(tensor, "INT8")
    op.require(len(tensor.info.scales) <= 1, f"{role} '{tensor.info.name}' is quantized per "
                                             f"channel; only per-tensor scales are supported")
    return tensor


def require_int8_activation(op: OpView, tensor: Tensor | None, role: str) -> None:
    require_int8_tensor(op, tensor, role)
    op.require(not tensor.is_constant, f"{role} '{tensor.info.name}' is constant; the built-in "
                                       f"runtime expects an activation there")


def fused_activation_range(op: OpView, activation: int, output: Tensor) -> tuple[int, int]:
    try:
        return activation_range(activation, output.scale, output.zero_point)
    except ValueError:
        raise op.fail(f"fused activation {ACTIVATION_NAMES.get(activation, activation)} is not "
                      f"supported") from None


def nhwc(op: OpView, tensor: Tensor, role: str) -> tuple[int, int, int, int]:
    op.require(len(tensor.shape) == 4, f"{role} must be 4-D (NHWC), got shape "
                                       f"{list(tensor.shape)}")
    return tuple(tensor.shape)
