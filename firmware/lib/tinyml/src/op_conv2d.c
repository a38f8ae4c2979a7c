#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t conv_output(const tinyml_conv2d_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

#if !defined(TINYML_USE_DSP)

void tinyml_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_conv2d_params *p = (const tinyml_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t filters_per_group = p->output_c / (p->input_c / p->filter_c);
  int32_t batch, out_y, out_x, oc, fy, fx, ic;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
        for (oc = 0; oc < p->output_c; ++oc) {
          const int32_t channel0 = (oc / filters_per_group) * p->filter_c;
          int32_t acc = 0;
          for (fy = 0; fy < p->filter_h; ++fy) {
            const int32_t in_y = in_y0 + p->dilation_h * fy;
            if (in_y < 0 || in_y >= p->input_h) continue;
            for (fx = 0; fx < p->filter_w; ++fx) {
              const int32_t in_x = in_x0 + p->dilation_w * fx;
              const int8_t *pixel;
              const int8_t *weights;
              if (in_x < 0 || in_x >= p->input_w) continue; /* zero padding: no contribution */
              pixel = input + ((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c +
                      channel0;
              weights = p->filter + ((oc * p->filter_h + fy) * p->filter_w + fx) * p->filter_c;
              for (ic = 0; ic < p->filter_c; ++ic) {
                acc += weights[ic] * (pixel[ic] + p->input_offset);
              }
            }
          }
          output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c + oc] =
              conv_output(p, acc, oc);
        }
      }
    }
  }
}

#else /* TINYML_USE_DSP */

/* CMSIS-NN style: im2col of two output pixels into int16 columns (input offset added, padding
 * written as 0, which contributes nothing exactly as the reference's skipped taps), then a
 * 2 filters x 2 columns SMLAD kernel. Integer sums are exact modulo 2^32 in any order, so the
 * accumulators equal the reference's bit for bit.
 *
 * Column layout: within each complete block of 4 patch values the middle two are swapped,
 * (v0, v2, v1, v3), so that the pairs SXTB16(w) = (w0, w2) and SXTB16(w ROR 8) = (w1, w3) of 4
 * filter bytes line up with the column's int16 pairs without any repacking. Values past the
 * last complete block (K % 4 of them) stay in natural order and are done one by one.
 *
 * Scratch (arena, 16-byte aligned): two int16 columns of K = filter_h * filter_w * filter_c
 * values, each rounded up to an even count: 4 * (K + K % 2) bytes. */

/* Where patch value k lives in the column. */
static int32_t column_slot(int32_t k, int32_t blocked) {
  return k < blocked ? (k ^ ((((k >> 1) ^ k) & 1) * 3)) : k; /* 1 <-> 2 within a block */
}

/* Column values k .. k+n-1 = src[0 .. n-1] + offset. */
static void column_copy(int16_t *col, int32_t blocked, int32_t k, const int8_t *src, int32_t n,
                        int32_t offset) {
  const int32_t offset2 = tinyml_dup16(offset);
  for (; n > 0 && (k & 3) != 0; --n, ++k, ++src) {
    tinyml_store_s16(col + column_slot(k, blocked), *src + offset);
  }
  /* Aligned whole blocks: SXTAB16 widens and reorders 4 values in two instructions. */
  for (; n >= 4; n -= 4, k += 4, src += 4) {
    const int32_t x = tinyml_load_s8x4(src);
    tinyml_store_s16x2(col + k, tinyml_sxtab16(offset2, x));
    tinyml_store_s16x2(col + k + 2, tinyml_sxtab16_ror8(offset2, x));
  }
  for (; n > 0; --n, ++k, ++src) tinyml_store_s16(col + column_slot(k, blocked), *src + offset);
}

/* Column values k .. k+n-1 = 0 (padding). */
static void column_zero(int16_t *col, int32_t blocked, int32_t k, int32_t n) {
  for (; n > 0 && (k & 3) != 0; --n, ++k) tinyml_store_s16(col + column_slot(k, blocked), 0);
  if (n >= 4) {
    memset(col + k, 0, (size_t)(n & ~3) * sizeof(int16_t));
    k += n & ~3;
    n &= 3;
  }
  for (; n > 0; --n, ++k) tinyml_store_s16(col + column_slot(k, blocked), 0);
}

