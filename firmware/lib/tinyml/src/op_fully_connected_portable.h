/* FULLY_CONNECTED, the portable variant: TFLM's reference loops. Included by
 * op_fully_connected.c only (kernel_variant.h). */
#ifndef TINYML_OP_FULLY_CONNECTED_PORTABLE_H
#define TINYML_OP_FULLY_CONNECTED_PORTABLE_H

#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t fc_output(const tinyml_fully_connected_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

static int32_t fc_dot(const int8_t *weights, const int8_t *row, int32_t depth, int32_t offset) {
  int32_t acc = 0;
  int32_t d;
  for (d = 0; d < depth; ++d) acc += weights[d] * (row[d] + offset);
  return acc;
}

/* Weight `half` (0: bits 0..15, 1: bits 16..31) of a packed word, sign-extended. */
static int32_t fc_lane(int32_t word, int half) {
  return half ? word >> 16 : (int32_t)(int16_t)(word & 0xFFFF);
}

/* The same against row `oc` of the packed weights (op_conv.h's `packed`): a block's two words
 * (w0, w2), (w1, w3), the next block's 8 words on; past the depth the weights are zero. */
static int32_t fc_dot_packed(const tinyml_fully_connected_params *p, int32_t oc,
                             const int8_t *row) {
  const int32_t depth = p->accum_depth, offset = p->input_offset;
  const int32_t group_words = 16 + 8 * ((depth + 3) / 4);
  const int32_t *words = p->packed + (oc / 4) * group_words + 4 + 2 * (oc % 4);
  int32_t acc = 0;
  int32_t d;
  for (d = 0; d + 3 < depth; d += 4, words += 8) {
    const int32_t w02 = words[0], w13 = words[1];
    acc += fc_lane(w02, 0) * (row[d] + offset) + fc_lane(w13, 0) * (row[d + 1] + offset);
    acc += fc_lane(w02, 1) * (row[d + 2] + offset) + fc_lane(w13, 1) * (row[d + 3] + offset);
  }
  for (; d < depth; ++d) acc += fc_lane(words[d & 1], (d >> 1) & 1) * (row[d] + offset);
  return acc;
}

void tinyml_fully_connected_s8(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_params *p = (const tinyml_fully_connected_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, oc;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *row = input + batch * p->accum_depth;
    int8_t *out = output + batch * p->output_depth;
    for (oc = 0; oc < p->output_depth; ++oc) {
      const int32_t acc = p->packed != NULL
                              ? fc_dot_packed(p, oc, row)
                              : fc_dot(p->filter + oc * p->accum_depth, row, p->accum_depth,
                                       p->input_offset);
      out[oc] = fc_output(p, acc, oc);
    }
  }
}

#endif /* TINYML_OP_FULLY_CONNECTED_PORTABLE_H */
