"""ADD, SUB and MUL (int8, with a fused activation) and MAXIMUM and MINIMUM (int8), with
broadcasting between the two inputs.

TFLM's int8 ADD and MUL compute every element with the same function whether or not the shapes
broadcast (the broadcast path only changes the indexing), so the runtime runs one kernel over a
broadcast loop nest that the compiler has already collapsed."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Offset, Operand
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    fused_activation_range,
    requantization,
    require_int8_tensor,
    require_shifts,
)
from tinyml_pipeline.tools.compiler.quantization import (
    f32,
    quantize_multiplier,
    quantize_multiplier_smaller_than_one,
)

HEADER = "tinyml/op_elementwise.h"
MAX_RANK = 6  # TINYML_MAX_RANK
ADD_LEFT_SHIFT = 20  # TFLM's headroom for int8 ADD (15 is the int16 one)


def add_multipliers(scale1: float, scale2: float, output_scale: float
                    ) -> list[tuple[int, int]]:
    """CalculateOpDataAdd: both inputs rescaled to twice the larger input scale, in double;
    the larger of the two float32 scales is picked before widening."""
    twice_max = 2.0 * float(max(f32(scale1), f32(scale2)))
    reals = (float(f32(scale1)) / twice_max, float(f32(scale2)) / twice_max,
             twice_max / ((1 << ADD_LEFT_SHIFT) * float(f32(output_scale))))
    return [quantize_multiplier_smaller_than_one(real) for real in reals]


def sub_multipliers(scale1: float, scale2: float, output_scale: float
                    ) -> list[tuple[int, int]]:
    """CalculateOpDataSub: ADD's rescaling, but formed in float32 (twice the larger scale, both
    ratios, and 2^20 times the output scale), each result then widened to double."""
    twice_max = f32(2.0) * max(f32(scale1), f32(scale2))
    reals = (f32(scale1) / twice_max, f32(scale2) / twice_max,
             twice_max / (f32(1 << ADD_LEFT_SHIFT) * f32(output_scale)))
    return [quantize_multiplier_smaller_than_one(float(real)) for real in reals]


def mul_multiplier(scale1: float, scale2: float, output_scale: float) -> tuple[int, int]:
    """CalculateOpDataMul: s1 * s2 / s_out with every operand widened to double first."""
    return quantize_multiplier(float(f32(scale1)) * float(f32(scale2)) / float(f32(output_scale)))


def _strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """Element strides of an input for each output axis; 0 where it broadcasts."""
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, step = [0] * len(out_shape), 1
    for axis in reversed(range(len(out_shape))):
        strides[axis] = step if padded[axis] != 1 else 0
        step *= padded[axis]
    return strides


def broadcast_loops(shape1, shape2, out_shape) -> tuple[list[int], list[int], list[int]]:
    """The output loop nest (dims outermost first, padded to MAX_RANK) and each input's stride
    per loop. Size-1 axes are dropped and neighbours that step alike are fused, so equal
    shapes become one flat loop."""
    s1, s2 = _strides(shape1, out_shape), _strides(shape2, out_shape)
    dims, strides1, strides2 = [], [], []
    for dim, a, b in zip(out_shape, s1, s2, strict=True):
        if dim == 1:
            continue
        if dims and strides1[-1] == a * dim and strides2[-1] == b * dim:
            dims[-1] *= dim
            strides1[-1], strides2[-1] = a, b
        else:
            dims.append(dim)
            strides1.append(a)
            strides2.append(b)
    pad = MAX_RANK - len(dims)
    return [1] * pad + dims, [0] * pad + strides1, [0] * pad + strides2


def _broadcast_shape(op: OpView, shape1, shape2) -> tuple[int, ...]:
    rank = max(len(shape1), len(shape2))
    a = (1,) * (rank - len(shape1)) + tuple(shape1)
    b = (1,) * (rank - len(shape2)) + tuple(shape2)
    op.require(all(x == y or 1 in (x, y) for x, y in zip(a, b, strict=True)),
               f"input shapes {list(shape1)} and {list(shape2)} do not broadcast")
    return tuple(max(x, y) for x, y in zip(a, b, strict=True))


def binary_operands(op: OpView, require_tensor=require_int8_tensor, require_output=None
                    ) -> tuple[Tensor, Tensor, Tensor, list]:
    """The two inputs and the output, checked (by `require_tensor`, the output by
    `require_output` if given: the int16 forms differ there), and the shared broadcast
    fields."""
    op.require(op.input_count == 2, f"expected 2 inputs, got {op.input_count}")
    input1 = require_tensor(op, op.input(0), "input 1")
    input2 = require_tensor(op, op.input(1), "input 2")
    output = (require_output or require_tensor)(op, op.output(), "output")
    op.require(len(output.shape) <= MAX_RANK, f"rank {len(output.shape)} is above {MAX_RANK}")
    expected = _broadcast_shape(op, input1.shape, input2.shape)
    op.require(tuple(output.shape) == expected,
               f"output shape {list(output.shape)} is not the broadcast shape {list(expected)}")
    dims, strides1, strides2 = broadcast_loops(input1.shape, input2.shape, output.shape)
    fields = [("input1", Operand(input1.index)), ("input2", Operand(input2.index)),
              ("output", Offset(output.index)), ("dims", dims),
              ("input1_strides", strides1), ("input2_strides", strides2)]
    return input1, input2, output, fields


def _fused_activation(op: OpView) -> int:
    """The options table may be absent, meaning its defaults (no activation)."""
    options = op.options_of(f"{op.name.capitalize()}OptionsT", required=False)
    return options.fusedActivationFunction if options is not None else 0


def _activation_reads(*tensors: Tensor) -> tuple[int, ...]:
    return tuple(dict.fromkeys(t.index for t in tensors if not t.is_constant))


INT32_MIN, INT32_LIMIT = -(1 << 31), 1 << 31


def _wrap32(value: int) -> int:
    return (value + INT32_LIMIT) % (1 << 32) - INT32_LIMIT


def _rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul, as tinyml_rounding_doubling_high_mul."""
    if a == b == INT32_MIN:
        return INT32_LIMIT - 1
    product = a * b
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    quotient = abs(total) >> 31  # C's division truncates toward zero
    return _wrap32(quotient if total >= 0 else -quotient)


