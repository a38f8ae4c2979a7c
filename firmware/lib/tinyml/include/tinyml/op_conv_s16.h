/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int16 activations and int8 weights
 * (16x8), as TFLM's reference kernels compute them: symmetric activations (zero point 0), so no
 * offsets; an int64 accumulator; per-channel requantization. */
#ifndef TINYML_OP_CONV_S16_H
#define TINYML_OP_CONV_S16_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/fixedpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fields of the output stage, the same in the three params structs. TFLM picks its
 * accumulator from the bias: an int64 bias (or none, in a model that does not ask for int32)
 * requantizes with the int64 rounding (`wide` 1); an int32 bias with the int32 one (`wide` 0),
 * the converter having checked that no int32 sum can wrap, so that summing in int64 gives the
 * same value. An int32 bias is stored widened. */
#define TINYML_OUTPUT_STAGE_S16_FIELDS                                                        \
  int32_t act_min, act_max;                                                                   \
  int32_t wide;                                                                               \
  const int64_t *bias; /* [channels] or NULL */                                               \
  const int32_t *multiplier;                                                                  \
  const int8_t *shift;

typedef struct {
  uint32_t input; /* arena offsets, NHWC */
  uint32_t output;
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w, filter_c; /* filter_c: input channels per group */
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  const int8_t *filter; /* [output_c][filter_h][filter_w][filter_c] */
  TINYML_OUTPUT_STAGE_S16_FIELDS
} tinyml_conv2d_s16_params;

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w, depth_multiplier;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  const int8_t *filter; /* [filter_h][filter_w][output_c] */
  TINYML_OUTPUT_STAGE_S16_FIELDS
} tinyml_depthwise_conv2d_s16_params;

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, accum_depth, output_depth;
  const int8_t *filter; /* [output_depth][accum_depth] */
  TINYML_OUTPUT_STAGE_S16_FIELDS
} tinyml_fully_connected_s16_params;

/* `p` is any of the three params structs. */
#define TINYML_CONV_OUTPUT_S16(p, acc, channel)                                               \
  tinyml_conv_output_s16((acc), (p)->bias, (p)->multiplier, (p)->shift, (channel), (p)->wide, \
                         (p)->act_min, (p)->act_max)

static inline int16_t tinyml_conv_output_s16(int64_t acc, const int64_t *bias,
                                             const int32_t *multiplier, const int8_t *shift,
                                             int32_t channel, int32_t wide, int32_t act_min,
                                             int32_t act_max) {
  int32_t scaled;
  if (bias != NULL) acc += bias[channel];
  if (wide) {
    scaled = tinyml_multiply_by_quantized_multiplier_s64(acc, multiplier[channel],
                                                         shift[channel]);
  } else {
    scaled = tinyml_multiply_by_quantized_multiplier((int32_t)acc, multiplier[channel],
                                                     shift[channel]);
  }
  return (int16_t)tinyml_clamp_i32(scaled, act_min, act_max);
}

/* The window sum of one output, as TFLM's reference loops take it: per tap inside the input
 * (a tap in the padding is left out: a zero input), `channels` products of consecutive input
 * channels and filter values. `image` is the batch's first pixel at the first channel read,
 * `filter` tap (0, 0)'s first value; taps lie `tap_stride` values apart. CONV_2D passes a
 * filter's channel group, DEPTHWISE_CONV_2D one channel and the filter strided by output_c.
 * `p` is either conv params struct. */
#define TINYML_WINDOW_SUM_S16(p, image, y0, x0, filter, tap_stride, channels)                 \
  tinyml_window_sum_s16((image), (y0), (x0), (p)->input_h, (p)->input_w, (p)->input_c,        \
                        (p)->dilation_h, (p)->dilation_w, (filter), (p)->filter_h,            \
                        (p)->filter_w, (tap_stride), (channels))

static inline int64_t tinyml_window_sum_s16(const int16_t *image, int32_t y0, int32_t x0,
                                            int32_t input_h, int32_t input_w, int32_t input_c,
                                            int32_t dilation_h, int32_t dilation_w,
                                            const int8_t *filter, int32_t filter_h,
                                            int32_t filter_w, int32_t tap_stride,
                                            int32_t channels) {
  int64_t acc = 0;
  int32_t fy, fx, k;
  for (fy = 0; fy < filter_h; ++fy) {
    const int32_t y = y0 + fy * dilation_h;
    if (y < 0 || y >= input_h) continue;
    for (fx = 0; fx < filter_w; ++fx) {
      const int32_t x = x0 + fx * dilation_w;
      const int16_t *pixel;
      const int8_t *taps;
      if (x < 0 || x >= input_w) continue;
      pixel = image + (y * input_w + x) * input_c;
      taps = filter + (fy * filter_w + fx) * tap_stride;
      for (k = 0; k < channels; ++k) acc += (int32_t)taps[k] * pixel[k];
    }
  }
  return acc;
}

void tinyml_conv2d_s16(const void *params, uint8_t *arena);
void tinyml_depthwise_conv2d_s16(const void *params, uint8_t *arena);
void tinyml_fully_connected_s16(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_CONV_S16_H */
