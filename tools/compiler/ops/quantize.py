"""QUANTIZE (int8 -> int8, float32 -> int8) and DEQUANTIZE (int8 -> float32), per tensor.

The float forms appear around a "float island" (int8 -> DEQUANTIZE -> float shape ops ->
QUANTIZE -> int8); the planner sizes float32 activations like any other.
"""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    requantization,
    require_int8_activation,
    require_same_shape,
)
from tinyml_pipeline.tools.compiler.quantization import f32, quantize_multiplier

HEADER = "tinyml/op_quantize.h"
MAX_LEFT_SHIFT = 30  # beyond this TFLM's x * (1 << shift) is undefined behaviour


def _require_float_activation(op: OpView, tensor: Tensor | None, role: str) -> None:
    op.require(tensor is not None, f"{role} is missing")
    op.require(not tensor.is_constant, f"{role} '{tensor.info.name}' is constant; the built-in "
                                       f"runtime expects an activation there")
    op.require_types(tensor, "FLOAT32")


def requantize_multiplier(op: OpView, input_scale: float, output_scale: float
                          ) -> tuple[int, int]:
    """PrepareQuantizeReference: QuantizeMultiplier of input_scale / output_scale in double.
    Equal scales give (2^30, 1), which Requantize's generic path maps to the identity."""
    significand, shift = requantization(
        op, "requantization", quantize_multiplier,
        float(f32(input_scale)) / float(f32(output_scale)))
    op.require(shift <= MAX_LEFT_SHIFT, f"input/output scale ratio {input_scale / output_scale:g} "
                                        f"is too large to requantize")
    return significand, shift


def _elements(op: OpView, source: Tensor, output: Tensor) -> int:
    require_same_shape(op, source, output)
    return source.size


def affine_layer(op: OpView, kernel: str, source: Tensor, output: Tensor,
                 in_place_ok: bool) -> Layer:
    """A float32 <-> integer QUANTIZE or DEQUANTIZE: the integer side's scale and zero point."""
    integer = source if op.name == "DEQUANTIZE" else output
    return Layer(
        op=op.name, op_index=op.index, kernel=kernel,
        params_type="tinyml_affine_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("size", _elements(op, source, output)),
                # AffineQuantize divides by the scale cast back to float: exact float32.
                ("scale", float(f32(integer.scale))), ("zero_point", integer.zero_point)],
        reads=(source.index,), writes=(output.index,), in_place_ok=in_place_ok)


def requantize_layer(op: OpView, kernel: str, source: Tensor, output: Tensor,
                     in_place_ok: bool) -> Layer:
    """An integer -> integer QUANTIZE."""
    multiplier, shift = requantize_multiplier(op, source.scale, output.scale)
    return Layer(
        op="QUANTIZE", op_index=op.index, kernel=kernel,
        params_type="tinyml_requantize_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("size", _elements(op, source, output)),
                ("input_zero_point", source.zero_point),
                ("output_zero_point", output.zero_point),
                ("multiplier", multiplier), ("shift", shift)],
        reads=(source.index,), writes=(output.index,), in_place_ok=in_place_ok)


@lowering("QUANTIZE")
def lower_quantize(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, output, "output")
    if source is not None and source.type_name == "FLOAT32":
        _require_float_activation(op, source, "input")
        # op_quantize.c writes int8 output[i] after reading float input[i], in increasing
        # i: byte i lies below input element i + 1 (bytes 4i + 4 ..), so nothing still to
        # be read is overwritten.
        return affine_layer(op, "tinyml_quantize_f32_s8", source, output, in_place_ok=True)
    require_int8_activation(op, source, "input")
    # op_quantize.c computes int8 output[i] from int8 input[i] only, in increasing i.
    return requantize_layer(op, "tinyml_quantize_s8_s8", source, output, in_place_ok=True)


@lowering("DEQUANTIZE")
def lower_dequantize(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    _require_float_activation(op, output, "output")
    # Not in place: float output[0] (bytes 0 .. 3) would overwrite input[1 .. 3] unread.
    return affine_layer(op, "tinyml_dequantize_s8_f32", source, output, in_place_ok=False)
