/* ADD and MUL with int16 inputs and output (16x8 models), TFLM's reference arithmetic, with the
 * broadcast loop nest and the params structs of the int8 forms (op_elementwise.h). */
#ifndef TINYML_OP_ELEMENTWISE_S16_H
#define TINYML_OP_ELEMENTWISE_S16_H

#include <stdint.h>

#include "tinyml/op_elementwise.h"

#ifdef __cplusplus
extern "C" {
#endif

void tinyml_add_s16(const void *params, uint8_t *arena); /* tinyml_add_params, left_shift 15 */
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
