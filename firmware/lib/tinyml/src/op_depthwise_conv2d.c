#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t dw_output(const tinyml_depthwise_conv2d_params *p, int32_t acc, int32_t channel) {
#if defined(TINYML_USE_DSP)
  if (p->output_stage != NULL) { /* the same bytes, fewer instructions (op_conv.h) */
    const int32_t *stage = p->output_stage + 4 * channel;
    return (int8_t)tinyml_clamp_i32(tinyml_output_stage_fast(acc + stage[0], stage),
                                    p->act_min, p->act_max);
  }
#endif
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

#if !defined(TINYML_USE_DSP)

void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_depthwise_conv2d_params *p = (const tinyml_depthwise_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, out_y, out_x, ic, m, fy, fx;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
        for (ic = 0; ic < p->input_c; ++ic) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t oc = ic * p->depth_multiplier + m;
            int32_t acc = 0;
            for (fy = 0; fy < p->filter_h; ++fy) {
              const int32_t in_y = in_y0 + p->dilation_h * fy;
              if (in_y < 0 || in_y >= p->input_h) continue;
              for (fx = 0; fx < p->filter_w; ++fx) {
                const int32_t in_x = in_x0 + p->dilation_w * fx;
                if (in_x < 0 || in_x >= p->input_w) continue;
                acc += p->filter[(fy * p->filter_w + fx) * p->output_c + oc] *
                       (input[((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c + ic] +
                        p->input_offset);
              }
            }
            output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c + oc] =
                dw_output(p, acc, oc);
          }
        }
      }
    }
  }
}

#else /* TINYML_USE_DSP */

/* Channels are contiguous in NHWC input, output and filter ([h][w][output_c]), so one word
 * holds 4 channels of one tap. A depthwise sum never pairs two values of the same channel
 * within a word, so instead of SMLAD (which would need PKHBT repacking across taps, costing
 * more than it saves) each lane feeds its own accumulator through SMLABB / SMLATT:
 *   multiplier 1:  per tap 2 loads, SXTAB16 x2 (input + offset), SXTB16 x2, 4 MACs;
 *   multiplier >= 4: one input value shared by 4 consecutive output channels, SMLABB/SMLATB.
 * Padding taps are skipped by clipping the window once per pixel instead of testing per tap.
 * No scratch is needed. Integer sums are exact modulo 2^32, so the accumulators equal the
 * reference's bit for bit. */

/* The visited (in-image) taps of one output pixel. */
typedef struct {
  const int8_t *input;  /* input pixel of the first visited tap, channel 0 */
  const int8_t *filter; /* filter at the first visited tap, output channel 0 */
  int32_t rows, cols;
  int32_t input_row_step, input_col_step, filter_row_step, filter_col_step;
} dw_window;

/* Taps [*first, *end) of one axis whose input coordinate origin + dilation * tap is inside
 * [0, size). */
static void dw_taps(int32_t origin, int32_t dilation, int32_t taps, int32_t size,
                    int32_t *first, int32_t *end) {
  *first = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
  *end = size > origin ? tinyml_min_i32(taps, (size - origin + dilation - 1) / dilation) : 0;
  if (*end < *first) *end = *first;
}

