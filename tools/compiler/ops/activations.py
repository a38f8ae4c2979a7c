"""SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU and HARD_SWISH (int8 in, int8 out).

The prepare-time arithmetic of each TFLM kernel is mirrored here, with TFLM's mix of float32
and float64: a tensor scale or beta is a float32 widened to double before use, except where TFLM
divides in float32 first (RELU's and LEAKY_RELU's scale ratios, RELU6's 6 / scale)."""

from __future__ import annotations

import math

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    requantization,
    require_int8_activation,
    require_same_shape,
    require_shifts,
)
from tinyml_pipeline.tools.compiler.quantization import (
    INT8_MAX,
    INT8_MIN,
    f32,
    quantize_multiplier,
    round_half_away,
)

HEADER = "tinyml/op_activations.h"

# Integer bits of the fixed-point formats TFLM's int8 kernels use (kScaledDiffIntegerBits in
# softmax, kInputIntegerBits in logistic and tanh).
SOFTMAX_DIFF_INTEGER_BITS = 5
SIGMOID_INPUT_INTEGER_BITS = 4


def input_radius(integer_bits: int, left_shift: int) -> int:
    """CalculateInputRadius (total_signed_bits 31): the largest input difference whose rescaled
    value still fits the fixed-point format, floor'ed in double."""
    return math.floor(1.0 * ((1 << integer_bits) - 1) * (1 << (31 - integer_bits))
                      / (1 << left_shift))


def softmax_input_scaling(beta: float, input_scale: float) -> tuple[int, int, int] | None:
    """PreprocessSoftmaxScaling and the diff_min of CalculateSoftmaxParams: returns
    (multiplier, left_shift, diff_min), or None where TFLM's check of a multiplier above 1
    would fail."""
    scale_to_q5 = float(1 << (31 - SOFTMAX_DIFF_INTEGER_BITS))
    real = float(f32(beta)) * float(f32(input_scale)) * scale_to_q5
    real = min(real, float((1 << 31) - 1))
    if not real > 1.0:
        return None
    multiplier, left_shift = quantize_multiplier(real)
    return multiplier, left_shift, -input_radius(SOFTMAX_DIFF_INTEGER_BITS, left_shift)


def sigmoid_input_scaling(input_scale: float) -> tuple[int, int, int]:
    """The int8 Prepare of LOGISTIC and TANH: input_scale * 2^27 (double) split by frexp, the
    significand rounded without QuantizeMultiplier's renormalization; returns (multiplier,
    left_shift, radius). ValueError for a scale whose shift leaves 0 to 31, where TFLM's own
    Prepare would shift by a negative amount or past 31 bits."""
    real = float(f32(input_scale)) * float(1 << (31 - SIGMOID_INPUT_INTEGER_BITS))
    fraction, left_shift = math.frexp(real)
    if not 0 <= left_shift <= 31:
        raise ValueError(f"input scale {input_scale} is outside the 2^-28 to 16 the int8 kernel "
                         f"handles")
    multiplier = int(round_half_away(fraction * (1 << 31)))
    return multiplier, left_shift, input_radius(SIGMOID_INPUT_INTEGER_BITS, left_shift)


def relu_requantization(input_scale: float, output_scale: float) -> tuple[int, int]:
    """CalculateReluOpData: the scale ratio is divided in float32, then quantized in double."""
    with np.errstate(over="ignore"):  # an infinite ratio is refused by quantize_multiplier
        ratio = float(f32(input_scale) / f32(output_scale))
    return quantize_multiplier(ratio)


def leaky_relu_multipliers(input_scale: float, alpha: float, output_scale: float
                           ) -> tuple[tuple[int, int], tuple[int, int]]:
    """CalculateOpDataLeakyRelu: input scale / output scale and input scale * alpha / output
    scale, each formed in float32 (left to right), then quantized in double; returns the
    identity's and alpha's (multiplier, shift)."""
    identity = f32(input_scale) / f32(output_scale)
    scaled_alpha = f32(input_scale) * f32(alpha) / f32(output_scale)
    return quantize_multiplier(float(identity)), quantize_multiplier(float(scaled_alpha))


# HARD_SWISH's fixed-point exponents that its int16 kernel shifts by: gemmlowp's int16
# RoundingDivideByPOT and the saturating left shift are only exact within an int16's 15 bits.
HARD_SWISH_MAX_EXPONENT = 15


