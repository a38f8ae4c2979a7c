/* ADD and MUL with int16 inputs and output (16x8 models), TFLM's reference arithmetic, with the
 * broadcast loop nest of the int8 forms (op_elementwise.h); MUL shares their params struct. */
#ifndef TINYML_OP_ELEMENTWISE_S16_H
#define TINYML_OP_ELEMENTWISE_S16_H

#include <stdint.h>

#include "tinyml/op_elementwise.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The int8 ADD tabulates each input's rescale (256 entries); an int16 input has 65,536 values, so
 * ADD int16 keeps TFLM's per-element arithmetic and its own parameters. */
typedef struct {
  tinyml_operand input1; /* either input may be a constant in flash */
  tinyml_operand input2;
  uint32_t output;
  int32_t dims[TINYML_MAX_RANK];
  int32_t input1_strides[TINYML_MAX_RANK];
  int32_t input2_strides[TINYML_MAX_RANK];
  int32_t input1_offset, input2_offset, output_offset; /* minus the zero points (0 in 16x8) */
  int32_t left_shift;                                  /* 15 */
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} tinyml_add_s16_params;

void tinyml_add_s16(const void *params, uint8_t *arena); /* tinyml_add_s16_params */
void tinyml_mul_s16(const void *params, uint8_t *arena); /* tinyml_mul_params */

typedef void (*tinyml_binary_row_s16)(const void *params, const int16_t *input1, int32_t step1,
                                      const int16_t *input2, int32_t step2, int16_t *output,
                                      int32_t count);

/* tinyml_broadcast_rows_s8 for int16 elements (defined in op_add_s16.c). */
void tinyml_broadcast_rows_s16(const int32_t *dims, const int32_t *strides1,
                               const int32_t *strides2, const int16_t *input1,
                               const int16_t *input2, int16_t *output,
                               tinyml_binary_row_s16 row, const void *params);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_ELEMENTWISE_S16_H */
