"""The two 513-entry int16 tables TFLM's int16 SOFTMAX interpolates (exp on [-10, 0] and
1 / (1 + x) on [0, 1]), computed as TFLM's Prepare computes them: every step in float32, the
transcendental correctly rounded to float32, each entry nudged by half its midpoint's
interpolation error. Fixed tables: they depend on no model parameter."""

from __future__ import annotations

import functools
import math

import numpy as np

STEPS = 512
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
RANGE = INT16_MAX - INT16_MIN  # 65535, an int in TFLM's Prepare


def _round(value: np.float32) -> np.float32:
    """TfLiteRound on a float: half away from zero."""
    return np.float32(math.copysign(math.floor(abs(float(value)) + 0.5), float(value)))


def _exp(value: np.float32) -> np.float32:
    return np.float32(math.exp(float(value)))


def _one_over_one_plus(value: np.float32) -> np.float32:
    return np.float32(1.0) / (np.float32(1.0) + value)


def _populate(input_scale: np.float32, input_zero_point: int, output_scale: np.float32,
              transform) -> np.ndarray:
    f = np.float32
    input_min = input_scale * f(INT16_MIN - input_zero_point)
    input_max = input_scale * f(INT16_MAX - input_zero_point)
    output_min = output_scale * f(INT16_MIN)
    output_max = output_scale * f(INT16_MAX)
    step = (input_max - input_min) / f(STEPS)
    half_step = step / f(2)
    scaling = f(RANGE + 1) / (output_max - output_min)
    table = np.zeros(STEPS + 1, np.int16)
    for i in range(STEPS):
        start = input_min + f(i) * step
        value = transform(start)
        midpoint = transform(start + half_step)
        following = transform(input_min + f(i + 1) * step)
        sample = _round(value * scaling)
        interpolated = _round((following * scaling + _round(value * scaling)) / f(2))
        bias = _round((interpolated - _round(midpoint * scaling)) / f(2))
        table[i] = int(min(max(sample - bias, f(INT16_MIN)), f(INT16_MAX)))
    last = _round(transform(input_max) * scaling)
    table[STEPS] = int(min(max(last, f(INT16_MIN)), f(INT16_MAX)))
    return table


@functools.cache
def softmax_tables() -> tuple[np.ndarray, np.ndarray]:
    """(exp table, 1 / (1 + x) table), read-only."""
    with np.errstate(over="ignore"):
        exp_table = _populate(np.float32(10.0) / np.float32(RANGE), INT16_MAX,
                              np.float32(2.0) / np.float32(RANGE), _exp)
        reciprocal_table = _populate(np.float32(1.0) / np.float32(RANGE), INT16_MIN,
                                     np.float32(2.0) / np.float32(RANGE), _one_over_one_plus)
    for table in (exp_table, reciprocal_table):
        table.flags.writeable = False
    return exp_table, reciprocal_table