def downscale_to_int16(multiplier: int) -> int:
    """DownScaleInt32ToInt16Multiplier: the top 16 bits, rounded; saturates near the top."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (multiplier + (1 << 15)) >> 16


def hard_swish_multipliers(input_scale: float, output_scale: float
                           ) -> tuple[tuple[int, int], tuple[int, int]]:
    """HardSwishPrepare: the input on a scale 128 times finer ((1/128) * input scale, float32),
    divided in float32 by the output scale and by the 'reluish' scale 3/32768, each quantized in
    double and cut to an int16 multiplier; returns the output's and the reluish (multiplier,
    exponent)."""
    hires = f32(1.0 / 128.0) * f32(input_scale)
    output, output_exponent = quantize_multiplier(float(hires / f32(output_scale)))
    reluish, reluish_exponent = quantize_multiplier(float(hires / (f32(3.0) / f32(32768.0))))
    return ((downscale_to_int16(output), output_exponent),
            (downscale_to_int16(reluish), reluish_exponent))


def relu6_bounds(input_scale: float, zero_point: int) -> tuple[int, int] | None:
    """Relu6Prepare: zero and FloatToQuantizedType(6.0f) in the input's quantization (6/scale
    divided in float32); None where that value would overflow TFLM's int32."""
    with np.errstate(over="ignore"):  # an overflow to inf is refused just below
        quotient = float(f32(6.0) / f32(input_scale))
    # Compared before rounding: an infinite quotient (a scale near 1e-45) cannot be rounded.
    if not abs(quotient) < 2.0 ** 31 - 256:
        return None
    steps = round_half_away(quotient)
    return zero_point, max(INT8_MIN, min(INT8_MAX, int(steps) + zero_point))


def _elementwise_io(op: OpView) -> tuple[Tensor, Tensor]:
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    # TFLM's activations resize the output to the input's shape; one stored otherwise is a
    # corrupted model (and would size the buffers differently).
    require_same_shape(op, source, output)
    return source, output


def _layer(op: OpView, kernel: str, params_type: str, source: Tensor, output: Tensor,
           fields: list[tuple[str, object]]) -> Layer:
    return Layer(op=op.name, op_index=op.index, kernel=kernel, params_type=params_type,
                 header=HEADER,
                 fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                         *fields],
                 reads=(source.index,), writes=(output.index,),
                 # Every kernel here (op_relu.c, op_logistic.c, op_tanh.c) computes int8
                 # output[i] from int8 input[i] only, in increasing i, so writing over the input
                 # destroys nothing still to be read. Softmax (op_softmax.c) takes rows in
                 # order; within a row it reads the row twice before writing it, then writes
                 # out[c] after reading in[c], and rows do not overlap.
                 in_place_ok=True)


