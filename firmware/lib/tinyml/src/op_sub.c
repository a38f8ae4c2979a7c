#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise.h"

/* SubElementwise of TFLM's reference sub.h: ADD's rescaling (same multipliers, the same 20 bits
 * of headroom), the second input subtracted instead of added. */
static int8_t sub_one(const tinyml_add_params *p, int32_t x, int32_t y) {
  const int32_t shifted1 = tinyml_shl_wrap(p->input1_offset + x, p->left_shift);
  const int32_t shifted2 = tinyml_shl_wrap(p->input2_offset + y, p->left_shift);
  const int32_t scaled1 = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
      shifted1, p->input1_multiplier, p->input1_shift);
  const int32_t scaled2 = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
      shifted2, p->input2_multiplier, p->input2_shift);
  const int32_t difference = tinyml_sub_wrap(scaled1, scaled2);
  const int32_t result = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
                             difference, p->output_multiplier, p->output_shift) +
                         p->output_offset;
  return (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
}

static void sub_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  int32_t i;
  for (i = 0; i < count; ++i) {
    output[i] = sub_one(p, input1[i * step1], input2[i * step2]);
  }
}

void tinyml_sub_s8(const void *params, uint8_t *arena) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), sub_row, p);
}
