/* CONV_2D, the DSP variant (TINYML_USE_DSP): C with dsp.h's SIMD helpers, and on Thumb-2 its
 * hot loop in assembly (op_conv2d_asm.h). Included by op_conv2d.c only (kernel_variant.h). */
#ifndef TINYML_OP_CONV2D_DSP_H
#define TINYML_OP_CONV2D_DSP_H

#include <string.h>

#include "kernel_variant.h"
#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"
#include "tinyml/op_pooling.h"

/* im2col of two output pixels into int16 columns (input offset added) laid out as the filter,
 * then two filters x two columns with SXTB16 and SMLAD. Integer sums are exact modulo 2^32 in
 * any order, so the accumulators equal the reference's bit for bit; padding taps are written as
 * 0, which contributes nothing, exactly as the reference's skipped taps.
 *
 * Scratch (arena, 16-byte aligned, 4 * filter_depth bytes): the two columns interleaved by
 * blocks of 4 values. Block b is 16 bytes, column 0's words (v0, v2) and (v1, v3) then column
 * 1's, so that one LDM fetches a block of both columns, and SXTB16 of 4 filter bytes, (w0, w2),
 * and of the same word ROR 8, (w1, w3), pair with the column's words without repacking.
 *
 * The filter's layout (conv_filter_layout in tools/compiler/ops/conv.py) starts each run of
 * values that lie next to each other in the input (the whole patch, a filter row, or a tap's
 * channels) on a block, and its gaps hold zero weights. So a run is widened straight from the
 * input a word at a time, whatever its length, and what the column holds in the gaps does not
 * matter. A dense filter whose rows are contiguous but do not start on blocks has an inside
 * patch's rows copied back to back into a small buffer on the stack, then widened
 * (RUNS_STAGED), except three rows of 9 values (3x3 over 3 channels), whose words are
 * assembled from the rows in place (column_nines_at). Pixels with padding are widened tap by
 * tap into a zeroed column when every tap starts on a block (filter_c a multiple of 4);
 * otherwise they, and layouts without runs, are gathered first into the stack buffer in the
 * filter's order, padding and gaps as the input zero point (which widens to 0), then widened;
 * filters too deep for it are written value by value. A widened filter (op_conv.h's
 * filter_wide) skips the SXTB16 of its weights. A 1x1 layer over 8 channels with the
 * converter's packed stream (op_conv.h's packed) needs no scratch: on Thumb-2
 * conv_pointwise8_asm keeps each pixel's column in registers. */


