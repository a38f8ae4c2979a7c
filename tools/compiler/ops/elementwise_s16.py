"""ADD and MUL with int16 inputs and output (16x8 models), broadcasting, fused activation,
constant or activation operands; the int8 forms' loop nest and params structs."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Layer
from tinyml_pipeline.tools.compiler.ops import lowering_s16
from tinyml_pipeline.tools.compiler.ops.common import requantization, require_shifts
from tinyml_pipeline.tools.compiler.ops.common_s16 import (
    fused_activation_range_s16,
    require_int16_tensor,
)
from tinyml_pipeline.tools.compiler.ops.elementwise import (
    _activation_reads,
    _fused_activation,
    binary_operands,
    mul_layer,
)
from tinyml_pipeline.tools.compiler.quantization import f32, quantize_multiplier_smaller_than_one

HEADER = "tinyml/op_elementwise_s16.h"
ADD_LEFT_SHIFT_S16 = 15  # TFLM's headroom for int16 ADD: 2^15 * 2^15 stays within int32


def add_multipliers_s16(scale1: float, scale2: float, output_scale: float
                        ) -> list[tuple[int, int]]:
    """CalculateOpDataAdd for int16: ADD's rescaling in double with a left shift of 15."""
    twice_max = 2.0 * float(max(f32(scale1), f32(scale2)))
    reals = (float(f32(scale1)) / twice_max, float(f32(scale2)) / twice_max,
             twice_max / ((1 << ADD_LEFT_SHIFT_S16) * float(f32(output_scale))))
    return [quantize_multiplier_smaller_than_one(real) for real in reals]


def _require_int16_output(op: OpView, tensor, role: str):
    output = require_int16_tensor(op, tensor, role)
    op.require(not output.is_constant, "the output is constant")
    return output


def _binary_operands_s16(op: OpView):
    return binary_operands(op, require_int16_tensor, _require_int16_output)


@lowering_s16("ADD")
def lower_add_s16(op: OpView) -> Layer:
    input1, input2, output, fields = _binary_operands_s16(op)
    (m1, s1), (m2, s2), (mo, so) = requantization(
        op, "scales (TFLM's int16 ADD rescaling)", add_multipliers_s16, input1.scale,
        input2.scale, output.scale)
    require_shifts(op, "requantization", [m1, m2, mo], [s1, s2, so])
    act_min, act_max = fused_activation_range_s16(op, _fused_activation(op), output)
    fields += [("input1_offset", 0), ("input2_offset", 0), ("output_offset", 0),
               ("left_shift", ADD_LEFT_SHIFT_S16),
               ("input1_multiplier", m1), ("input1_shift", s1),
               ("input2_multiplier", m2), ("input2_shift", s2),
               ("output_multiplier", mo), ("output_shift", so),
               ("act_min", act_min), ("act_max", act_max)]
    return Layer(op="ADD", op_index=op.index, kernel="tinyml_add_s16",
                 params_type="tinyml_add_s16_params", header=HEADER, fields=fields,
                 reads=_activation_reads(input1, input2), writes=(output.index,))


@lowering_s16("MUL")
def lower_mul_s16(op: OpView) -> Layer:
    return mul_layer(op, _binary_operands_s16(op), "tinyml_mul_s16", HEADER,
                     fused_activation_range_s16)
