#include "tinyml/op_pooling.h"

#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"

/* The window of one output pixel, clipped to the image (padding contributes nothing and is not
 * counted, as in TFLM): filter rows [fy_start, fy_end) and columns [fx_start, fx_end) from the
 * input pixel (in_y0, in_x0), which may lie in the padding. */
typedef struct {
  int32_t in_y0, in_x0, fy_start, fy_end, fx_start, fx_end;
} pool_window_bounds;

static pool_window_bounds window_bounds(const tinyml_pool2d_params *p, int32_t out_y,
                                        int32_t out_x) {
  pool_window_bounds w;
  w.in_y0 = out_y * p->stride_h - p->pad_top;
  w.in_x0 = out_x * p->stride_w - p->pad_left;
  w.fy_start = tinyml_max_i32(0, -w.in_y0);
  w.fy_end = tinyml_min_i32(p->filter_h, p->input_h - w.in_y0);
  w.fx_start = tinyml_max_i32(0, -w.in_x0);
  w.fx_end = tinyml_min_i32(p->filter_w, p->input_w - w.in_x0);
  return w;
}

/* Round half away from zero; the converter rejects windows that see no pixel. */
static int32_t average_of(int32_t sum, int32_t count) {
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

/* One channel of one output pixel, byte by byte. `image` is the batch's first input pixel. */
static int32_t pool_channel(const tinyml_pool2d_params *p, const int8_t *image,
                            const pool_window_bounds *w, int32_t channel, int average) {
  int32_t sum = 0, max = -128, count = 0;
  int32_t fy, fx;
  for (fy = w->fy_start; fy < w->fy_end; ++fy) {
    for (fx = w->fx_start; fx < w->fx_end; ++fx) {
      const int32_t value =
          image[((w->in_y0 + fy) * p->input_w + w->in_x0 + fx) * p->channels + channel];
      sum += value;
      if (value > max) max = value;
      ++count;
    }
  }
  return average ? average_of(sum, count) : max;
}

#if defined(TINYML_USE_DSP)
/* Channels [channel, channel + 4) of one output pixel as four int8 lanes, clamped to the
 * activation range. One word per window pixel: MAX_POOL_2D keeps the lanewise max (SSUB8 +
 * SEL), starting from act_min, which is the lower clamp; AVERAGE_POOL_2D sums the even and the
 * odd bytes in two int16 lanes each (SXTAB16), exact while count * 128 <= 32768. */
static int32_t pool_channels4(const tinyml_pool2d_params *p, const int8_t *image,
                              const pool_window_bounds *w, int32_t channel, int average) {
  const int32_t pixel_step = p->channels, row_step = p->input_w * p->channels;
  const int8_t *row =
      image + ((w->in_y0 + w->fy_start) * p->input_w + w->in_x0 + w->fx_start) * p->channels +
      channel;
  const int32_t columns = w->fx_end - w->fx_start, row_bytes = columns * pixel_step;
  int32_t fy;
  if (!average) {
    int32_t max = tinyml_dup8(p->act_min);
    for (fy = w->fy_start; fy < w->fy_end; ++fy, row += row_step) {
      const int8_t *pixel, *const row_end = row + row_bytes;
      for (pixel = row; pixel != row_end; pixel += pixel_step) {
        max = tinyml_max_s8x4(tinyml_load_s8x4(pixel), max);
      }
    }
    return tinyml_min_s8x4(max, tinyml_dup8(p->act_max));
  } else {
    const int32_t count = (w->fy_end - w->fy_start) * columns;
    int32_t even = 0, odd = 0; /* channels 0 and 2, 1 and 3 */
    int32_t lane[4], i;
    uint32_t packed = 0;
    for (fy = w->fy_start; fy < w->fy_end; ++fy, row += row_step) {
      const int8_t *pixel, *const row_end = row + row_bytes;
      for (pixel = row; pixel != row_end; pixel += pixel_step) {
        const int32_t word = tinyml_load_s8x4(pixel);
        even = tinyml_sxtab16(even, word);
        odd = tinyml_sxtab16_ror8(odd, word);
      }
    }
    lane[0] = (int16_t)(uint16_t)((uint32_t)even & 0xFFFFu);
    lane[1] = (int16_t)(uint16_t)((uint32_t)odd & 0xFFFFu);
    lane[2] = (int16_t)(uint16_t)((uint32_t)even >> 16);
    lane[3] = (int16_t)(uint16_t)((uint32_t)odd >> 16);
    for (i = 0; i < 4; ++i) {
      const int32_t result = tinyml_clamp_i32(average_of(lane[i], count), p->act_min, p->act_max);
      packed |= ((uint32_t)result & 0xFFu) << (8 * i);
    }
    return (int32_t)packed;
  }
}
#endif

#if defined(TINYML_USE_DSP)
/* One output row of max_pool2x2_inside: per four channels four loads, three lanewise maxima,
 * the activation clamp only where the range is narrower than int8's, one store. */
static inline __attribute__((always_inline)) void max_pool2x2_row(
    const int8_t *window, int8_t *out, int32_t pixels, int32_t channels, int32_t step,
    int32_t row_bytes, int32_t low, int32_t high, const int clamp) {
  const int32_t diagonal = row_bytes + channels;
  for (; pixels > 0; --pixels, window += step) {
    const int8_t *top = window, *const end = window + channels;
    for (; top != end; top += 4, out += 4) {
      const int32_t upper =
          tinyml_max_s8x4(tinyml_load_s8x4(top), tinyml_load_s8x4(top + channels));
      const int32_t lower =
          tinyml_max_s8x4(tinyml_load_s8x4(top + row_bytes), tinyml_load_s8x4(top + diagonal));
      int32_t max = tinyml_max_s8x4(upper, lower);
      if (clamp) max = tinyml_min_s8x4(tinyml_max_s8x4(max, low), high);
      tinyml_store_s8x4(out, max);
    }
  }
}

/* MAX_POOL_2D 2x2 with every window inside the input and whole words of channels: the pooling
 * after most convolutions, without pool2d's per-pixel window bounds and loops. Returns 0, doing
 * nothing, for any other layer. The order of reads and writes is pool2d's (see there). */
static int max_pool2x2_inside(const tinyml_pool2d_params *p, uint8_t *arena) {
  const int32_t channels = p->channels, row_bytes = p->input_w * channels;
  const int32_t step = p->stride_w * channels, row_step = p->stride_h * row_bytes;
  const int32_t low = tinyml_dup8(p->act_min), high = tinyml_dup8(p->act_max);
  const int clamp = p->act_min != -128 || p->act_max != 127;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *out = (int8_t *)(arena + p->output);
  int32_t batch, y;
  if (p->filter_h != 2 || p->filter_w != 2 || channels % 4 != 0 || p->pad_top != 0 ||
      p->pad_left != 0 || (p->output_h - 1) * p->stride_h + 2 > p->input_h ||
      (p->output_w - 1) * p->stride_w + 2 > p->input_w) {
    return 0;
  }
  for (batch = 0; batch < p->batches; ++batch, input += p->input_h * row_bytes) {
    for (y = 0; y < p->output_h; ++y, out += p->output_w * channels) {
      if (clamp) {
        max_pool2x2_row(input + y * row_step, out, p->output_w, channels, step, row_bytes, low,
                        high, 1);
      } else {
        max_pool2x2_row(input + y * row_step, out, p->output_w, channels, step, row_bytes, low,
                        high, 0);
      }
    }
  }
  return 1;
}
#endif

/* The output may lie over the input (the converter's in-place plan; see in_place_safe in
 * tools/compiler/ops/pooling.py, which proves it per layer from this order): outputs are written
 * in storage order, each after its whole window has been read. The DSP path reads the windows of
 * four channels and then writes those four bytes at once; the rule still holds, since every
 * byte is still written after its own window is read, and the other three channels' reads only
 * move earlier, when fewer bytes have been overwritten. Keep that order, and read the input
 * only through pool_channel and pool_channels4. */
static void pool2d(const tinyml_pool2d_params *p, uint8_t *arena, int average) {
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, y, x;
#if defined(TINYML_USE_DSP)
  /* A window of more than 256 pixels could overflow the int16 sums. */
  const int simd = p->channels >= 4 && (!average || p->filter_h * p->filter_w <= 256);
#endif
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *image = input + batch * p->input_h * p->input_w * p->channels;
    for (y = 0; y < p->output_h; ++y) {
      for (x = 0; x < p->output_w; ++x) {
        const pool_window_bounds w = window_bounds(p, y, x);
        int8_t *out = output + ((batch * p->output_h + y) * p->output_w + x) * p->channels;
        int32_t c = 0;
#if defined(TINYML_USE_DSP)
        if (simd) {
          for (; c + 4 <= p->channels; c += 4) {
            tinyml_store_s8x4(out + c, pool_channels4(p, image, &w, c, average));
          }
        }
#endif
        for (; c < p->channels; ++c) {
          out[c] = (int8_t)tinyml_clamp_i32(pool_channel(p, image, &w, c, average), p->act_min,
                                            p->act_max);
        }
      }
    }
  }
}

void tinyml_max_pool2d_s8(const void *params, uint8_t *arena) {
#if defined(TINYML_USE_DSP)
  if (max_pool2x2_inside((const tinyml_pool2d_params *)params, arena)) return;
#endif
  pool2d((const tinyml_pool2d_params *)params, arena, 0);
}

void tinyml_average_pool2d_s8(const void *params, uint8_t *arena) {
  pool2d((const tinyml_pool2d_params *)params, arena, 1);
}
