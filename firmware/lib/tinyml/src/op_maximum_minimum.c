#include "tinyml/op_elementwise.h"

/* TFLM's int8 MAXIMUM and MINIMUM compare the stored bytes and copy the winner: no rescaling,
 * whatever the three tensors' quantization says (the converter gives them one). */
static void maximum_row(const void *params, const int8_t *input1, int32_t step1,
                        const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  int32_t i;
  (void)params;
  for (i = 0; i < count; ++i) {
    const int8_t x = input1[i * step1], y = input2[i * step2];
    output[i] = x > y ? x : y;
  }
}

static void minimum_row(const void *params, const int8_t *input1, int32_t step1,
                        const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  int32_t i;
  (void)params;
  for (i = 0; i < count; ++i) {
    const int8_t x = input1[i * step1], y = input2[i * step2];
    output[i] = x < y ? x : y;
  }
}

static void compare(const tinyml_maximum_minimum_params *p, uint8_t *arena,
                    tinyml_binary_row_s8 row) {
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), row, p);
}

void tinyml_maximum_s8(const void *params, uint8_t *arena) {
  compare((const tinyml_maximum_minimum_params *)params, arena, maximum_row);
}

void tinyml_minimum_s8(const void *params, uint8_t *arena) {
  compare((const tinyml_maximum_minimum_params *)params, arena, minimum_row);
}
