"""Prepare-time arithmetic of TFLite Micro, reproduced in Python.

The built-in runtime only matches TFLM bit for bit if every multiplier, shift and clamp bound is
computed exactly as TFLM computes it at Prepare time, including which products are formed in
float32 and which in float64. Each function names the TFLM step it mirrors.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127

# TFLite's fused activations (schema ActivationFunctionType).
ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU_N1_TO_1, ACTIVATION_RELU6 = 0, 1, 2, 3
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
                    5: "SIGN_BIT"}


def round_half_away(value: float) -> float:
    """std::round / TfLiteRound: ties go away from zero (Python's round() goes to even)."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = significand * 2^shift / 2^31 with significand in [2^30, 2^31).

    The double-rounding build (TFLITE_SINGLE_ROUNDING unset, as TFLM ships) is mirrored.
    """
    if not (math.isfinite(real) and real >= 0.0):
        # An infinite, NaN or negative ratio comes from a corrupted scale; TFLM's Prepare would
        # compute garbage or stop on a CHECK.
        raise ValueError(f"multiplier {real!r} is not a finite non-negative number")
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    significand = int(round_half_away(fraction * (1 << 31)))
    if significand > (1 << 31):
        raise ValueError(f"multiplier {real!r} does not quantize")
    if significand == (1 << 31):
        significand //= 2
        shift += 1
    if shift < -31:
        shift, significand = 0, 0
    return significand, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: as above, for 0 < real < 1 (shift <= 0)."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real!r} is not in (0, 1)")
    significand, shift = quantize_multiplier(real)
    return significand, shift


def f32(value) -> np.float32:
    return np.float32(value)


def conv_channel_multipliers(input_scale: float, filter_scales, output_scale: float
                             ) -> tuple[list[int], list[int]]:
    """PopulateConvolutionQuantizationParams: per channel, in float64,
    input_scale * filter_scale / output_scale (each a float32 widened to double)."""
    multipliers, shifts = [], []
    for filter_scale in filter_scales:
        real = float(f32(input_scale)) * float(f32(filter_scale)) / float(f32(output_scale))
        significand, shift = quantize_multiplier(real)
        multipliers.append(significand)
        shifts.append(shift)
    return multipliers, shifts


def fully_connected_tensor_multiplier(input_scale: float, filter_scale: float,
                                      output_scale: float) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler (per-tensor FULLY_CONNECTED): the scale product is
    formed in float32, then divided in float64."""
    with np.errstate(over="ignore", under="ignore"):  # infinity is refused below
        product = float(f32(input_scale) * f32(filter_scale))
    return quantize_multiplier(product / float(f32(output_scale)))


def quantize_value(scale: float, zero_point: int, value: float) -> int:
    """kernel_util's Quantize: zero_point + round(value / scale), the division in float32."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        steps = float(f32(value) / f32(scale))
    # TFLM casts the rounded value to int32; beyond that range the cast is undefined.
    if not (math.isfinite(steps) and abs(steps) < 2.0 ** 31 - 256):
        raise ValueError(f"{value} at scale {scale} is {steps} steps, outside int32")
    return zero_point + int(round_half_away(steps))


def activation_range(activation: int, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for a fused activation."""
    if activation == ACTIVATION_RELU:
        return max(qmin, quantize_value(scale, zero_point, 0.0)), qmax
    if activation == ACTIVATION_RELU6:
        return (max(qmin, quantize_value(scale, zero_point, 0.0)),
                min(qmax, quantize_value(scale, zero_point, 6.0)))
    if activation == ACTIVATION_RELU_N1_TO_1:
        return (max(qmin, quantize_value(scale, zero_point, -1.0)),
                min(qmax, quantize_value(scale, zero_point, 1.0)))
    if activation == ACTIVATION_NONE:
        return qmin, qmax
    raise ValueError(f"fused activation {ACTIVATION_NAMES.get(activation, activation)}")