/* The patch of one output pixel (linear index over batch, y, x) for the group starting at input
 * channel channel0, in filter order [filter_h][filter_w][filter_c]. */
static void conv_im2col(const tinyml_conv2d_params *p, const int8_t *input, int32_t pixel,
                        int32_t channel0, int16_t *col) {
  const int32_t out_x = pixel % p->output_w;
  const int32_t out_y = (pixel / p->output_w) % p->output_h;
  const int32_t batch = pixel / (p->output_w * p->output_h);
  const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
  const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
  const int32_t row_values = p->filter_w * p->filter_c;
  const int32_t blocked = (p->filter_h * row_values) & ~3;
  /* A filter row that lies inside the image is one contiguous run of input bytes when pixels
   * are adjacent (no dilation) and the filter sees every channel (no groups). */
  const int contiguous_rows = p->dilation_w == 1 && p->filter_c == p->input_c && in_x0 >= 0 &&
                              in_x0 + p->filter_w <= p->input_w;
  int32_t fy, fx, k = 0;
  for (fy = 0; fy < p->filter_h; ++fy) {
    const int32_t in_y = in_y0 + p->dilation_h * fy;
    const int8_t *row;
    if (in_y < 0 || in_y >= p->input_h) {
      column_zero(col, blocked, k, row_values);
      k += row_values;
      continue;
    }
    row = input + (batch * p->input_h + in_y) * p->input_w * p->input_c + channel0;
    if (contiguous_rows) {
      column_copy(col, blocked, k, row + in_x0 * p->input_c, row_values, p->input_offset);
      k += row_values;
      continue;
    }
    for (fx = 0; fx < p->filter_w; ++fx, k += p->filter_c) {
      const int32_t in_x = in_x0 + p->dilation_w * fx;
      if (in_x < 0 || in_x >= p->input_w) {
        column_zero(col, blocked, k, p->filter_c);
      } else {
        column_copy(col, blocked, k, row + in_x * p->input_c, p->filter_c, p->input_offset);
      }
    }
  }
}

/* Two filters (a, b) x two columns (0, 1); acc = {a0, b0, a1, b1}. Each filter word is
 * widened once for both columns and each column pair is loaded once for both filters:
 * per 4 depth values 6 loads, 4 SXTB16 and 8 SMLAD for 16 MACs. */
static void conv_dot_2x2(const int8_t *wa, const int8_t *wb, const int16_t *c0,
                         const int16_t *c1, int32_t depth, int32_t acc[4]) {
  int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
  int32_t blocks, k;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t wa_word = tinyml_load_s8x4(wa);
    const int32_t wb_word = tinyml_load_s8x4(wb);
    const int32_t wa02 = tinyml_sxtb16(wa_word), wa13 = tinyml_sxtb16_ror8(wa_word);
    const int32_t wb02 = tinyml_sxtb16(wb_word), wb13 = tinyml_sxtb16_ror8(wb_word);
    int32_t x02 = tinyml_load_s16x2(c0), x13 = tinyml_load_s16x2(c0 + 2);
    a0 = tinyml_smlad(wa02, x02, a0);
    a0 = tinyml_smlad(wa13, x13, a0);
    b0 = tinyml_smlad(wb02, x02, b0);
    b0 = tinyml_smlad(wb13, x13, b0);
    x02 = tinyml_load_s16x2(c1);
    x13 = tinyml_load_s16x2(c1 + 2);
    a1 = tinyml_smlad(wa02, x02, a1);
    a1 = tinyml_smlad(wa13, x13, a1);
    b1 = tinyml_smlad(wb02, x02, b1);
    b1 = tinyml_smlad(wb13, x13, b1);
    wa += 4, wb += 4, c0 += 4, c1 += 4;
  }
  for (k = 0; k < (depth & 3); ++k) {
    const int32_t x0 = tinyml_load_s16(c0 + k), x1 = tinyml_load_s16(c1 + k);
    a0 += wa[k] * x0, a1 += wa[k] * x1, b0 += wb[k] * x0, b1 += wb[k] * x1;
  }
  acc[0] = a0, acc[1] = b0, acc[2] = a1, acc[3] = b1;
}

