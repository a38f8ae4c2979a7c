#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

void tinyml_fully_connected_s8(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_params *p = (const tinyml_fully_connected_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, oc, d;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *row = input + batch * p->accum_depth;
    for (oc = 0; oc < p->output_depth; ++oc) {
      const int8_t *weights = p->filter + oc * p->accum_depth;
      int32_t acc = 0;
      for (d = 0; d < p->accum_depth; ++d) acc += weights[d] * (row[d] + p->input_offset);
      if (p->bias != NULL) acc += p->bias[oc];
      acc = tinyml_multiply_by_quantized_multiplier(acc, p->multiplier[oc], p->shift[oc]);
      acc += p->output_offset;
      output[batch * p->output_depth + oc] =
          (int8_t)tinyml_clamp_i32(acc, p->act_min, p->act_max);
    }
  }
}
