/* QUANTIZE and DEQUANTIZE with an int16 side, as TFLM's reference kernels compute them:
 * Requantize (int8 <-> int16, int16 -> int16), AffineQuantize (float32 -> int16) and Dequantize
 * (int16 -> float32). */
#include "tinyml/op_quantize.h"

#include "tinyml/fixedpoint.h"

static int16_t saturate_s16(int32_t x) { return (int16_t)tinyml_clamp_i32(x, -32768, 32767); }

/* reference_ops::Requantize: (q - input_zp) * (input_scale / output_scale) + output_zp. The
 * difference fits int32 for every int8 or int16 q, so one formula serves all three. */
static int32_t requantize(const tinyml_requantize_params *p, int32_t q) {
  return tinyml_multiply_by_quantized_multiplier(q - p->input_zero_point, p->multiplier,
                                                 p->shift) +
         p->output_zero_point;
}

void tinyml_quantize_s8_s16(const void *params, uint8_t *arena) {
  const tinyml_requantize_params *p = (const tinyml_requantize_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = saturate_s16(requantize(p, input[i]));
}

void tinyml_quantize_s16_s8(const void *params, uint8_t *arena) {
  const tinyml_requantize_params *p = (const tinyml_requantize_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = tinyml_saturate_s8(requantize(p, input[i]));
}

void tinyml_quantize_s16_s16(const void *params, uint8_t *arena) {
  const tinyml_requantize_params *p = (const tinyml_requantize_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = saturate_s16(requantize(p, input[i]));
}

/* reference_ops::AffineQuantize: round(x / scale) + zero_point, the division in float. */
void tinyml_quantize_f32_s16(const void *params, uint8_t *arena) {
  const tinyml_affine_params *p = (const tinyml_affine_params *)params;
  const float *input = (const float *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    output[i] = saturate_s16(tinyml_round_half_away(input[i] / p->scale) + p->zero_point);
  }
}

/* reference_ops::Dequantize forms (double)scale * (q - zero_point) and rounds it to float. A
 * float32 scale (24-bit significand) times a 17-bit integer is exact in double, so that is one
 * rounding of the exact product, as this float multiplication is. */
void tinyml_dequantize_s16_f32(const void *params, uint8_t *arena) {
  const tinyml_affine_params *p = (const tinyml_affine_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  float *output = (float *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = p->scale * (float)(input[i] - p->zero_point);
}
