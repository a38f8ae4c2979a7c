/* Convolution-like kernels: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (int8, per-channel
 * requantization; a per-tensor model gets its multiplier repeated per channel). */
#ifndef TINYML_OP_CONV_H
#define TINYML_OP_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;   /* arena offsets, NHWC */
  uint32_t output;
  uint32_t scratch; /* DSP im2col: 4 * filter_depth bytes */
  int32_t batches, input_h, input_w, input_c;
  int32_t output_h, output_w, output_c;
  int32_t filter_h, filter_w, filter_c; /* filter_c: input channels per group */
  /* Where each filter's values lie (tools/compiler/ops/conv.py, conv_filter_layout): tap
   * (fy, fx) starts at fy * filter_row_stride + fx * filter_tap_stride; filter_depth, a multiple
   * of 4, is the values per filter, the gaps zero. */
  int32_t filter_depth, filter_row_stride, filter_tap_stride;
  int32_t stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int32_t input_offset, output_offset, act_min, act_max;
  /* Exactly one of the two is set: [output_c][filter_depth] int8, or (small filters, where
   * the flash is worth the DSP kernel's fewer instructions) widened: [output_c][filter_depth / 2]
   * words of two int16 lanes, each block of 4 weights (w0, w1, w2, w3) as the words (w0, w2),
   * (w1, w3) (conv_filter_wide in tools/compiler/ops/conv.py). */
  const int8_t *filter;
  const int32_t *filter_wide;
  const int32_t *bias; /* [output_c] or NULL */
  const int32_t *multiplier;
  const int8_t *shift;
  const int32_t *output_stage; /* see tinyml_output_stage_fast; NULL: not exact for this layer */
  /* The DSP path's stream for a 1x1 layer over 8 input channels (stride 1, widened filter,
   * fast output table, full int8 range, output_c a multiple of 4): per filter its 4 widened
   * words, then its output_stage row, the last shift word with bit 8 set (tools/compiler/ops/
   * conv.py, conv_pointwise8_packed). NULL: not emitted. An addition to filter_wide and
   * output_stage, which the other paths read; the portable kernel ignores it. */
  const int32_t *packed;
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
  const int32_t *output_stage;
  /* The DSP path's multiplier-1 filter, taps paired for SMLAD, per group of 4 channels with
   * the input offset folded into its start values, everything summed doubled, and the output
   * stage's (multiplier, rounding, shift), for 3x3 windows each pair's input offsets in front of
   * its weights and the last group marked (tools/compiler/ops/conv.py,
   * depthwise_packed_filter); NULL: not emitted (another multiplier, no fast output stage, a
   * window of 1 or more than 25 taps, a doubled sum that could overflow). With it and
   * output_c a multiple of 4 the converter leaves output_stage NULL: nothing else reads it.
   * The portable kernel ignores it. */
  const int32_t *packed;
  /* input_c bytes of the input zero point, read for a tap outside the input when `packed` is
   * used; NULL when no window leaves the input. */
  const int8_t *pad_input;
} tinyml_depthwise_conv2d_params;

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, accum_depth, output_depth;
  int32_t input_offset, output_offset, act_min, act_max;
  const int8_t *filter; /* [output_depth][accum_depth], or NULL when `packed` is set */
  const int32_t *bias;
  const int32_t *multiplier;
  const int8_t *shift;
  const int32_t *output_stage; /* NULL when `packed` is set: it holds the table's values */
  /* Or the weights packed (tools/compiler/ops/fully_connected_packed.py), per group of 4 rows
   * (the last completed with zero rows): 4 start values (output_stage's), per block of 4
   * values (w0, w1, w2, w3) per row the int16 pair words (w0, w2), (w1, w3) (the last block
   * completed with zero weights), then per row output_stage's other three values; 16 + 8 *
   * ceil(accum_depth / 4) words a group. NULL: `filter` holds the weights. Both kernels read
   * it; the portable one takes bias, multiplier and shift from their own fields. */
  const int32_t *packed;
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

#if defined(TINYML_USE_DSP)
/* The DSP kernels' output stage for a layer whose output_stage table the converter emitted
 * (tools/compiler/ops/conv.py, output_stage_table). Per output channel four int32s:
 *   {start, 2 * multiplier - 2^32, 2^(s-1) + output_offset * 2^s, s},
 * s = -shift >= 1. SMMLAR(acc, 2M - 2^32, acc) = acc + round(acc (2M - 2^32) / 2^32)
 * = floor((acc M + 2^30) / 2^31), which is gemmlowp's rounding doubling high multiply for every
 * int32 acc (M >= 2^30); (y + 2^(s-1) - (y < 0)) >> s is its rounding divide by 2^s, ties away
 * from zero, and adding output_offset * 2^s before the shift adds output_offset after it. The
 * converter emits the table only where no sum can overflow, every shift is negative and every
 * multiplier is at least 2^30; otherwise output_stage is NULL and tinyml_conv_output is used.
 * The result still needs the activation clamp. `stage` points at the channel's four values;
 * `start` seeds the accumulator: the bias (0 without one), and for FULLY_CONNECTED plus
 * input_offset times the sum of the row's weights, since that kernel leaves the offset out of
 * its products. */
static inline int32_t tinyml_output_stage_fast(int32_t acc, const int32_t *stage) {
  const int32_t y = tinyml_smmlar(acc, stage[1], acc);
  return (y + stage[2] - (int32_t)((uint32_t)y >> 31)) >> stage[3];
}
#endif

void tinyml_conv2d_s8(const void *params, uint8_t *arena);
/* A CONV_2D and the 2x2 stride-2 MAX_POOL_2D (tinyml_pool2d_params) that alone reads it, in one
 * pass from the convolution's input to the pool's output, the fused layer's way when this build
 * has one for these layers: 1 when done; 0, having done nothing, when the caller must run them
 * row by row instead (tinyml_run_fused). It keeps four im2col columns from the convolution's
 * scratch on: the fused layer's scratch, whose windows the one pass does not use, has room for
 * them (tools/compiler/fusion.py). */
int tinyml_conv2d_pool_s8(const tinyml_conv2d_params *conv, const void *pool, uint8_t *arena);
void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena);
void tinyml_fully_connected_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_CONV_H */
