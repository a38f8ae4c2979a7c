#include "tinyml/fixedpoint.h"
#include "tinyml/fixedpoint_nonlinear.h"
#include "tinyml/op_activations.h"

/* The formats of TFLM's int8 softmax: differences scaled into Q5.26 for exp, sums in Q12.19. */
#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUMULATION_INTEGER_BITS 12

static int8_t row_max(const int8_t *row, int32_t depth) {
  int8_t max = -128;
  int32_t c;
  for (c = 0; c < depth; ++c) {
    if (row[c] > max) max = row[c];
  }
  return max;
}

/* exp(beta * input_scale * diff) in Q0.31 for diff = input - row max (diff >= diff_min). */
static int32_t exp_of_diff(const tinyml_softmax_params *p, int32_t diff) {
  const int32_t scaled = tinyml_multiply_by_quantized_multiplier_greater_than_one(
      diff, p->input_multiplier, p->input_left_shift);
  return tinyml_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

/* 1 / sum as TFLM's GetReciprocal forms it: a Q0.31 scale in [1/2, 1) and the number of bits
 * the sum has above 1.0. */
static int32_t reciprocal(int32_t sum, int *bits_over_unit) {
  const int headroom_plus_one = tinyml_count_leading_zeros_u32((uint32_t)sum);
  const int32_t shifted_sum_minus_one =
      (int32_t)(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31));
  *bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom_plus_one;
  return tinyml_one_over_one_plus_x(shifted_sum_minus_one);
}

static void softmax_row(const tinyml_softmax_params *p, const int8_t *in, int8_t *out) {
  const int32_t max = row_max(in, p->depth);
  int32_t sum = 0;
  int32_t scale;
  int bits_over_unit, exponent;
  int32_t c;
  for (c = 0; c < p->depth; ++c) {
    const int32_t diff = (int32_t)in[c] - max;
    if (diff >= p->diff_min) {
      sum = tinyml_add_wrap(sum, tinyml_rounding_divide_by_pot(exp_of_diff(p, diff),
                                                               ACCUMULATION_INTEGER_BITS));
    }
  }
  /* The row maximum contributes exp(0), so sum >= 2^19 and exponent lands in [23, 31]. */
  scale = reciprocal(sum, &bits_over_unit);
  exponent = bits_over_unit + 31 - 8;
  for (c = 0; c < p->depth; ++c) {
    const int32_t diff = (int32_t)in[c] - max;
    int32_t value = -128;
    if (diff >= p->diff_min) {
      const int32_t unsaturated = tinyml_rounding_divide_by_pot(
          tinyml_rounding_doubling_high_mul(scale, exp_of_diff(p, diff)), exponent);
      value = tinyml_clamp_i32(unsaturated - 128, -128, 127);
    }
    out[c] = (int8_t)value;
  }
}

void tinyml_softmax_s8(const void *params, uint8_t *arena) {
  const tinyml_softmax_params *p = (const tinyml_softmax_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t row;
  for (row = 0; row < p->outer_size; ++row) {
    softmax_row(p, input + row * p->depth, output + row * p->depth);
  }
}
