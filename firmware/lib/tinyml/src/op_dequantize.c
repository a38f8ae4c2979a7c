#include "tinyml/op_quantize.h"

/* reference_ops::Dequantize forms (double)scale * (q - zero_point) and rounds it to float. A
 * float32 scale times a 9-bit integer is exact in double, so that is one rounding of the exact
 * product: the same float as this float multiplication, without double arithmetic. */
void tinyml_dequantize_s8_f32(const void *params, uint8_t *arena) {
  const tinyml_affine_params *p = (const tinyml_affine_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  float *output = (float *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    output[i] = p->scale * (float)(input[i] - p->zero_point);
  }
}
