/* Convolution-like kernels: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (int8, per-channel
 * requantization; a per-tensor model gets its multiplier repeated per channel). */
#ifndef TINYML_OP_CONV_H
#define TINYML_OP_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/fixedpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;   /* arena offsets, NHWC */
  uint32_t output;
  uint32_t scratch; /* DSP im2col: 4 * (K + K % 2) bytes, K = filter_h * filter_w * filter_c */
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w, filter_c; /* filter_c: input channels per group */
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t input_offset, output_offset, act_min, act_max;
  const int8_t *filter; /* [output_c][filter_h][filter_w][filter_c] */
  const int32_t *bias;  /* [output_c] or NULL */
  const int32_t *multiplier;
  const int8_t *shift;
} tinyml_conv2d_params;

/* Depthwise and fully connected need no scratch: their DSP paths widen the input on the fly. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w, depth_multiplier;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t input_offset, output_offset, act_min, act_max;
  const int8_t *filter; /* [filter_h][filter_w][output_c] */
  const int32_t *bias;
  const int32_t *multiplier;
  const int8_t *shift;
} tinyml_depthwise_conv2d_params;

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, accum_depth, output_depth;
  int32_t input_offset, output_offset, act_min, act_max;
  const int8_t *filter; /* [output_depth][accum_depth] */
  const int32_t *bias;
  const int32_t *multiplier;
  const int8_t *shift;
} tinyml_fully_connected_params;

/* The output stage the three kernels share, as TFLM's: bias, per-channel requantization, output
 * zero point, activation clamp. */
static inline int8_t tinyml_conv_output(int32_t acc, const int32_t *bias,
                                        const int32_t *multiplier, const int8_t *shift,
                                        int32_t channel, int32_t output_offset, int32_t act_min,
                                        int32_t act_max) {
  if (bias != NULL) acc += bias[channel];
  acc = tinyml_multiply_by_quantized_multiplier(acc, multiplier[channel], shift[channel]);
  return (int8_t)tinyml_clamp_i32(acc + output_offset, act_min, act_max);
}

void tinyml_conv2d_s8(const void *params, uint8_t *arena);
void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena);
void tinyml_fully_connected_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_CONV_H */
