#include "tinyml/op_quantize.h"

#include "tinyml/fixedpoint.h"

/* reference_ops::Requantize: (q - input_zp) * (input_scale / output_scale) + output_zp. */
void tinyml_quantize_s8_s8(const void *params, uint8_t *arena) {
  const tinyml_requantize_params *p = (const tinyml_requantize_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t scaled = tinyml_multiply_by_quantized_multiplier(
        input[i] - p->input_zero_point, p->multiplier, p->shift);
    output[i] = tinyml_saturate_s8(scaled + p->output_zero_point);
  }
}

/* reference_ops::AffineQuantize: round(x / scale) + zero_point, the division in float. */
void tinyml_quantize_f32_s8(const void *params, uint8_t *arena) {
  const tinyml_affine_params *p = (const tinyml_affine_params *)params;
  const float *input = (const float *)(const void *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float quotient = input[i] / p->scale;
    output[i] = tinyml_saturate_s8(tinyml_round_half_away(quotient) + p->zero_point);
  }
}