@lowering("SOFTMAX")
def lower_softmax(op: OpView) -> Layer:
    options = op.options_of("SoftmaxOptionsT")
    source, output = _elementwise_io(op)
    op.require(len(source.shape) >= 1, "softmax needs at least one axis")
    _require_output_quantization(op, output, 1.0 / 256, INT8_MIN, "1/256")
    beta = options.beta
    op.require(math.isfinite(beta) and beta > 0, f"beta {beta} is not a finite positive number")
    scaling = softmax_input_scaling(beta, source.scale)
    op.require(scaling is not None, f"beta {beta} times input scale {source.scale} is too "
                                    f"small for TFLM's int8 softmax (needs > 2^-26)")
    multiplier, left_shift, diff_min = scaling
    require_shifts(op, "input scaling", [multiplier], [left_shift], 0, 31)
    depth = source.shape[-1]
    return _layer(op, "tinyml_softmax_s8", "tinyml_softmax_params", source, output,
                  [("outer_size", source.size // depth), ("depth", depth),
                   ("input_multiplier", multiplier), ("input_left_shift", left_shift),
                   ("diff_min", diff_min)])


def _lower_sigmoid_like(op: OpView, kernel: str, params_type: str) -> Layer:
    source, output = _elementwise_io(op)
    # The kernels write their fixed output quantization whatever the tensor says; a tensor
    # saying otherwise is refused rather than misread.
    if op.name == "LOGISTIC":
        _require_output_quantization(op, output, 1.0 / 256, INT8_MIN, "1/256")
    else:
        _require_output_quantization(op, output, 1.0 / 128, 0, "1/128")
    multiplier, left_shift, radius = requantization(op, "input scaling", sigmoid_input_scaling,
                                                    source.scale)
    return _layer(op, kernel, params_type, source, output,
                  [("size", source.size), ("input_zero_point", source.zero_point),
                   ("input_range_radius", radius), ("input_multiplier", multiplier),
                   ("input_left_shift", left_shift)])


def _require_output_quantization(op: OpView, output: Tensor, scale: float, zero_point: int,
                                 scale_text: str) -> None:
    op.require(output.zero_point == zero_point,
               f"output zero point {output.zero_point} is not the {zero_point} that TFLM's int8 "
               f"{op.name} writes")
    op.require(f32(output.scale) == f32(scale),
               f"output scale {output.scale} is not the {scale_text} that TFLM's int8 {op.name} "
               f"writes")


@lowering("LOGISTIC")
def lower_logistic(op: OpView) -> Layer:
    # TFLM checks the output zero point and assumes the scale 1/256 the converter writes.
    return _lower_sigmoid_like(op, "tinyml_logistic_s8", "tinyml_logistic_params")


@lowering("TANH")
def lower_tanh(op: OpView) -> Layer:
    # TFLM checks nothing of the output's quantization and writes tanh at scale 1/128, zero
    # point 0 (what the converter always chooses); a tensor claiming another is refused.
    return _lower_sigmoid_like(op, "tinyml_tanh_s8", "tinyml_tanh_params")


@lowering("RELU")
def lower_relu(op: OpView) -> Layer:
    source, output = _elementwise_io(op)
    multiplier, shift = requantization(op, "requantization", relu_requantization, source.scale,
                                       output.scale)
    require_shifts(op, "requantization", [multiplier], [shift])
    # TFLM's act_min is zero_point + roundf(0.0f / scale), i.e. the zero point.
    return _layer(op, "tinyml_relu_s8", "tinyml_relu_params", source, output,
                  [("size", source.size), ("input_offset", source.zero_point),
                   ("output_offset", output.zero_point), ("output_multiplier", multiplier),
                   ("output_shift", shift), ("act_min", max(INT8_MIN, output.zero_point)),
                   ("act_max", INT8_MAX)])


@lowering("RELU6")
def lower_relu6(op: OpView) -> Layer:
    source, output = _elementwise_io(op)
    bounds = relu6_bounds(source.scale, source.zero_point)
    op.require(bounds is not None, f"input scale {source.scale} is too small for 6.0 to be "
                                   f"quantized")
    lower, upper = bounds
    return _layer(op, "tinyml_relu6_s8", "tinyml_relu6_params", source, output,
                  [("size", source.size), ("lower", lower), ("upper", upper)])



@lowering("LEAKY_RELU")
def lower_leaky_relu(op: OpView) -> Layer:
    source, output = _elementwise_io(op)
    # An absent options table means TFLite's default alpha, 0.2.
    options = op.options_of("LeakyReluOptionsT", required=False)
    alpha = options.alpha if options is not None else 0.2
    op.require(math.isfinite(alpha) and alpha >= 0,
               f"alpha {alpha} is not a finite number >= 0 (a negative alpha is not supported)")
    (identity, identity_shift), (scaled_alpha, alpha_shift) = requantization(
        op, "requantization", leaky_relu_multipliers, source.scale, alpha, output.scale)
    require_shifts(op, "requantization", [identity, scaled_alpha],
                   [identity_shift, alpha_shift])
    return _layer(op, "tinyml_leaky_relu_s8", "tinyml_leaky_relu_params", source, output,
                  [("size", source.size), ("input_offset", source.zero_point),
                   ("output_offset", output.zero_point),
                   ("identity_multiplier", identity), ("identity_shift", identity_shift),
                   ("alpha_multiplier", scaled_alpha), ("alpha_shift", alpha_shift)])


@lowering("HARD_SWISH")
def lower_hard_swish(op: OpView) -> Layer:
    source, output = _elementwise_io(op)
    (out_multiplier, out_exponent), (reluish, reluish_exponent) = hard_swish_multipliers(
        source.scale, output.scale)
    # TFLM's Prepare requires a right shift for the output; both shifts must stay in int16.
    op.require(-HARD_SWISH_MAX_EXPONENT <= out_exponent <= 0,
               f"input scale {source.scale} over output scale {output.scale} gives an output "
               f"exponent {out_exponent} outside [-{HARD_SWISH_MAX_EXPONENT}, 0]")
    op.require(abs(reluish_exponent) <= HARD_SWISH_MAX_EXPONENT,
               f"input scale {source.scale} gives a reluish exponent {reluish_exponent} outside "
               f"[-{HARD_SWISH_MAX_EXPONENT}, {HARD_SWISH_MAX_EXPONENT}]")
    return _layer(op, "tinyml_hard_swish_s8", "tinyml_hard_swish_params", source, output,
                  [("size", source.size), ("input_zero_point", source.zero_point),
                   ("output_zero_point", output.zero_point),
                   ("output_multiplier", out_multiplier), ("output_exponent", out_exponent),
                   ("reluish_multiplier", reluish), ("reluish_exponent", reluish_exponent)])
