#include "tinyml/op_activations.h"

/* The int16 fixed-point steps of TFLM's reference HardSwish (gemmlowp's int16 operations and its
 * own two helpers), each exact for the exponents the converter lets through (|e| <= 15). */

static int16_t rounding_doubling_high_mul(int16_t a, int16_t b) {
  int32_t product;
  if (a == b && a == INT16_MIN) return INT16_MAX;
  product = (int32_t)a * (int32_t)b;
  /* C division truncates toward zero, as gemmlowp's does. */
  return (int16_t)((product + (product >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15));
}

static int16_t doubling_high_mul(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t rounding_divide_by_pot(int16_t x, int exponent) {
  const int32_t mask = (1 << exponent) - 1;
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static int16_t saturating_shl(int16_t value, int amount) {
  const int32_t shifted = (int32_t)value * (1 << amount);
  return (int16_t)(shifted > INT16_MAX ? INT16_MAX : shifted < INT16_MIN ? INT16_MIN : shifted);
}

void tinyml_hard_swish_s8(const void *params, uint8_t *arena) {
  const tinyml_hard_swish_params *p = (const tinyml_hard_swish_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int16_t output_multiplier = (int16_t)p->output_multiplier;
  const int16_t reluish_multiplier = (int16_t)p->reluish_multiplier;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int16_t value = (int16_t)(input[i] - p->input_zero_point);
    const int16_t hires = (int16_t)(value * (1 << 7));
    const int16_t preshift = rounding_doubling_high_mul(hires, output_multiplier);
    int16_t reluish = hires;
    int16_t result;
    if (p->reluish_exponent > 0) reluish = saturating_shl(reluish, p->reluish_exponent - 1);
    reluish = rounding_doubling_high_mul(reluish, reluish_multiplier);
    if (p->reluish_exponent > 0) reluish = saturating_shl(reluish, 1);
    if (p->reluish_exponent < 0) reluish = rounding_divide_by_pot(reluish, -p->reluish_exponent);
    /* From [-1, 1] in Q0.15 to [0, 1]. */
    reluish = (int16_t)((reluish + (1 << 15)) >> 1);
    result = rounding_divide_by_pot(doubling_high_mul(reluish, preshift), -p->output_exponent);
    /* int16 arithmetic as TFLM's, which wraps where the zero point pushes it over. */
    result = (int16_t)(result + p->output_zero_point);
    output[i] = (int8_t)(result > 127 ? 127 : result < -128 ? -128 : result);
  }
}
