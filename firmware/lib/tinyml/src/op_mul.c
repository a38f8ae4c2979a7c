#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise.h"

/* MulElementwise of TFLM's integer_ops/mul.h: the product of the offset inputs, requantized
 * once (the multiplier may exceed one, so the shift may be a left shift). */
static int8_t mul_one(const tinyml_mul_params *p, int32_t x, int32_t y) {
  const int32_t product = (p->input1_offset + x) * (p->input2_offset + y);
  const int32_t result = tinyml_multiply_by_quantized_multiplier(product, p->output_multiplier,
                                                                 p->output_shift) +
                         p->output_offset;
  return (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
}

static void mul_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_mul_params *p = (const tinyml_mul_params *)params;
  int32_t i;
  for (i = 0; i < count; ++i) {
    output[i] = mul_one(p, input1[i * step1], input2[i * step2]);
  }
}

void tinyml_mul_s8(const void *params, uint8_t *arena) {
  const tinyml_mul_params *p = (const tinyml_mul_params *)params;
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), mul_row, p);
}
