/* MUL int16 (tinyml_mul_s16): TFLM's MulElementwise for int16, the product of the two inputs
 * (zero points 0, so at most 2^30) requantized once. */
#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise_s16.h"

static void mul_row(const void *params, const int16_t *input1, int32_t step1,
                    const int16_t *input2, int32_t step2, int16_t *output, int32_t count) {
  const tinyml_mul_params *p = (const tinyml_mul_params *)params;
  int32_t i;
  for (i = 0; i < count; ++i) {
    const int32_t product =
        (p->input1_offset + input1[i * step1]) * (p->input2_offset + input2[i * step2]);
    const int32_t result = tinyml_multiply_by_quantized_multiplier(product, p->output_multiplier,
                                                                   p->output_shift) +
                           p->output_offset;
    output[i] = (int16_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
  }
}

void tinyml_mul_s16(const void *params, uint8_t *arena) {
  const tinyml_mul_params *p = (const tinyml_mul_params *)params;
  tinyml_broadcast_rows_s16(p->dims, p->input1_strides, p->input2_strides,
                            (const int16_t *)tinyml_operand_data(&p->input1, arena),
                            (const int16_t *)tinyml_operand_data(&p->input2, arena),
                            (int16_t *)(void *)(arena + p->output), mul_row, p);
}
