#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t fc_output(const tinyml_fully_connected_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

#if !defined(TINYML_USE_DSP)

static int32_t fc_dot(const int8_t *weights, const int8_t *row, int32_t depth, int32_t offset) {
  int32_t acc = 0;
  int32_t d;
  for (d = 0; d < depth; ++d) acc += weights[d] * (row[d] + offset);
  return acc;
}

#else /* TINYML_USE_DSP */

/* Dot products of one input row with weight rows: the input is widened on the fly with
 * SXTAB16, which adds the input offset to two lanes in the same instruction, so no scratch
 * buffer is needed. SXTAB16(x) = (x0, x2) and SXTB16(w) = (w0, w2) pair up as they are, and so
 * do the ROR 8 forms (x1, x3) / (w1, w3): no repacking. Integer sums are exact modulo 2^32 in
 * any order, so the result equals the reference's bit for bit. */

/* Two weight rows at once share the widened input: per 4 values 3 loads, 2 SXTAB16,
 * 4 SXTB16 and 4 SMLAD for 8 MACs. acc = {a, b}. */
static void fc_dot_2(const int8_t *wa, const int8_t *wb, const int8_t *row, int32_t depth,
                     int32_t offset, int32_t acc[2]) {
  const int32_t offset2 = tinyml_dup16(offset);
  int32_t a = 0, b = 0;
  int32_t blocks, d;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t x = tinyml_load_s8x4(row);
    const int32_t x02 = tinyml_sxtab16(offset2, x), x13 = tinyml_sxtab16_ror8(offset2, x);
    const int32_t wa_word = tinyml_load_s8x4(wa), wb_word = tinyml_load_s8x4(wb);
    a = tinyml_smlad(tinyml_sxtb16(wa_word), x02, a);
    a = tinyml_smlad(tinyml_sxtb16_ror8(wa_word), x13, a);
    b = tinyml_smlad(tinyml_sxtb16(wb_word), x02, b);
    b = tinyml_smlad(tinyml_sxtb16_ror8(wb_word), x13, b);
    row += 4, wa += 4, wb += 4;
  }
  for (d = 0; d < (depth & 3); ++d) {
    const int32_t x = row[d] + offset;
    a += wa[d] * x, b += wb[d] * x;
  }
  acc[0] = a, acc[1] = b;
}

static int32_t fc_dot(const int8_t *weights, const int8_t *row, int32_t depth, int32_t offset) {
  const int32_t offset2 = tinyml_dup16(offset);
  int32_t acc = 0;
  int32_t blocks, d;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t x = tinyml_load_s8x4(row), w = tinyml_load_s8x4(weights);
    acc = tinyml_smlad(tinyml_sxtb16(w), tinyml_sxtab16(offset2, x), acc);
    acc = tinyml_smlad(tinyml_sxtb16_ror8(w), tinyml_sxtab16_ror8(offset2, x), acc);
    row += 4, weights += 4;
  }
  for (d = 0; d < (depth & 3); ++d) acc += weights[d] * (row[d] + offset);
  return acc;
}

#endif /* TINYML_USE_DSP */

void tinyml_fully_connected_s8(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_params *p = (const tinyml_fully_connected_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, oc;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *row = input + batch * p->accum_depth;
    int8_t *out = output + batch * p->output_depth;
    oc = 0;
#if defined(TINYML_USE_DSP)
    for (; oc + 1 < p->output_depth; oc += 2) {
      int32_t acc[2];
      fc_dot_2(p->filter + oc * p->accum_depth, p->filter + (oc + 1) * p->accum_depth, row,
               p->accum_depth, p->input_offset, acc);
      out[oc] = fc_output(p, acc[0], oc);
      out[oc + 1] = fc_output(p, acc[1], oc + 1);
    }
#endif
    for (; oc < p->output_depth; ++oc) {
      out[oc] = fc_output(p, fc_dot(p->filter + oc * p->accum_depth, row, p->accum_depth,
                                    p->input_offset),
                          oc);
    }
  }
}
