/* TRANSPOSE_CONV (int8, per-channel requantization), TFLM's reference scatter: every input pixel
 * adds filter * (input + offset) into an int32 scratch the size of the output, which is then
 * requantized per output channel. */
#ifndef TINYML_OP_TRANSPOSE_CONV_H
#define TINYML_OP_TRANSPOSE_CONV_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;   /* arena offsets, NHWC */
  uint32_t output;
  uint32_t scratch; /* int32 per output element */
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w;
  int32_t stride_h, stride_w, pad_top, pad_left;
  int32_t input_offset, output_offset, act_min, act_max;
  const int8_t *filter; /* [output_c][filter_h][filter_w][input_c] */
  const int32_t *bias;  /* [output_c] or NULL */
  const int32_t *multiplier;
  const int8_t *shift;
} tinyml_transpose_conv_params;

void tinyml_transpose_conv_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_TRANSPOSE_CONV_H */