/* Two filters x one column (the odd last pixel); acc = {a, b}. */
static void conv_dot_2x1(const int8_t *wa, const int8_t *wb, const int16_t *col, int32_t depth,
                         int32_t acc[2]) {
  int32_t a = 0, b = 0;
  int32_t blocks, k;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t wa_word = tinyml_load_s8x4(wa);
    const int32_t wb_word = tinyml_load_s8x4(wb);
    const int32_t x02 = tinyml_load_s16x2(col), x13 = tinyml_load_s16x2(col + 2);
    a = tinyml_smlad(tinyml_sxtb16(wa_word), x02, a);
    a = tinyml_smlad(tinyml_sxtb16_ror8(wa_word), x13, a);
    b = tinyml_smlad(tinyml_sxtb16(wb_word), x02, b);
    b = tinyml_smlad(tinyml_sxtb16_ror8(wb_word), x13, b);
    wa += 4, wb += 4, col += 4;
  }
  for (k = 0; k < (depth & 3); ++k) {
    const int32_t x = tinyml_load_s16(col + k);
    a += wa[k] * x, b += wb[k] * x;
  }
  acc[0] = a, acc[1] = b;
}

/* One filter x one column: the odd last filter. */
static int32_t conv_dot_1x1(const int8_t *w, const int16_t *col, int32_t depth) {
  int32_t acc = 0;
  int32_t blocks, k;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t word = tinyml_load_s8x4(w);
    acc = tinyml_smlad(tinyml_sxtb16(word), tinyml_load_s16x2(col), acc);
    acc = tinyml_smlad(tinyml_sxtb16_ror8(word), tinyml_load_s16x2(col + 2), acc);
    w += 4, col += 4;
  }
  for (k = 0; k < (depth & 3); ++k) acc += w[k] * tinyml_load_s16(col + k);
  return acc;
}

/* Output channels first .. end-1 of `columns` (1 or 2) pixels whose im2col columns are c0, c1;
 * out points at the first pixel's output channel 0. */
static void conv_columns(const tinyml_conv2d_params *p, const int16_t *c0, const int16_t *c1,
                         int32_t columns, int32_t first, int32_t end, int8_t *out) {
  const int32_t depth = p->filter_h * p->filter_w * p->filter_c;
  int8_t *out1 = out + p->output_c;
  int32_t oc = first;
  for (; oc + 1 < end; oc += 2) {
    const int8_t *wa = p->filter + oc * depth;
    int32_t acc[4];
    if (columns == 2) {
      conv_dot_2x2(wa, wa + depth, c0, c1, depth, acc);
      out1[oc] = conv_output(p, acc[2], oc);
      out1[oc + 1] = conv_output(p, acc[3], oc + 1);
    } else {
      conv_dot_2x1(wa, wa + depth, c0, depth, acc);
    }
    out[oc] = conv_output(p, acc[0], oc);
    out[oc + 1] = conv_output(p, acc[1], oc + 1);
  }
  if (oc < end) {
    const int8_t *w = p->filter + oc * depth;
    out[oc] = conv_output(p, conv_dot_1x1(w, c0, depth), oc);
    if (columns == 2) out1[oc] = conv_output(p, conv_dot_1x1(w, c1, depth), oc);
  }
}

void tinyml_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_conv2d_params *p = (const tinyml_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t depth = p->filter_h * p->filter_w * p->filter_c;
  /* Accessed through memcpy only. The second column starts on a word boundary (even stride)
   * so that its pair loads are aligned LDRs. */
  int16_t *c0 = (int16_t *)(void *)(arena + p->scratch);
  int16_t *c1 = c0 + depth + (depth & 1);
  const int32_t groups = p->input_c / p->filter_c;
  const int32_t filters_per_group = p->output_c / groups;
  const int32_t pixels = p->batches * p->output_h * p->output_w;
  int32_t pixel, group;
  for (pixel = 0; pixel < pixels; pixel += 2) {
    const int32_t columns = pixels - pixel >= 2 ? 2 : 1;
    for (group = 0; group < groups; ++group) {
      conv_im2col(p, input, pixel, group * p->filter_c, c0);
      if (columns == 2) conv_im2col(p, input, pixel + 1, group * p->filter_c, c1);
      conv_columns(p, c0, c1, columns, group * filters_per_group,
                   (group + 1) * filters_per_group, output + pixel * p->output_c);
    }
  }
}

#endif /* TINYML_USE_DSP */
