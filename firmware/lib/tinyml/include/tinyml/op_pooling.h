/* MAX_POOL_2D and AVERAGE_POOL_2D (int8; input and output share scale and zero point). The
 * output may start at the input's offset where the converter has shown that the kernel's
 * storage-order writes never overwrite an input still to be read. */
#ifndef TINYML_OP_POOLING_H
#define TINYML_OP_POOLING_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, input_h, input_w, channels;
  int32_t output_h, output_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
  int32_t act_min, act_max;
} tinyml_pool2d_params;

void tinyml_max_pool2d_s8(const void *params, uint8_t *arena);
void tinyml_average_pool2d_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_POOLING_H */
