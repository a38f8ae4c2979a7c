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

/* ADD and SUB (AddFunc of TFLM's integer_ops/add.h, SubElementwise of its reference sub.h) move
 * both inputs to a common scale with 20 bits of headroom, combine them, then rescale the result
 * to the output. */
static void rescaled_inputs(const tinyml_add_params *p, int32_t x, int32_t y, int32_t *a,
                            int32_t *b) {
  const int32_t shifted1 = tinyml_shl_wrap(p->input1_offset + x, p->left_shift);
  const int32_t shifted2 = tinyml_shl_wrap(p->input2_offset + y, p->left_shift);
  *a = tinyml_multiply_by_quantized_multiplier_smaller_than_one(shifted1, p->input1_multiplier,
                                                                p->input1_shift);
  *b = tinyml_multiply_by_quantized_multiplier_smaller_than_one(shifted2, p->input2_multiplier,
                                                                p->input2_shift);
}

static int8_t rescaled_output(const tinyml_add_params *p, int32_t raw) {
  const int32_t result = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
                             raw, p->output_multiplier, p->output_shift) +
                         p->output_offset;
  return (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
}

static void add_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  int32_t i, a, b;
  for (i = 0; i < count; ++i) {
    rescaled_inputs(p, input1[i * step1], input2[i * step2], &a, &b);
    output[i] = rescaled_output(p, tinyml_add_wrap(a, b));
  }
}

static void sub_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  int32_t i, a, b;
  for (i = 0; i < count; ++i) {
    rescaled_inputs(p, input1[i * step1], input2[i * step2], &a, &b);
    output[i] = rescaled_output(p, tinyml_sub_wrap(a, b));
  }
}

static void add_or_sub(const tinyml_add_params *p, uint8_t *arena, tinyml_binary_row_s8 row) {
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), row, p);
}

void tinyml_add_s8(const void *params, uint8_t *arena) {
  add_or_sub((const tinyml_add_params *)params, arena, add_row);
}

void tinyml_sub_s8(const void *params, uint8_t *arena) {
  add_or_sub((const tinyml_add_params *)params, arena, sub_row);
}