def _rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def add_input_table(offset: int, multiplier: int, shift: int) -> np.ndarray:
    """TFLM's int8 ADD/SUB input rescaling, MultiplyByQuantizedMultiplierSmallerThanOne of
    (x + offset) * 2^20, for every int8 x, at index x + 128: the kernel looks it up instead of
    computing it per element."""
    return np.array([_rounding_divide_by_pot(
        _rounding_doubling_high_mul(_wrap32((x + offset) << ADD_LEFT_SHIFT), multiplier), -shift)
        for x in range(-128, 128)], dtype=np.int64)


def add_output_stage(raw_bound: int, multiplier: int, shift: int, output_offset: int
                     ) -> tuple[int, int, int]:
    """The DSP kernel's output stage (the one op_conv.h's tinyml_output_stage_fast documents):
    (2M - 2^32, 2^(s-1) + output_offset * 2^s, s) with s = -shift, giving TFLM's
    MultiplyByQuantizedMultiplierSmallerThanOne plus the output offset for every sum of two
    table entries (|sum| <= raw_bound); (0, 0, 0), the general path, where it would not: a
    multiplier below 2^30, no right shift, or a sum that overflows int32."""
    right = -shift
    if multiplier < (1 << 30) or right < 1 or raw_bound >= INT32_LIMIT:
        return 0, 0, 0
    rounding = (1 << (right - 1)) + output_offset * (1 << right)
    high_bound = raw_bound * multiplier // INT32_LIMIT + 1  # |round(raw * M / 2^31)|
    if high_bound + abs(rounding) + 1 >= INT32_LIMIT:
        return 0, 0, 0
    return 2 * multiplier - (1 << 32), rounding, right


