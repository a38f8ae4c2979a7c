#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise.h"

void tinyml_broadcast_rows_s8(const int32_t *dims, const int32_t *strides1,
                              const int32_t *strides2, const int8_t *input1,
                              const int8_t *input2, int8_t *output, tinyml_binary_row_s8 row,
                              const void *params) {
  enum { INNER = TINYML_MAX_RANK - 1 };
  int32_t index[INNER] = {0};
  int32_t offset1 = 0, offset2 = 0;
  int axis;
  for (;;) {
    row(params, input1 + offset1, strides1[INNER], input2 + offset2, strides2[INNER], output,
        dims[INNER]);
    output += dims[INNER];
    /* Odometer over the outer axes; an axis that wraps rewinds its offsets. */
    for (axis = INNER - 1; axis >= 0; --axis) {
      offset1 += strides1[axis];
      offset2 += strides2[axis];
      if (++index[axis] < dims[axis]) break;
      offset1 -= strides1[axis] * dims[axis];
      offset2 -= strides2[axis] * dims[axis];
      index[axis] = 0;
    }
    if (axis < 0) return;
  }
}

/* AddFunc of TFLM's integer_ops/add.h: both inputs are moved to a common scale with 20 bits of
 * headroom, summed, then rescaled to the output. */
static int8_t add_one(const tinyml_add_params *p, int32_t x, int32_t y) {
  const int32_t shifted1 = tinyml_shl_wrap(p->input1_offset + x, p->left_shift);
  const int32_t shifted2 = tinyml_shl_wrap(p->input2_offset + y, p->left_shift);
  const int32_t scaled1 = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
      shifted1, p->input1_multiplier, p->input1_shift);
  const int32_t scaled2 = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
      shifted2, p->input2_multiplier, p->input2_shift);
  const int32_t sum = tinyml_add_wrap(scaled1, scaled2);
  const int32_t result = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
                             sum, p->output_multiplier, p->output_shift) +
                         p->output_offset;
  return (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
}

static void add_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  int32_t i;
  for (i = 0; i < count; ++i) {
    output[i] = add_one(p, input1[i * step1], input2[i * step2]);
  }
}

void tinyml_add_s8(const void *params, uint8_t *arena) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), add_row, p);
}
