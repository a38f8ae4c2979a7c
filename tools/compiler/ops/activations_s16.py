"""LOGISTIC, TANH and SOFTMAX with int16 input and output (16x8 models): TFLM's rescaling of
the input to its tables' format; LOGISTIC's and TANH's table measured from tflite_micro
(sigmoid_table.py), SOFTMAX's computed as TFLM's Prepare does (lut_s16.py)."""

from __future__ import annotations

import math

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Offset
from tinyml_pipeline.tools.compiler.lut_s16 import softmax_tables
from tinyml_pipeline.tools.compiler.ops import lowering_s16
from tinyml_pipeline.tools.compiler.ops.common import (
    requantization,
    require_same_shape,
    require_shifts,
)
from tinyml_pipeline.tools.compiler.ops.common_s16 import require_int16_activation
from tinyml_pipeline.tools.compiler.quantization import f32, quantize_multiplier

HEADER = "tinyml/op_activations_s16.h"
INPUT_INTEGER_BITS = 3  # the table's input format: Q3.12 times 3 (+-10.7)
OUTPUT_LOG2 = -15
LOG2_TOLERANCE = 1e-3
INT32_LIMIT = 1 << 31


def checked_log2(op: OpView, scale: float, role: str) -> tuple[int, bool]:
    """CheckedLog2: log2 of the float32 scale rounded, and whether it is within 1e-3 of that
    integer, computed in float32 as TFLM does. A scale whose distance lies within float
    rounding of the tolerance could go either way on another libm, so it is refused."""
    with np.errstate(all="ignore"):
        value = np.float32(np.log(np.float32(scale))) * (np.float32(1.0)
                                                        / np.float32(np.log(np.float32(2.0))))
    rounded = math.copysign(math.floor(abs(float(value)) + 0.5), float(value))
    fraction = abs(float(np.float32(value - np.float32(rounded))))
    op.require(abs(fraction - LOG2_TOLERANCE) > 1e-5,
               f"{role} scale {scale} is too close to TFLM's power-of-two tolerance to decide")
    return int(rounded), fraction < LOG2_TOLERANCE


def input_rescaling(op: OpView, scale: float, pot_shifts: tuple[int, ...]) -> tuple[int, int]:
    """(multiplier, shift) the kernel applies as (x * multiplier + round) >> shift: TFLM's
    power-of-two case (multiplier 0, turned into 3 << shift by the kernel) when the scale is
    2^(k - 12) for k in `pot_shifts`, else 3 * 4096 * scale doubled up to above 2^14."""
    log2, is_pot = checked_log2(op, scale, "input")
    shift = (15 - INPUT_INTEGER_BITS) + log2
    if is_pot and shift in pot_shifts:
        return 3 << shift, 0
    real, shift = float(np.float32(scale)) * 4096.0 * 3.0, 0
    while real <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        real *= 2.0
    multiplier = int(real)
    op.require(multiplier <= 32767, f"input scale {scale} is too large for TFLM's int16 "
                                    f"table lookup (multiplier {multiplier} > 32767)")
    op.require(32768 * multiplier + (1 << shift >> 1) < INT32_LIMIT,
               f"input scale {scale} is too small for TFLM's int16 rescaling (shift {shift})")
    return multiplier, shift


def _lower(op: OpView, kernel: str, pot_shifts: tuple[int, ...]) -> Layer:
    from tinyml_pipeline.tools.compiler.sigmoid_table import measured_sigmoid_table

    op.require(op.input_count == 1, f"expected 1 input, got {op.input_count}")
    source, output = op.input(0), op.output()
    require_int16_activation(op, source, "input")
    require_int16_activation(op, output, "output")
    require_same_shape(op, source, output)
    log2, is_pot = checked_log2(op, output.scale, "output")
    op.require(is_pot and log2 == OUTPUT_LOG2,
               f"output scale {output.scale} is not 2^{OUTPUT_LOG2}, which TFLM requires")
    multiplier, shift = input_rescaling(op, source.scale, pot_shifts)
    return Layer(
        op=op.name, op_index=op.index, kernel=kernel,
        params_type="tinyml_sigmoid_s16_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("size", source.size), ("multiplier", multiplier), ("shift", shift),
                ("table", Const("uint16_t", measured_sigmoid_table(), "sigmoid_table"))],
        reads=(source.index,), writes=(output.index,),
        # Element i is read, then written, in increasing i.
        in_place_ok=True)


@lowering_s16("LOGISTIC")
def lower_logistic_s16(op: OpView) -> Layer:
    return _lower(op, "tinyml_logistic_s16", pot_shifts=(0,))


@lowering_s16("TANH")
def lower_tanh_s16(op: OpView) -> Layer:
    return _lower(op, "tinyml_tanh_s16", pot_shifts=(0, 1))


SOFTMAX_MAX_DEPTH = 65537  # the row's sum of exps, each up to 32767, must fit int32
OUTPUT_SCALE_S16 = 1.0 / 32768


@lowering_s16("SOFTMAX")
def lower_softmax_s16(op: OpView) -> Layer:
    options = op.options_of("SoftmaxOptionsT", required=False)
    beta = float(f32(options.beta)) if options is not None else 1.0
    op.require(op.input_count == 1, f"expected 1 input, got {op.input_count}")
    source, output = op.input(0), op.output()
    require_int16_activation(op, source, "input")
    require_int16_activation(op, output, "output")
    require_same_shape(op, source, output)
    op.require(abs(float(f32(output.scale)) - OUTPUT_SCALE_S16) <= 0.001 * OUTPUT_SCALE_S16,
               f"output scale {output.scale} is not 1/32768, which TFLM requires")
    op.require(math.isfinite(beta) and beta > 0, f"beta {beta} is not a positive number")
    depth = source.shape[-1]
    op.require(depth <= SOFTMAX_MAX_DEPTH, f"a row of {depth} values is beyond the int32 sum "
                                           f"of exps ({SOFTMAX_MAX_DEPTH} at most)")
    # CalculateSoftmaxParams: input differences of [-65535, 0] steps to [-10, 0].
    multiplier, shift = requantization(
        op, "input scale * beta", quantize_multiplier,
        float(f32(source.scale)) * beta / (10.0 / 65535.0))
    require_shifts(op, "input scale * beta", [multiplier], [shift])
    exp_table, reciprocal_table = softmax_tables()
    return Layer(
        op="SOFTMAX", op_index=op.index, kernel="tinyml_softmax_s16",
        params_type="tinyml_softmax_s16_params", header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("outer", source.size // depth), ("depth", depth),
                ("input_multiplier", multiplier), ("input_shift", shift),
                ("exp_table", Const("int16_t", exp_table, "exp_table")),
                ("reciprocal_table", Const("int16_t", reciprocal_table, "reciprocal_table"))],
        reads=(source.index,), writes=(output.index,))
