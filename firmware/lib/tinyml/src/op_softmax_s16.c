/* SOFTMAX int16 (tinyml_softmax_s16): reference_ops::SoftmaxInt16. */
#include "tinyml/fixedpoint.h"
#include "tinyml/op_activations_s16.h"

/* LUTLookup: 512 segments of 128 input steps, interpolated with rounding. */
static int16_t lookup(const int16_t *table, int16_t value) {
  const int32_t biased = (int32_t)value + 32768; /* index 256 + floor(value / 128) */
  const int32_t index = biased >> 7;
  const int32_t offset = biased & 0x7F;
  const int32_t slope = table[index + 1] - table[index];
  return (int16_t)(table[index] + tinyml_floor_shift(slope * offset + 64, 7));
}

static int32_t count_leading_zeros(uint32_t x) {
  int32_t count = 0;
  while (count < 32 && !(x & 0x80000000u)) {
    x <<= 1;
    ++count;
  }
  return count;
}

void tinyml_softmax_s16(const void *params, uint8_t *arena) {
  const tinyml_softmax_s16_params *p = (const tinyml_softmax_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t row, c;
  for (row = 0; row < p->outer; ++row) {
    const int16_t *in = input + row * p->depth;
    int16_t *out = output + row * p->depth; /* holds the exps until the last pass */
    int16_t max = -32768;
    int32_t sum = 0, headroom, shifted_sum, right_shift;
    int16_t reciprocal;
    for (c = 0; c < p->depth; ++c) max = in[c] > max ? in[c] : max;
    for (c = 0; c < p->depth; ++c) {
      /* [-65535, 0] steps of the input become [-10, 0] in the exp table's format, recentered. */
      const int32_t scaled = tinyml_multiply_by_quantized_multiplier(
          in[c] - max, p->input_multiplier, p->input_shift);
      out[c] = lookup(p->exp_table, (int16_t)tinyml_clamp_i32(scaled + 32767, -32768, 32767));
      sum += out[c];
    }
    /* 1 / sum: the sum normalized to [1, 2) in Q1.14 (as x = sum - 1, recentered), looked up. */
    headroom = count_leading_zeros((uint32_t)sum);
    shifted_sum = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
    reciprocal = lookup(p->reciprocal_table,
                        (int16_t)tinyml_clamp_i32(shifted_sum - ((1 << 15) + (1 << 16)),
                                                  -32768, 32767));
    right_shift = 31 - headroom;
    for (c = 0; c < p->depth; ++c) {
      const int64_t product = (int64_t)out[c] * reciprocal + ((int64_t)1 << (right_shift - 1));
      const int32_t result = (int32_t)(product >= 0 ? product >> right_shift
                                                    : -((-product - 1) >> right_shift) - 1);
      out[c] = (int16_t)tinyml_clamp_i32(result, 0, 32767);
    }
  }
}
