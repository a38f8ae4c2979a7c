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

void tinyml_fully_connected_s8(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_params *p = (const tinyml_fully_connected_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, oc;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *row = input + batch * p->accum_depth;
    int8_t *out = output + batch * p->output_depth;
    for (oc = 0; oc < p->output_depth; ++oc) {
      out[oc] = fc_output(p, fc_dot(p->filter + oc * p->accum_depth, row, p->accum_depth,
                                    p->input_offset),
                          oc);
    }
  }
}

#endif /* TINYML_OP_FULLY_CONNECTED_PORTABLE_H */
