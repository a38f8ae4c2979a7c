/* ADD int16 (tinyml_add_s16) and the int16 broadcast walk that MUL int16 shares. */
#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise_s16.h"

TINYML_DEFINE_BROADCAST_ROWS(tinyml_broadcast_rows_s16, int16_t, tinyml_binary_row_s16)

/* TFLM's AddElementwise / BroadcastAdd6DSlow for int16: the int8 arithmetic with 15 bits of
 * headroom (left_shift), so that 2^15 * |x| stays within int32. */
static void add_row(const void *params, const int16_t *input1, int32_t step1,
                    const int16_t *input2, int32_t step2, int16_t *output, int32_t count) {
  const tinyml_add_s16_params *p = (const tinyml_add_s16_params *)params;
  int32_t i;
  for (i = 0; i < count; ++i) {
    const int32_t a = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
        tinyml_shl_wrap(p->input1_offset + input1[i * step1], p->left_shift),
        p->input1_multiplier, p->input1_shift);
    const int32_t b = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
        tinyml_shl_wrap(p->input2_offset + input2[i * step2], p->left_shift),
        p->input2_multiplier, p->input2_shift);
    const int32_t result = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
                               tinyml_add_wrap(a, b), p->output_multiplier, p->output_shift) +
                           p->output_offset;
    output[i] = (int16_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
  }
}

void tinyml_add_s16(const void *params, uint8_t *arena) {
  const tinyml_add_s16_params *p = (const tinyml_add_s16_params *)params;
  tinyml_broadcast_rows_s16(p->dims, p->input1_strides, p->input2_strides,
                            (const int16_t *)tinyml_operand_data(&p->input1, arena),
                            (const int16_t *)tinyml_operand_data(&p->input2, arena),
                            (int16_t *)(void *)(arena + p->output), add_row, p);
}
