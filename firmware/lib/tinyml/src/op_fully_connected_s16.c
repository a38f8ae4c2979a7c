/* FULLY_CONNECTED 16x8 (tinyml_fully_connected_s16): TFLM's reference loops. */
#include "tinyml/op_conv_s16.h"

void tinyml_fully_connected_s16(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_s16_params *p = (const tinyml_fully_connected_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t batch, oc, d;
  for (batch = 0; batch < p->batches; ++batch) {
    const int16_t *row = input + batch * p->accum_depth;
    int16_t *out = output + batch * p->output_depth;
    for (oc = 0; oc < p->output_depth; ++oc) {
      const int8_t *weights = p->filter + oc * p->accum_depth;
      int64_t acc = 0;
      for (d = 0; d < p->accum_depth; ++d) acc += (int32_t)weights[d] * row[d];
      out[oc] = TINYML_CONV_OUTPUT_S16(p, acc, oc);
    }
  }
}