/* Requantizes one accumulator to the output's int8 range. */
static int8_t conv_output(const tinyml_conv2d_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

/* The gathering buffer on the stack: filters of up to this depth. */
#define CONV_STAGE_BYTES 128

/* RUNS_STAGED: a dense filter whose rows are contiguous in the input but do not start on
 * blocks (e.g. 3x3 over 3 channels: rows of 9 values); an inside patch's rows are copied back to
 * back into the stack buffer, then widened a word at a time, or, three rows of 9 values (an
 * RGB first layer: conv_layout_nines), its 7 words assembled from the rows in place. */
enum { RUNS_PATCH, RUNS_ROWS, RUNS_TAPS, RUNS_STAGED, RUNS_NONE };

typedef struct {
  int32_t blocks;          /* filter_depth / 4 */
  int32_t runs;            /* RUNS_*: the runs widened straight from the input */
  int32_t offset2;         /* the input offset in both lanes */
  int32_t last_origin;     /* the last patch origin (input offset) whose words stay inside the
                              input tensor */
  /* The runs of a pixel inside the image: runs_outer x runs_inner runs of run_words words; the
   * input steps src_inner bytes from run to run and src_outer from row to row (from a row's
   * first run), the column col_inner and col_outer halfwords. */
  int32_t runs_outer, runs_inner, run_words;
  int32_t row_values;       /* RUNS_STAGED: the values of a row, filter_w * filter_c */
  int32_t src_inner, src_outer, col_inner, col_outer;
  int32_t y_limit, x_limit; /* the patch is inside the image for in_y0, in_x0 in [0, limit) */
} conv_layout;

static conv_layout conv_layout_of(const tinyml_conv2d_params *p) {
  const int dense = p->filter_tap_stride == p->filter_c &&
                    p->filter_row_stride == p->filter_w * p->filter_c;
  const int rows_contiguous = p->dilation_w == 1 && p->filter_c == p->input_c &&
                              p->filter_tap_stride == p->filter_c;
  const int32_t row_step = p->dilation_h * p->input_w * p->input_c;
  const int32_t row_values = p->filter_w * p->filter_c;
  int32_t run_values = 0;
  conv_layout l;
  l.blocks = p->filter_depth / 4;
  l.offset2 = tinyml_dup16(p->input_offset);
  l.runs_outer = l.runs_inner = 1;
  l.src_inner = l.col_inner = 0;
  l.src_outer = row_step;
  l.col_outer = 2 * p->filter_row_stride;
  if (dense && rows_contiguous &&
      (p->filter_h == 1 || (p->dilation_h == 1 && p->filter_w == p->input_w))) {
    l.runs = RUNS_PATCH;
    run_values = p->filter_h * row_values;
  } else if (rows_contiguous && p->filter_row_stride % 4 == 0) {
    l.runs = RUNS_ROWS;
    l.runs_outer = p->filter_h;
    run_values = row_values;
  } else if (p->filter_tap_stride % 4 == 0 && p->filter_row_stride % 4 == 0) {
    l.runs = RUNS_TAPS;
    l.runs_outer = p->filter_h;
    l.runs_inner = p->filter_w;
    l.src_inner = p->dilation_w * p->input_c;
    l.col_inner = 2 * p->filter_tap_stride;
    run_values = p->filter_c;
  } else if (dense && rows_contiguous && p->filter_depth <= CONV_STAGE_BYTES) {
    l.runs = RUNS_STAGED;
    l.runs_outer = p->filter_h;
    run_values = row_values;
  } else {
    l.runs = RUNS_NONE;
  }
  l.run_words = (run_values + 3) / 4;
  l.row_values = row_values;
  /* Runs are read a word at a time, past their end to the end of their last word. */
  l.last_origin = p->batches * p->input_h * p->input_w * p->input_c -
                  ((l.runs_outer - 1) * l.src_outer + (l.runs_inner - 1) * l.src_inner +
                   4 * l.run_words);
  l.y_limit = tinyml_max_i32(p->input_h - (p->filter_h - 1) * p->dilation_h, 0);
  l.x_limit = tinyml_max_i32(p->input_w - (p->filter_w - 1) * p->dilation_w, 0);
  return l;
}

/* `words` words of input bytes widened into a column's halves of consecutive blocks. */
static inline void column_words(int16_t *col, const int8_t *src, int32_t words,
                                int32_t offset2) {
  for (; words > 0; --words, src += 4, col += 8) {
    const int32_t x = tinyml_load_s8x4(src);
    tinyml_store_s16x2x2(col, tinyml_sxtab16(offset2, x), tinyml_sxtab16_ror8(offset2, x));
  }
}

/* `n` bytes, a word at a time while at least 4 remain. The empty asm hides the word from GCC,
 * which would otherwise turn the loop into a call to memcpy. */
static inline __attribute__((always_inline)) void copy_row(int8_t *dst, const int8_t *src,
                                                           int32_t n) {
  for (; n >= 4; n -= 4, src += 4, dst += 4) {
    int32_t word;
    memcpy(&word, src, 4);
#if defined(__GNUC__)
    __asm__("" : "+r"(word));
#endif
    memcpy(dst, &word, 4);
  }
  if (n & 2) {
    memcpy(dst, src, 2);
    src += 2;
    dst += 2;
  }
  if (n & 1) *dst = *src;
}

/* `word` widened into block `block` of a column. */
static inline __attribute__((always_inline)) void column_word(int16_t *col, int32_t block,
                                                              int32_t word, int32_t offset2) {
  tinyml_store_s16x2x2(col + 8 * block, tinyml_sxtab16(offset2, word),
                       tinyml_sxtab16_ror8(offset2, word));
}

/* Three rows of 9 values (conv_layout_nines): the 27 values (dense, 7 blocks) from the rows in
 * place, with unaligned word loads: no copy to the stack. Blocks 0, 1, 3, 5 and 6 are whole
 * words of one row (block 6's last value, the next pixel's, meets a zero weight); block 2 is
 * row 0's last value under row 1's first three (the word before row 1 with its low byte
 * replaced), block 4 row 1's last two and row 2's first two (the halves of two words). No load
 * passes the third row's 12th byte, which last_origin allows (three words a row). */
static inline __attribute__((always_inline)) void column_nines_at(int16_t *col,
                                                                  const int8_t *row0,
                                                                  int32_t row_step,
                                                                  int32_t offset2) {
  const int8_t *const row1 = row0 + row_step, *const row2 = row1 + row_step;
  const uint32_t straddle0 =
      ((uint32_t)tinyml_load_s8x4(row1 - 1) & 0xFFFFFF00u) | (uint8_t)row0[8];
  const uint32_t straddle1 = ((uint32_t)tinyml_load_s8x4(row1 + 7) & 0xFFFFu) |
                             ((uint32_t)tinyml_load_s8x4(row2 - 2) & 0xFFFF0000u);
  column_word(col, 0, tinyml_load_s8x4(row0), offset2);
  column_word(col, 1, tinyml_load_s8x4(row0 + 4), offset2);
  column_word(col, 2, (int32_t)straddle0, offset2);
  column_word(col, 3, tinyml_load_s8x4(row1 + 3), offset2);
  column_word(col, 4, (int32_t)straddle1, offset2);
  column_word(col, 5, tinyml_load_s8x4(row2 + 2), offset2);
  column_word(col, 6, tinyml_load_s8x4(row2 + 6), offset2);
}

/* RUNS_STAGED with three rows of 9 values, which column_staged assembles in place. */
static inline int conv_layout_nines(const conv_layout *l) {
  return l->runs == RUNS_STAGED && l->runs_outer == 3 && l->row_values == 9;
}

/* RUNS_STAGED: the rows of an inside patch from its origin `src`, back to back into a buffer on
 * the stack, then widened. Each row is copied a word at a time, run_words words: the bytes past
 * its end are overwritten by the next row, or lie past the patch, where they meet zero weights
 * (the last word is zeroed first, as the last row may not reach it). Its own function, so that
 * the buffer is on the stack only while it runs. */
static __attribute__((noinline)) void column_staged(int16_t *col, const int8_t *src,
                                                    const conv_layout *l) {
  const int32_t zero = 0, row_values = l->row_values, src_outer = l->src_outer;
  const int32_t run_words = l->run_words;
  int8_t stage[CONV_STAGE_BYTES + 4]; /* + 4: the last row's last word may pass the depth */
  int8_t *at = stage;
  int32_t rows;
  if (conv_layout_nines(l)) {
    column_nines_at(col, src, src_outer, l->offset2);
    return;
  }
  memcpy(stage + 4 * (l->blocks - 1), &zero, 4);
  for (rows = l->runs_outer; rows > 0; --rows, src += src_outer, at += row_values) {
    copy_row(at, src, 4 * run_words);
  }
  column_words(col, stage, l->blocks, l->offset2);
}

/* The runs of a pixel whose patch is inside the image, from its origin `src`. */
static inline __attribute__((always_inline)) void column_runs(int16_t *col, const int8_t *src,
                                                              const conv_layout *l) {
  const int32_t offset2 = l->offset2, run_words = l->run_words;
  const int32_t src_outer = l->src_outer, col_outer = l->col_outer;
  int32_t outer, inner;
  if (l->runs == RUNS_STAGED) {
    column_staged(col, src, l);
  } else if (l->runs_inner == 1 && run_words == 1) { /* e.g. rows of up to 4 values */
    for (outer = l->runs_outer; outer > 0; --outer, src += src_outer, col += col_outer) {
      const int32_t x = tinyml_load_s8x4(src);
      tinyml_store_s16x2x2(col, tinyml_sxtab16(offset2, x), tinyml_sxtab16_ror8(offset2, x));
    }
  } else if (l->runs_inner == 1) {
    for (outer = l->runs_outer; outer > 0; --outer, src += src_outer, col += col_outer) {
      column_words(col, src, run_words, offset2);
    }
  } else {
    for (outer = l->runs_outer; outer > 0; --outer, src += src_outer, col += col_outer) {
      const int8_t *run = src;
      int16_t *to = col;
      for (inner = l->runs_inner; inner > 0; --inner, run += l->src_inner, to += l->col_inner) {
        column_words(to, run, run_words, offset2);
      }
    }
  }
}

/* Where an output pixel's patch starts, stepped over the pixels in storage order. */
typedef struct {
  int32_t x, y, batch; /* the output pixel */
  int32_t in_x, in_y;  /* its patch's first input pixel, outside the image with padding */
  int32_t offset;      /* ((batch * input_h + in_y) * input_w + in_x) * input_c */
} conv_cursor;

static inline void conv_cursor_step(const tinyml_conv2d_params *p, conv_cursor *c) {
  c->in_x += p->stride_w;
  c->offset += p->stride_w * p->input_c;
  if (++c->x == p->output_w) {
    c->x = 0;
    c->in_x = -p->pad_left;
    c->in_y += p->stride_h;
    if (++c->y == p->output_h) {
      c->y = 0;
      c->in_y = -p->pad_top;
      ++c->batch;
    }
    c->offset = ((c->batch * p->input_h + c->in_y) * p->input_w + c->in_x) * p->input_c;
  }
}

/* A patch value by value into column `col`: zeros first, then the taps inside the image
 * (patch origin in_y0, in_x0 of image `batch`, the group starting at input channel channel0). */
static __attribute__((noinline)) void conv_im2col_values(const tinyml_conv2d_params *p,
                                                         const conv_layout *l,
                                                         const int8_t *input, int32_t batch,
                                                         int32_t in_y0, int32_t in_x0,
                                                         int32_t channel0, int16_t *col) {
  static const uint8_t lane[4] = {0, 2, 1, 3}; /* where v0 .. v3 of a block go */
  const int32_t image = batch * p->input_h * p->input_w * p->input_c + channel0;
  int32_t b, fy, fx, ic;
  for (b = 0; b < l->blocks; ++b) tinyml_store_s16x2x2(col + 8 * b, 0, 0);
  for (fy = 0; fy < p->filter_h; ++fy) {
    const int32_t in_y = in_y0 + p->dilation_h * fy;
    for (fx = 0; fx < p->filter_w; ++fx) {
      const int32_t in_x = in_x0 + p->dilation_w * fx;
      const int32_t k = fy * p->filter_row_stride + fx * p->filter_tap_stride;
      const int8_t *src;
      if (in_y < 0 || in_y >= p->input_h || in_x < 0 || in_x >= p->input_w) continue;
      src = input + image + (in_y * p->input_w + in_x) * p->input_c;
      for (ic = 0; ic < p->filter_c; ++ic) {
        tinyml_store_s16(col + 8 * ((k + ic) >> 2) + lane[(k + ic) & 3],
                         src[ic] + p->input_offset);
      }
    }
  }
}

/* The same through a buffer on the stack, faster for patches with padding or without runs:
 * gathered in the filter's order, padding taps and gaps as the zero point, then widened a word
 * at a time. Its own function, so that the buffer is on the stack only while it runs. */
/* The first tap [*first] and the end [*end] of one axis inside [0, size) from `origin`, as the
 * portable kernel's conv_taps. */
static inline void conv_axis_taps(int32_t origin, int32_t dilation, int32_t taps, int32_t size,
                                  int32_t *first, int32_t *end) {
  *first = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
  *end = size > origin ? tinyml_min_i32(taps, (size - origin + dilation - 1) / dilation) : 0;
  if (*end < *first) *end = *first;
}

static __attribute__((noinline)) void conv_im2col_staged(const tinyml_conv2d_params *p,
                                                         const conv_layout *l,
                                                         const int8_t *input, int32_t batch,
                                                         int32_t in_y0, int32_t in_x0,
                                                         int32_t channel0, int16_t *col) {
  /* A row's taps inside the image are contiguous in the input, as in the stage, when rows are:
   * then one copy a row. */
  const int contiguous = p->dilation_w == 1 && p->filter_c == p->input_c &&
                         p->filter_tap_stride == p->filter_c;
  const int32_t tap_src = p->dilation_w * p->input_c;
  int8_t stage[CONV_STAGE_BYTES];
  int32_t fy, fx, fy0, fy1, fx0, fx1;
  memset(stage, -p->input_offset, (size_t)p->filter_depth);
  conv_axis_taps(in_y0, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
  conv_axis_taps(in_x0, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
  for (fy = fy0; fy < fy1; ++fy) {
    const int8_t *src = input + ((batch * p->input_h + in_y0 + p->dilation_h * fy) * p->input_w +
                                 in_x0 + p->dilation_w * fx0) * p->input_c + channel0;
    int8_t *at = stage + fy * p->filter_row_stride + fx0 * p->filter_tap_stride;
    if (contiguous) {
      copy_row(at, src, (fx1 - fx0) * p->filter_c);
      continue;
    }
    for (fx = fx0; fx < fx1; ++fx, src += tap_src, at += p->filter_tap_stride) {
      copy_row(at, src, p->filter_c);
    }
  }
  column_words(col, stage, l->blocks, l->offset2);
}

/* A patch with padding when every tap's channels start on a block (filter_c a multiple of 4,
 * so every layout's taps do): the column zeroed, then each tap inside the image widened
 * straight from the input, filter_c / 4 words, none read past its tap. */
static __attribute__((noinline)) void conv_im2col_taps(const tinyml_conv2d_params *p,
                                                       const conv_layout *l,
                                                       const int8_t *input, int32_t batch,
                                                       int32_t in_y0, int32_t in_x0,
                                                       int32_t channel0, int16_t *col) {
  const int32_t words = p->filter_c / 4, offset2 = l->offset2;
  const int32_t tap_src = p->dilation_w * p->input_c, tap_col = 2 * p->filter_tap_stride;
  int32_t b, fy, fx, fy0, fy1, fx0, fx1;
  for (b = 0; b < l->blocks; ++b) tinyml_store_s16x2x2(col + 8 * b, 0, 0);
  conv_axis_taps(in_y0, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
  conv_axis_taps(in_x0, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
  for (fy = fy0; fy < fy1; ++fy) {
    const int8_t *src = input + ((batch * p->input_h + in_y0 + p->dilation_h * fy) * p->input_w +
                                 in_x0 + p->dilation_w * fx0) * p->input_c + channel0;
    int16_t *to = col + 2 * (fy * p->filter_row_stride + fx0 * p->filter_tap_stride);
    for (fx = fx0; fx < fx1; ++fx, src += tap_src, to += tap_col) {
      column_words(to, src, words, offset2);
    }
  }
}

/* A patch with padding, or without runs, for the group starting at input channel channel0. */
static void conv_im2col_general(const tinyml_conv2d_params *p, const conv_layout *l,
                                const int8_t *input, int32_t batch, int32_t in_y0,
                                int32_t in_x0, int32_t channel0, int16_t *col) {
  if ((p->filter_c & 3) == 0) {
    conv_im2col_taps(p, l, input, batch, in_y0, in_x0, channel0, col);
  } else if (p->filter_depth <= CONV_STAGE_BYTES) {
    conv_im2col_staged(p, l, input, batch, in_y0, in_x0, channel0, col);
  } else {
    conv_im2col_values(p, l, input, batch, in_y0, in_x0, channel0, col);
  }
}

/* The patch of the pixel at cursor c for the group starting at input channel channel0, into
 * column `col` (a half of the scratch's first block). */
static inline __attribute__((always_inline)) void conv_im2col(const tinyml_conv2d_params *p,
                                                              const conv_layout *l,
                                                              const int8_t *input,
                                                              const conv_cursor *c,
                                                              int32_t channel0, int16_t *col) {
  if (l->runs != RUNS_NONE && (uint32_t)c->in_y < (uint32_t)l->y_limit &&
      (uint32_t)c->in_x < (uint32_t)l->x_limit && c->offset + channel0 <= l->last_origin) {
    column_runs(col, input + c->offset + channel0, l);
  } else {
    conv_im2col_general(p, l, input, c->batch, c->in_y, c->in_x, channel0, col);
  }
}

/* Four accumulators: filters a, b by columns 0, 1. */
typedef struct {
  int32_t a0, b0, a1, b1;
} conv_acc;

/* Filters wa, wb (`blocks` blocks each) against both columns. */
static void conv_dot(const int8_t *wa, const int8_t *wb, const int16_t *col, int32_t blocks,
                     conv_acc *acc) {
  for (; blocks > 0; --blocks, wa += 4, wb += 4, col += 8) {
    const int32_t x0 = tinyml_load_s16x2(col), x1 = tinyml_load_s16x2(col + 2);
    const int32_t x2 = tinyml_load_s16x2(col + 4), x3 = tinyml_load_s16x2(col + 6);
    int32_t w = tinyml_load_s8x4(wa), w02 = tinyml_sxtb16(w), w13 = tinyml_sxtb16_ror8(w);
    acc->a0 = tinyml_smlad(w13, x1, tinyml_smlad(w02, x0, acc->a0));
    acc->a1 = tinyml_smlad(w13, x3, tinyml_smlad(w02, x2, acc->a1));
    w = tinyml_load_s8x4(wb);
    w02 = tinyml_sxtb16(w);
    w13 = tinyml_sxtb16_ror8(w);
    acc->b0 = tinyml_smlad(w13, x1, tinyml_smlad(w02, x0, acc->b0));
    acc->b1 = tinyml_smlad(w13, x3, tinyml_smlad(w02, x2, acc->b1));
  }
}

/* The same with the widened filter (op_conv.h's filter_wide): a block's two words per filter
 * are already the pairs. */
static void conv_dot_wide(const int32_t *wa, const int32_t *wb, const int16_t *col,
                          int32_t blocks, conv_acc *acc) {
  for (; blocks > 0; --blocks, wa += 2, wb += 2, col += 8) {
    const int32_t x0 = tinyml_load_s16x2(col), x1 = tinyml_load_s16x2(col + 2);
    const int32_t x2 = tinyml_load_s16x2(col + 4), x3 = tinyml_load_s16x2(col + 6);
    acc->a0 = tinyml_smlad(wa[1], x1, tinyml_smlad(wa[0], x0, acc->a0));
    acc->a1 = tinyml_smlad(wa[1], x3, tinyml_smlad(wa[0], x2, acc->a1));
    acc->b0 = tinyml_smlad(wb[1], x1, tinyml_smlad(wb[0], x0, acc->b0));
    acc->b1 = tinyml_smlad(wb[1], x3, tinyml_smlad(wb[0], x2, acc->b1));
  }
}

/* How the accumulators become bytes: the general requantization, or the output_stage table
 * with the full int8 range (SSAT only) or with a narrower activation range. */
enum { OUTPUT_GENERAL, OUTPUT_FAST, OUTPUT_FAST_CLAMP };

static int8_t conv_out(const tinyml_conv2d_params *p, int32_t acc, int32_t channel, int mode) {
  int32_t value;
  if (mode == OUTPUT_GENERAL) return conv_output(p, acc, channel);
  value = tinyml_ssat8(tinyml_output_stage_fast(acc, p->output_stage + 4 * channel));
  if (mode == OUTPUT_FAST_CLAMP) value = tinyml_clamp_i32(value, p->act_min, p->act_max);
  return (int8_t)value;
}

/* Output channels first .. end-1 of the pixels whose columns are in the scratch, in C; out0 /
 * out1 point at the two pixels' output channel 0 (the same pixel twice for an odd last one,
 * whose patch is then in both columns). An odd last filter is paired with itself. */
static void conv_columns(const tinyml_conv2d_params *p, const int16_t *col, int32_t first,
                         int32_t end, int8_t *out0, int8_t *out1, int mode) {
  int32_t oc;
  for (oc = first; oc < end; oc += 2) {
    const int32_t ob = oc + 1 < end ? oc + 1 : oc;
    conv_acc acc;
    if (mode == OUTPUT_GENERAL) {
      acc.a0 = acc.a1 = acc.b0 = acc.b1 = 0;
    } else {
      acc.a0 = acc.a1 = p->output_stage[4 * oc];
      acc.b0 = acc.b1 = p->output_stage[4 * ob];
    }
    if (p->filter_wide != NULL) {
      conv_dot_wide(p->filter_wide + oc * p->filter_depth / 2,
                    p->filter_wide + ob * p->filter_depth / 2, col, p->filter_depth / 4, &acc);
    } else {
      conv_dot(p->filter + oc * p->filter_depth, p->filter + ob * p->filter_depth, col,
               p->filter_depth / 4, &acc);
    }
    out0[oc] = conv_out(p, acc.a0, oc, mode);
    out1[oc] = conv_out(p, acc.a1, oc, mode);
    if (ob != oc) {
      out0[ob] = conv_out(p, acc.b0, ob, mode);
      out1[ob] = conv_out(p, acc.b1, ob, mode);
    }
  }
}

#if defined(TINYML_KERNEL_ASM)
#include "op_conv2d_asm.h"

/* column_runs as a call: the loop below keeps only the test inline. */
static __attribute__((noinline)) void column_runs_call(int16_t *col, const int8_t *src,
                                                       const conv_layout *l) {
  column_runs(col, src, l);
}

/* The column of the pixel at (batch, y, x), whose patch starts at input offset `origin`;
 * x_end: 0 on a row whose patches pass the image's bottom, else the first column whose patch
 * passes its right edge (no padding before the image). */
static inline __attribute__((always_inline)) void conv_column_inside(
    const tinyml_conv2d_params *p, const conv_layout *l, const int8_t *input, int32_t origin,
    int32_t batch, int32_t y, int32_t x, int32_t x_end, int16_t *col, const int edges) {
  if ((!edges || x < x_end) && origin <= l->last_origin) {
    if (edges) { /* conv_run_nines: three rows of 9 */
      column_staged(col, input + origin, l);
    } else {
      column_runs_call(col, input + origin, l);
    }
  } else if (edges) { /* padding, or its last word would read past the input */
    conv_im2col_general(p, l, input, batch, y * p->stride_h, x * p->stride_w, 0, col);
  } else { /* its last word would read past the input: one of the last pixels */
    conv_im2col_values(p, l, input, batch, y * p->stride_h, x * p->stride_w, 0, col);
  }
}

/* The output columns x < cols_inside of a row y < rows_inside have their patch inside the
 * image (no padding before it). */
static inline int32_t conv_first_outside(int32_t limit, int32_t stride, int32_t outputs) {
  return tinyml_min_i32((limit + stride - 1) / stride, outputs);
}

/* RUNS_ROWS with rows of one word (e.g. digits' 3x3x1 first layer): the rows widened inline,
 * the layout's fields already in registers. */
static inline __attribute__((always_inline)) void column_rows_of_a_word(
    int16_t *col, const int8_t *src, int32_t rows, int32_t src_step, int32_t col_step,
    int32_t offset2) {
  for (; rows > 0; --rows, src += src_step, col += col_step) {
    const int32_t x = tinyml_load_s8x4(src);
    tinyml_store_s16x2x2(col, tinyml_sxtab16(offset2, x), tinyml_sxtab16_ror8(offset2, x));
  }
}

/* The common case in its own loop, with the least bookkeeping per pixel pair: one group, no
 * padding reaching any pixel, a patch made of runs, the output_stage table with the full range.
 * The patch origin steps through the input; all filter pairs in assembly, an odd last filter
 * in C. */
static inline __attribute__((always_inline)) void conv_run_inside_loop(
    const tinyml_conv2d_params *p, const conv_layout *l, const int8_t *input, int8_t *output,
    int16_t *scratch, conv_pairs_job *job, void (*pairs_asm)(const conv_pairs_job *),
    const int rows_of_a_word) {
  const int32_t pixels = p->batches * p->output_h * p->output_w;
  const int32_t step = p->stride_w * p->input_c;
  const int32_t row_jump = (p->stride_h * p->input_w - p->output_w * p->stride_w) * p->input_c;
  const int32_t image_jump = (p->input_h - p->output_h * p->stride_h) * p->input_w * p->input_c;
  const int32_t paired = 2 * ((job->stage_end - job->stage) / 8);
  const int32_t rows = l->runs_outer, src_step = l->src_outer, col_step = l->col_outer;
  const int32_t offset2 = l->offset2, last_origin = l->last_origin;
  int32_t pixel, origin = 0, x = 0, y = 0, batch = 0;
  for (pixel = 0; pixel < pixels; pixel += 2) {
    int8_t *out0 = output + pixel * p->output_c, *out1 = out0;
    if (rows_of_a_word && origin <= last_origin) {
      column_rows_of_a_word(scratch, input + origin, rows, src_step, col_step, offset2);
    } else {
      conv_column_inside(p, l, input, origin, batch, y, x, 0, scratch, 0);
    }
    if (pixel + 1 < pixels) {
      origin += step;
      if (++x == p->output_w) {
        x = 0;
        origin += row_jump;
        if (++y == p->output_h) {
          y = 0;
          ++batch;
          origin += image_jump;
        }
      }
      out1 += p->output_c;
    }
    /* An odd last pixel goes into both columns, its outputs written twice. */
    if (rows_of_a_word && origin <= last_origin) {
      column_rows_of_a_word(scratch + 4, input + origin, rows, src_step, col_step, offset2);
    } else {
      conv_column_inside(p, l, input, origin, batch, y, x, 0, scratch + 4, 0);
    }
    job->out0 = out0;
    job->out1 = out1;
    pairs_asm(job);
    if (paired < p->output_c) {
      conv_columns(p, scratch, paired, p->output_c, out0, out1, OUTPUT_FAST);
    }
    origin += step;
    if (++x == p->output_w) {
      x = 0;
      origin += row_jump;
      if (++y == p->output_h) {
        y = 0;
        ++batch;
        origin += image_jump;
      }
    }
  }
}

/* The converter's packed stream for a 1x1 layer over 8 input channels, stride 1 (op_conv.h),
 * with its pixels' inputs back to back as its outputs are (a strip of rows of one image:
 * tinyml_run_strips passes the first output_h of input_h rows): conv_pointwise8_asm does
 * every pixel. The stream's conditions are checked again here but its output_c, a multiple of
 * 4, the converter's. */
static int conv_is_pointwise8(const tinyml_conv2d_params *p, int32_t groups, int mode) {
  return p->packed != NULL && mode == OUTPUT_FAST && groups == 1 && p->input_c == 8 &&
         p->filter_depth == 8 && p->filter_h == 1 && p->filter_w == 1 && p->stride_h == 1 &&
         p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
         p->output_w == p->input_w && (p->batches == 1 || p->output_h == p->input_h) &&
         p->output_h <= p->input_h && p->output_c > 0 && p->output_c % 4 == 0;
}

static void conv_pointwise8(const tinyml_conv2d_params *p, const int8_t *input, int8_t *output,
                            const conv_layout *l) {
  const int32_t pixels = p->batches * p->output_h * p->output_w;
  conv_pointwise8_job job;
  if (pixels == 0) return;
  job.input = input;
  job.offset2 = l->offset2;
  job.packed = p->packed;
  job.output_end = output + pixels * p->output_c;
  job.output = output;
  conv_pointwise8_asm(&job);
}

/* A 1x1 layer over 16 input channels with the widened filter, stride 1, an even output_c and
 * the output_stage table with the full range, its pixels' inputs back to back as its outputs
 * are (as conv_is_pointwise8's): conv_pointwise16_asm does every pixel pair. */
static int conv_is_pointwise16(const tinyml_conv2d_params *p, int32_t groups, int mode) {
  return p->input_c == 16 && p->filter_depth == 16 && mode == OUTPUT_FAST &&
         p->filter_wide != NULL && groups == 1 && p->filter_h == 1 && p->filter_w == 1 &&
         p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
         p->output_w == p->input_w && (p->batches == 1 || p->output_h == p->input_h) &&
         p->output_h <= p->input_h && p->output_c >= 2 && p->output_c % 2 == 0;
}

/* `job`: conv_run's, for an odd last pixel, which goes into both columns (its outputs written
 * twice) through conv_pairs_wide_4_asm. */
static void conv_pointwise16(const tinyml_conv2d_params *p, const int8_t *input, int8_t *output,
                             int16_t *scratch, const conv_layout *l, conv_pairs_job *job) {
  const int32_t pixels = p->batches * p->output_h * p->output_w;
  const int32_t paired = pixels & ~1;
  if (paired > 0) {
    conv_pointwise16_job pj;
    pj.input = input;
    pj.offset2 = l->offset2;
    pj.columns = scratch;
    pj.filter = p->filter_wide;
    pj.stage = p->output_stage;
    pj.out0 = output;
    pj.out1_offset = p->output_c - 1;
    pj.stage_end = p->output_stage + 4 * p->output_c;
    pj.output_end = output + paired * p->output_c;
    conv_pointwise16_asm(&pj);
  }
  if (pixels & 1) {
    const int8_t *last = input + paired * 16;
    column_runs_call(scratch, last, l);
    column_runs_call(scratch + 4, last, l);
    job->out0 = job->out1 = output + paired * p->output_c;
    conv_pairs_wide_4_asm(job);
  }
}

/* Both columns of a pixel pair whose patches start at src0 and src0 + step, in one call. */
static __attribute__((noinline)) void column_nines_pair(int16_t *col, const int8_t *src0,
                                                        int32_t step, const conv_layout *l) {
  column_nines_at(col, src0, l->src_outer, l->offset2);
  column_nines_at(col + 4, src0 + step, l->src_outer, l->offset2);
}

/* Three rows of 9 values (an RGB first layer) with an even output_w, so that pixel pairs never
 * straddle rows: row by row, first the pairs whose patches are both inside the image (and
 * whose last word stays inside the input) through column_nines_pair in a loop of their own,
 * then the rest (SAME padding's last column, the last row, the last pixels) pixel by pixel
 * through conv_column_inside. An odd last filter goes through C. */
static void conv_run_nines(const tinyml_conv2d_params *p, const conv_layout *l,
                           const int8_t *input, int8_t *output, int16_t *scratch,
                           conv_pairs_job *job, void (*pairs_asm)(const conv_pairs_job *)) {
  const int32_t rows_inside = conv_first_outside(l->y_limit, p->stride_h, p->output_h);
  const int32_t cols_inside = conv_first_outside(l->x_limit, p->stride_w, p->output_w);
  const int32_t step = p->stride_w * p->input_c, row_step = p->stride_h * p->input_w * p->input_c;
  const int32_t image_step = p->input_h * p->input_w * p->input_c;
  const int32_t paired = 2 * ((job->stage_end - job->stage) / 8), pair_out = 2 * p->output_c;
  int32_t batch, y, x;
  int8_t *out = output;
  for (batch = 0; batch < p->batches; ++batch) {
    for (y = 0; y < p->output_h; ++y) {
      const int32_t row = batch * image_step + y * row_step;
      const int32_t x_end = y < rows_inside ? cols_inside : 0;
      /* The inside pairs: both columns inside, the second's last word inside the input. */
      int32_t pairs = x_end / 2, origin = row;
      if (pairs > 0 && row + (2 * pairs - 1) * step > l->last_origin) {
        const int32_t room = l->last_origin - row - step; /* for the first pair's second */
        pairs = room < 0 ? 0 : room / (2 * step) + 1;
      }
      for (x = 0; x < 2 * pairs; x += 2, origin += 2 * step, out += pair_out) {
        column_nines_pair(scratch, input + origin, step, l);
        job->out0 = out;
        job->out1 = out + p->output_c;
        pairs_asm(job);
        if (paired < p->output_c) {
          conv_columns(p, scratch, paired, p->output_c, out, out + p->output_c, OUTPUT_FAST);
        }
      }
      for (; x < p->output_w; x += 2, origin += 2 * step, out += pair_out) {
        conv_column_inside(p, l, input, origin, batch, y, x, x_end, scratch, 1);
        conv_column_inside(p, l, input, origin + step, batch, y, x + 1, x_end, scratch + 4, 1);
        job->out0 = out;
        job->out1 = out + p->output_c;
        pairs_asm(job);
        if (paired < p->output_c) {
          conv_columns(p, scratch, paired, p->output_c, out, out + p->output_c, OUTPUT_FAST);
        }
      }
    }
  }
}

/* The column of the pixel at (y, x) of image 0, padding or not: when every pixel of the pool's
 * windows is inside the image (`inside`), from its runs (`rows_of_a_word`: digits' 3x3x1 rows
 * inline, as conv_run_inside_loop does), else as conv_run's cursor would. */
static inline __attribute__((always_inline)) void conv_column_at(
    const tinyml_conv2d_params *p, const conv_layout *l, const int8_t *input, int32_t y,
    int32_t x, int16_t *col, const int inside, const int rows_of_a_word) {
  if (inside) {
    const int32_t origin = (y * p->stride_h * p->input_w + x * p->stride_w) * p->input_c;
    if (rows_of_a_word && origin <= l->last_origin) {
      column_rows_of_a_word(col, input + origin, l->runs_outer, l->src_outer, l->col_outer,
                            l->offset2);
    } else {
      conv_column_inside(p, l, input, origin, 0, y, x, 0, col, 0);
    }
  } else {
    conv_cursor c;
    c.x = x, c.y = y, c.batch = 0;
    c.in_x = x * p->stride_w - p->pad_left;
    c.in_y = y * p->stride_h - p->pad_top;
    c.offset = (c.in_y * p->input_w + c.in_x) * p->input_c;
    conv_im2col(p, l, input, &c, 0, col);
  }
}

/* Every window of the pool: its four pixels' columns, then all filter pairs in assembly. */
static inline __attribute__((always_inline)) void conv_pool_windows(
    const tinyml_conv2d_params *p, const tinyml_pool2d_params *q, const conv_layout *l,
    const int8_t *input, int8_t *output, conv_pool_job *job, const int inside,
    const int rows_of_a_word) {
  int16_t *const top = (int16_t *)job->columns, *const bottom = (int16_t *)job->middle;
  int32_t py, px;
  for (py = 0; py < q->output_h; ++py) {
    for (px = 0; px < q->output_w; ++px, output += p->output_c) {
      const int32_t y = 2 * py, x = 2 * px;
      conv_column_at(p, l, input, y, x, top, inside, rows_of_a_word);
      conv_column_at(p, l, input, y, x + 1, top + 4, inside, rows_of_a_word);
      conv_column_at(p, l, input, y + 1, x, bottom, inside, rows_of_a_word);
      conv_column_at(p, l, input, y + 1, x + 1, bottom + 4, inside, rows_of_a_word);
      job->out = output;
      if (p->filter_wide != NULL) {
        conv_pool_pairs_wide_asm(job);
      } else {
        conv_pool_pairs_asm(job);
      }
    }
  }
}

int tinyml_conv2d_pool_s8(const tinyml_conv2d_params *p, const void *pool, uint8_t *arena) {
  const tinyml_pool2d_params *q = (const tinyml_pool2d_params *)pool;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + q->output);
  int16_t *columns = (int16_t *)(void *)(arena + p->scratch);
  const int32_t depth = p->filter_depth, channels = p->output_c;
  conv_layout l;
  conv_pool_job job;
  /* The assembly's case: the fast output stage over the full int8 range on both layers (the
   * pool then only takes maxima), one group, filter pairs only, a pool of whole windows. */
  if (p->output_stage == NULL || p->act_min != -128 || p->act_max != 127 || q->act_min != -128 ||
      q->act_max != 127 || p->batches != 1 || p->filter_c != p->input_c || channels % 2 != 0 ||
      depth <= 0 || q->channels != channels || q->filter_h != 2 || q->filter_w != 2 ||
      q->stride_h != 2 || q->stride_w != 2 || q->pad_top != 0 || q->pad_left != 0 ||
      q->input_w != p->output_w || 2 * q->output_h > p->output_h ||
      2 * q->output_w > p->output_w) {
    return 0;
  }
  l = conv_layout_of(p);
  job.filter = p->filter_wide != NULL ? (const void *)p->filter_wide : (const void *)p->filter;
  job.stage = p->output_stage;
  job.columns = columns;
  job.middle = columns + 2 * depth;
  job.end = columns + 4 * depth;
  job.depth = p->filter_wide != NULL ? 2 * depth : depth;
  job.stage_end = p->output_stage + 4 * channels;
  if (l.runs == RUNS_NONE || p->pad_top != 0 || p->pad_left != 0 ||
      (2 * q->output_h - 1) * p->stride_h >= l.y_limit ||
      (2 * q->output_w - 1) * p->stride_w >= l.x_limit) {
    conv_pool_windows(p, q, &l, input, output, &job, 0, 0);
  } else if (l.runs == RUNS_ROWS && l.run_words == 1) {
    conv_pool_windows(p, q, &l, input, output, &job, 1, 1);
  } else {
    conv_pool_windows(p, q, &l, input, output, &job, 1, 0);
  }
  return 1;
}

/* The layers conv_run_nines takes: three rows of 9 values, an even output_w (and, as every
 * layer in conv_run_inside, no padding before the image). */
static int conv_is_nines(const tinyml_conv2d_params *p, const conv_layout *l) {
  return conv_layout_nines(l) && p->output_w % 2 == 0;
}

/* The loop twice, so that the other layouts do not pay for the inline rows' registers; RGB
 * first layers in their own (conv_run_nines), which also takes the padding after the image. */
static void conv_run_inside(const tinyml_conv2d_params *p, const conv_layout *l,
                            const int8_t *input, int8_t *output, int16_t *scratch,
                            conv_pairs_job *job, void (*pairs_asm)(const conv_pairs_job *)) {
  if (conv_is_nines(p, l)) {
    conv_run_nines(p, l, input, output, scratch, job, pairs_asm);
  } else if (l->runs == RUNS_ROWS && l->run_words == 1) {
    conv_run_inside_loop(p, l, input, output, scratch, job, pairs_asm, 1);
  } else {
    conv_run_inside_loop(p, l, input, output, scratch, job, pairs_asm, 0);
  }
}
#endif

static void conv_run(const tinyml_conv2d_params *p, uint8_t *arena, int mode) {
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int16_t *scratch = (int16_t *)(void *)(arena + p->scratch); /* accessed through memcpy */
  const conv_layout l = conv_layout_of(p);
  const int32_t groups = p->input_c / p->filter_c;
  const int32_t filters_per_group = p->output_c / groups;
  const int32_t pixels = p->batches * p->output_h * p->output_w;
  conv_cursor first, second;
  int32_t pixel, group;
#if defined(TINYML_KERNEL_ASM)
  /* Filter pairs of a group in assembly (all but an odd last filter), the rest in C. */
  const int32_t pairs = mode == OUTPUT_FAST && p->filter_depth > 0 ? filters_per_group / 2 : 0;
  /* The widened filter's loop, or the int8 one; the job counts filters in bytes. */
  void (*const pairs_asm)(const conv_pairs_job *) =
      p->filter_wide == NULL       ? conv_pairs_asm
      : p->filter_depth == 4 * 4 ? conv_pairs_wide_4_asm
      : p->filter_depth == 4 * 7 ? conv_pairs_wide_7_asm
                                   : conv_pairs_wide_asm;
  const int32_t filter_bytes = p->filter_wide != NULL ? 2 * p->filter_depth : p->filter_depth;
  const uint8_t *const filter =
      p->filter_wide != NULL ? (const uint8_t *)p->filter_wide : (const uint8_t *)p->filter;
  conv_pairs_job job;
  job.columns = scratch;
  job.end = scratch + 2 * p->filter_depth;
  job.depth = filter_bytes;
  job.filter = filter;
  job.stage = p->output_stage;
  job.stage_end = p->output_stage != NULL ? p->output_stage + 8 * pairs : NULL;
  if (conv_is_pointwise8(p, groups, mode)) {
    conv_pointwise8(p, input, output, &l);
    return;
  }
  if (conv_is_pointwise16(p, groups, mode)) {
    conv_pointwise16(p, input, output, scratch, &l, &job);
    return;
  }
  if (groups == 1 && pairs > 0 && l.runs != RUNS_NONE && p->pad_top == 0 && p->pad_left == 0 &&
      (conv_is_nines(p, &l) || ((p->output_h - 1) * p->stride_h < l.y_limit &&
                                (p->output_w - 1) * p->stride_w < l.x_limit))) {
    conv_run_inside(p, &l, input, output, scratch, &job, pairs_asm);
    return;
  }
#else
  const int32_t pairs = 0;
#endif
  first.x = first.y = first.batch = 0;
  first.in_x = -p->pad_left;
  first.in_y = -p->pad_top;
  first.offset = (first.in_y * p->input_w + first.in_x) * p->input_c;
  for (pixel = 0; pixel < pixels; pixel += 2) {
    /* The pair's pixels; an odd last one is both, its outputs written twice. */
    int8_t *out0 = output + pixel * p->output_c;
    int8_t *out1 = out0;
    second = first;
    if (pixel + 1 < pixels) {
      conv_cursor_step(p, &second);
      out1 += p->output_c;
    }
    if (groups == 1) { /* the common case, without the group loop's bookkeeping */
      conv_im2col(p, &l, input, &first, 0, scratch);
      conv_im2col(p, &l, input, &second, 0, scratch + 4);
#if defined(TINYML_KERNEL_ASM)
      if (pairs > 0) {
        job.out0 = out0;
        job.out1 = out1;
        pairs_asm(&job);
      }
#endif
      if (2 * pairs < p->output_c) {
        conv_columns(p, scratch, 2 * pairs, p->output_c, out0, out1, mode);
      }
      first = second;
      conv_cursor_step(p, &first);
      continue;
    }
    for (group = 0; group < groups; ++group) {
      const int32_t oc = group * filters_per_group;
      conv_im2col(p, &l, input, &first, group * p->filter_c, scratch);
      conv_im2col(p, &l, input, &second, group * p->filter_c, scratch + 4);
#if defined(TINYML_KERNEL_ASM)
      if (pairs > 0) {
        job.filter = filter + oc * filter_bytes;
        job.stage = p->output_stage + 4 * oc;
        job.stage_end = job.stage + 8 * pairs;
        job.out0 = out0 + oc;
        job.out1 = out1 + oc;
        pairs_asm(&job);
      }
#endif
      if (2 * pairs < filters_per_group) {
        conv_columns(p, scratch, oc + 2 * pairs, oc + filters_per_group, out0, out1, mode);
      }
    }
    first = second;
    conv_cursor_step(p, &first);
  }
}

void tinyml_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_conv2d_params *p = (const tinyml_conv2d_params *)params;
  if (p->output_stage == NULL) {
    conv_run(p, arena, OUTPUT_GENERAL);
  } else if (p->act_min == -128 && p->act_max == 127) {
    conv_run(p, arena, OUTPUT_FAST);
  } else {
    conv_run(p, arena, OUTPUT_FAST_CLAMP);
  }
}

#endif /* TINYML_OP_CONV2D_DSP_H */