static dw_window dw_window_at(const tinyml_depthwise_conv2d_params *p, const int8_t *input,
                              int32_t batch, int32_t out_y, int32_t out_x) {
  const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
  const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
  int32_t fy0, fy1, fx0, fx1;
  dw_window w;
  dw_taps(in_y0, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
  dw_taps(in_x0, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
  w.rows = fy1 - fy0;
  w.cols = fx1 - fx0;
  w.input_col_step = p->dilation_w * p->input_c;
  w.input_row_step = p->dilation_h * p->input_w * p->input_c;
  w.filter_col_step = p->output_c;
  w.filter_row_step = p->filter_w * p->output_c;
  w.input = input;
  w.filter = p->filter;
  if (w.rows == 0 || w.cols == 0) { /* the window misses the image: no tap to visit */
    w.rows = w.cols = 0;
    return w;
  }
  w.input += ((batch * p->input_h + in_y0 + p->dilation_h * fy0) * p->input_w + in_x0 +
              p->dilation_w * fx0) * p->input_c;
  w.filter += (fy0 * p->filter_w + fx0) * p->output_c;
  return w;
}

/* Multiplier 1: channels c .. c+3 (input channel = output channel). */
static void dw_sum4_m1(const dw_window *win, int32_t c, int32_t offset, int32_t acc[4]) {
  const int32_t offset2 = tinyml_dup16(offset);
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int32_t row, col;
  for (row = 0; row < win->rows; ++row) {
    const int8_t *in = win->input + row * win->input_row_step + c;
    const int8_t *w = win->filter + row * win->filter_row_step + c;
    for (col = 0; col < win->cols; ++col) {
      const int32_t x = tinyml_load_s8x4(in), f = tinyml_load_s8x4(w);
      const int32_t x02 = tinyml_sxtab16(offset2, x), x13 = tinyml_sxtab16_ror8(offset2, x);
      const int32_t f02 = tinyml_sxtb16(f), f13 = tinyml_sxtb16_ror8(f);
      a0 = tinyml_smlabb(f02, x02, a0);
      a2 = tinyml_smlatt(f02, x02, a2);
      a1 = tinyml_smlabb(f13, x13, a1);
      a3 = tinyml_smlatt(f13, x13, a3);
      in += win->input_col_step, w += win->filter_col_step;
    }
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* Output channels oc .. oc+3, all fed by input channel ic (multiplier >= 4). */
static void dw_sum4_shared(const dw_window *win, int32_t ic, int32_t oc, int32_t offset,
                           int32_t acc[4]) {
  int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int32_t row, col;
  for (row = 0; row < win->rows; ++row) {
    const int8_t *in = win->input + row * win->input_row_step + ic;
    const int8_t *w = win->filter + row * win->filter_row_step + oc;
    for (col = 0; col < win->cols; ++col) {
      const int32_t x = *in + offset; /* fits int16: its bottom lane is the value */
      const int32_t f = tinyml_load_s8x4(w);
      const int32_t f02 = tinyml_sxtb16(f), f13 = tinyml_sxtb16_ror8(f);
      a0 = tinyml_smlabb(f02, x, a0);
      a2 = tinyml_smlatb(f02, x, a2);
      a1 = tinyml_smlabb(f13, x, a1);
      a3 = tinyml_smlatb(f13, x, a3);
      in += win->input_col_step, w += win->filter_col_step;
    }
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* One output channel oc fed by input channel ic: the tails. */
static int32_t dw_sum1(const dw_window *win, int32_t ic, int32_t oc, int32_t offset) {
  int32_t acc = 0;
  int32_t row, col;
  for (row = 0; row < win->rows; ++row) {
    const int8_t *in = win->input + row * win->input_row_step + ic;
    const int8_t *w = win->filter + row * win->filter_row_step + oc;
    for (col = 0; col < win->cols; ++col) {
      acc += *w * (*in + offset);
      in += win->input_col_step, w += win->filter_col_step;
    }
  }
  return acc;
}

static void dw_store4(const tinyml_depthwise_conv2d_params *p, const int32_t acc[4], int32_t oc,
                      int8_t *out) {
  int32_t lane;
  for (lane = 0; lane < 4; ++lane) out[oc + lane] = dw_output(p, acc[lane], oc + lane);
}

/* All output channels of one pixel. */
static void dw_pixel(const tinyml_depthwise_conv2d_params *p, const dw_window *win,
                     int8_t *out) {
  const int32_t m = p->depth_multiplier;
  int32_t acc[4];
  int32_t ic, oc;
  if (m == 1) {
    for (oc = 0; oc + 3 < p->output_c; oc += 4) {
      dw_sum4_m1(win, oc, p->input_offset, acc);
      dw_store4(p, acc, oc, out);
    }
    for (; oc < p->output_c; ++oc) {
      out[oc] = dw_output(p, dw_sum1(win, oc, oc, p->input_offset), oc);
    }
    return;
  }
  for (ic = 0; ic < p->input_c; ++ic) {
    const int32_t end = (ic + 1) * m;
    for (oc = ic * m; oc + 3 < end; oc += 4) {
      dw_sum4_shared(win, ic, oc, p->input_offset, acc);
      dw_store4(p, acc, oc, out);
    }
    for (; oc < end; ++oc) out[oc] = dw_output(p, dw_sum1(win, ic, oc, p->input_offset), oc);
  }
}

void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_depthwise_conv2d_params *p = (const tinyml_depthwise_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, out_y, out_x;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const dw_window win = dw_window_at(p, input, batch, out_y, out_x);
        dw_pixel(p, &win,
                 output + ((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c);
      }
    }
  }
}

#endif /* TINYML_USE_DSP */