@lowering("ADD", "SUB")
def lower_add_or_sub(op: OpView) -> Layer:
    """SUB shares ADD's parameters (tinyml_add_params) and kernel: its input2 table holds the
    negated rescaled values (a - b and a + (-b) agree modulo 2^32, the entries being far from
    INT32_MIN); the float precision of the multipliers differs."""
    input1, input2, output, fields = binary_operands(op)
    # TFLM's Prepare would stop on the same CHECK of a multiplier not below one.
    multipliers = add_multipliers if op.name == "ADD" else sub_multipliers
    (m1, s1), (m2, s2), (mo, so) = requantization(
        op, f"scales (TFLM's int8 {op.name} rescaling)", multipliers, input1.scale,
        input2.scale, output.scale)
    require_shifts(op, "requantization", [m1, m2, mo], [s1, s2, so])
    act_min, act_max = fused_activation_range(op, _fused_activation(op), output)
    table1 = add_input_table(-input1.zero_point, m1, s1)
    table2 = add_input_table(-input2.zero_point, m2, s2)
    if op.name == "SUB":
        table2 = -table2
    # 1 KB of flash per table (2 KB per layer), for about 8 times fewer instructions.
    raw_bound = int(np.abs(table1).max()) + int(np.abs(table2).max())
    stage = add_output_stage(raw_bound, mo, so, output.zero_point)
    fields += [("input1_table", Const("int32_t", table1.astype(np.int32), "input1_table")),
               ("input2_table", Const("int32_t", table2.astype(np.int32), "input2_table")),
               ("output_offset", output.zero_point),
               ("output_multiplier", mo), ("output_shift", so),
               ("stage_multiplier", stage[0]), ("stage_rounding", stage[1]),
               ("stage_shift", stage[2]),
               ("act_min", act_min), ("act_max", act_max)]
    return Layer(op=op.name, op_index=op.index, kernel="tinyml_add_s8",
                 params_type="tinyml_add_params", header=HEADER, fields=fields,
                 reads=_activation_reads(input1, input2), writes=(output.index,),
                 # op_add.c writes output[i] after reading both inputs' element i, in output
                 # order, so the output may take the place of an input of its own size (not
                 # broadcast: its element i is the output's); the planner checks the size.
                 in_place_ok=True)


def mul_layer(op: OpView, operands, kernel: str, header: str, activation_range) -> Layer:
    """MUL of `operands` (binary_operands'): the int8 and int16 forms differ in the clamp's
    range (`activation_range`), the kernel and its header (int16 zero points are 0)."""
    input1, input2, output, fields = operands
    multiplier, shift = requantization(op, "requantization", mul_multiplier, input1.scale,
                                       input2.scale, output.scale)
    require_shifts(op, "requantization", [multiplier], [shift])
    act_min, act_max = activation_range(op, _fused_activation(op), output)
    fields += [("input1_offset", -input1.zero_point), ("input2_offset", -input2.zero_point),
               ("output_offset", output.zero_point), ("output_multiplier", multiplier),
               ("output_shift", shift), ("act_min", act_min), ("act_max", act_max)]
    return Layer(op="MUL", op_index=op.index, kernel=kernel,
                 params_type="tinyml_mul_params", header=header, fields=fields,
                 reads=_activation_reads(input1, input2), writes=(output.index,))


@lowering("MUL")
def lower_mul(op: OpView) -> Layer:
    return mul_layer(op, binary_operands(op), "tinyml_mul_s8", HEADER, fused_activation_range)


@lowering("MAXIMUM", "MINIMUM")
def lower_maximum_minimum(op: OpView) -> Layer:
    """TFLM compares the stored int8 bytes, whatever the quantization (the converter gives the
    inputs and the output one scale and zero point); so does the kernel."""
    input1, input2, output, fields = binary_operands(op)
    return Layer(op=op.name, op_index=op.index, kernel=f"tinyml_{op.name.lower()}_s8",
                 params_type="tinyml_maximum_minimum_params", header=HEADER, fields=fields,
                 reads=_activation_reads(input1, input2), writes=(output.index,))
