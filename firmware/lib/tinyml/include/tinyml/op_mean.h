/* MEAN (int8, TFLM reference arithmetic) over any set of axes.
 *
 * The converter splits the input's axes into kept ones (the outer loops, in output order) and
 * reduced ones (the inner loops), each as TINYML_MAX_RANK dims with input element strides,
 * outermost first and padded with size-1 axes. Every output is the requantized int32 sum of
 * its block; 1/count is folded into the multiplier. */
#ifndef TINYML_OP_MEAN_H
#define TINYML_OP_MEAN_H

#include <stdint.h>

#include "tinyml/model_info.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t outer_dims[TINYML_MAX_RANK];
  int32_t outer_strides[TINYML_MAX_RANK];
  int32_t inner_dims[TINYML_MAX_RANK];
  int32_t inner_strides[TINYML_MAX_RANK];
  int32_t zero_point_sum; /* input zero point * count, wrapped to int32 as in TFLM */
  int32_t multiplier, shift;
  int32_t output_zero_point;
} tinyml_mean_params;

void tinyml_mean_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_MEAN_H */
