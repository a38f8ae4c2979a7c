/* DEPTHWISE_CONV_2D, the DSP variant (TINYML_USE_DSP): C with dsp.h's SIMD helpers, and on
 * Thumb-2 its hot loops in assembly (op_depthwise_conv2d_asm.h). Included by
 * op_depthwise_conv2d.c only (kernel_variant.h). */
#ifndef TINYML_OP_DEPTHWISE_CONV2D_DSP_H
#define TINYML_OP_DEPTHWISE_CONV2D_DSP_H

#include "kernel_variant.h"
#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Multiplier 1 with the converter's `packed` filter (the usual case): two taps' words of 4
 * channels are interleaved by PKHBT / PKHTB so that SXTB16 gives each channel's pair of taps,
 * which SMLAD multiplies with the pair's pre-widened (and doubled, for the output stage's
 * sake: dw_requantize4) weights; the input offset is folded into the start values and a tap
 * outside the input reads pad_input (the zero point), which then adds 0. 3x3 windows run a row
 * at a time (dw_run9). See dw_pairs4 and docs/compiler.md. Otherwise:
 * channels are contiguous in NHWC input, output and filter ([h][w][output_c]), so one word
 * holds 4 channels of one tap, and each lane feeds its own accumulator through SMLABB /
 * SMLATT:
 *   multiplier 1, no `packed`: per tap 2 loads, SXTAB16 x2 (input + offset), SXTB16 x2,
 *                  4 MACs, over a per-pixel list of the visited taps' addresses
 *                  (dw_pixel_m1), outputs requantized four at a time with the fast table;
 *   multiplier >= 4: one input value shared by 4 consecutive output channels, SMLABB/SMLATB.
 * Padding taps are skipped by clipping the window once per pixel instead of testing per tap
 * (interior pixels skip the clipping's divisions).
 * No scratch is needed. Integer sums are exact modulo 2^32, so the accumulators equal the
 * reference's bit for bit. */

/* Requantizes one accumulator to the output's int8 range. */
static int8_t dw_output(const tinyml_depthwise_conv2d_params *p, int32_t acc, int32_t channel) {
  if (p->output_stage != NULL) { /* the same bytes, fewer instructions (op_conv.h) */
    const int32_t *stage = p->output_stage + 4 * channel;
    return (int8_t)tinyml_clamp_i32(tinyml_output_stage_fast(acc + stage[0], stage),
                                    p->act_min, p->act_max);
  }
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

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
  /* Interior pixels (most of them) see the whole window: skip dw_taps' divisions. */
  if (in_y0 >= 0 && in_y0 + p->dilation_h * (p->filter_h - 1) < p->input_h) {
    fy0 = 0;
    fy1 = p->filter_h;
  } else {
    dw_taps(in_y0, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
  }
  if (in_x0 >= 0 && in_x0 + p->dilation_w * (p->filter_w - 1) < p->input_w) {
    fx0 = 0;
    fx1 = p->filter_w;
  } else {
    dw_taps(in_x0, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
  }
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
      in += win->input_col_step;
      w += win->filter_col_step;
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
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
      in += win->input_col_step;
      w += win->filter_col_step;
    }
  }
  return acc;
}

static void dw_store4(const tinyml_depthwise_conv2d_params *p, const int32_t acc[4], int32_t oc,
                      int8_t *out) {
  int32_t lane;
  for (lane = 0; lane < 4; ++lane) out[oc + lane] = dw_output(p, acc[lane], oc + lane);
}

/* Requantizes channels c .. c+3 with the fast table and stores them as one word: SSAT to int8,
 * the four bytes packed, the activation clamp bytewise (SSUB8/SEL) on all four at once. The
 * accumulators were seeded with the table's start values. */
static inline void dw_store4_fast(const int32_t *stage, int32_t a0, int32_t a1, int32_t a2,
                                  int32_t a3, int32_t lo4, int32_t hi4, int8_t *out) {
  const uint32_t b0 = (uint32_t)tinyml_ssat8(tinyml_output_stage_fast(a0, stage)) & 0xFFu;
  const uint32_t b1 = (uint32_t)tinyml_ssat8(tinyml_output_stage_fast(a1, stage + 4)) & 0xFFu;
  const uint32_t b2 = (uint32_t)tinyml_ssat8(tinyml_output_stage_fast(a2, stage + 8)) & 0xFFu;
  const uint32_t b3 = (uint32_t)tinyml_ssat8(tinyml_output_stage_fast(a3, stage + 12)) & 0xFFu;
  const int32_t word = (int32_t)(b0 | b1 << 8 | b2 << 16 | b3 << 24);
  tinyml_store_s8x4(out, tinyml_min_s8x4(tinyml_max_s8x4(word, lo4), hi4));
}

/* Multiplier 1, one tap of channels c .. c+3: two loads, SXTAB16 x2 (input + offset), SXTB16 x2
 * and 4 MACs. */
static inline __attribute__((always_inline)) void dw_tap4(const int8_t *in, const int8_t *w,
                                                          int32_t offset2, int32_t acc[4]) {
  const int32_t x = tinyml_load_s8x4(in), f = tinyml_load_s8x4(w);
  const int32_t x02 = tinyml_sxtab16(offset2, x), x13 = tinyml_sxtab16_ror8(offset2, x);
  const int32_t f02 = tinyml_sxtb16(f), f13 = tinyml_sxtb16_ror8(f);
  acc[0] = tinyml_smlabb(f02, x02, acc[0]);
  acc[2] = tinyml_smlatt(f02, x02, acc[2]);
  acc[1] = tinyml_smlabb(f13, x13, acc[1]);
  acc[3] = tinyml_smlatt(f13, x13, acc[3]);
}

/* Windows of up to this many taps go through a flat list of tap addresses (2 pointers a tap on
 * the stack): 3x3 up to 4x4 and 5x3. */
#define DW_LIST_TAPS 16

/* The packed path's pass (dw_groups) reads this many taps' addresses from its list at
 * most: the converter emits `packed` for windows of 2 .. 25 taps (DEPTHWISE_PACKED_TAPS). */
#define DW_PACKED_TAPS 25

#if defined(TINYML_KERNEL_ASM) && defined(__OPTIMIZE__)
/* Unoptimized builds keep a frame pointer, which leaves too few registers for the packed
 * pass's 13 operands: they take the C twins below. */
#define DW_PACKED_ASM 1
#endif

/* A run of pixels of a 3x3 window on the packed path: a row's pixels inside the input, whose
 * taps' offsets the 3x3 words hold, or one pixel at the border with its own list: what dw_run9
 * reads, in the assembly at these word offsets. */
typedef struct {
  const int32_t *packed; /*  0: the group words (depthwise_packed_filter, the 3x3 layout) */
  const int8_t *base;    /*  4: the first pixel's window origin, channel 0 */
  int8_t *out;           /*  8: its output, channel 0 */
  int32_t pixels;        /* 12: >= 1 */
  int32_t base_step;     /* 16: from a pixel's window origin to the next one's (inside) */
  int32_t out_step;      /* 20: from past a pixel's last group to the next pixel's output */
  int32_t lo4, hi4;      /* 24, 28: the activation range, bytewise (if clamping) */
  intptr_t list[9];      /* 32: a border pixel's taps' byte offsets from base, row-major */
} dw_run_job;

#if defined(TINYML_KERNEL_ASM)
#include "op_depthwise_conv2d_asm.h" /* dw_list4, and with DW_PACKED_ASM the packed pass */
#else
/* A pass of channels c .. c+3 over `taps` (>= 0) listed taps: the C twin of
 * op_depthwise_conv2d_asm.h's (the host, emulated DSP). */
static inline __attribute__((always_inline)) void dw_list4(const int8_t *const *list,
                                                           int32_t taps, int32_t c,
                                                           int32_t offset2, int32_t acc[4]) {
  const int8_t *const *entry = list, *const *end = list + 2 * taps;
  for (; entry != end; entry += 2) dw_tap4(entry[0] + c, entry[1] + c, offset2, acc);
}
#endif

#if !defined(DW_PACKED_ASM)
/* The packed path's pass over channels c .. c+3 (the C twin of op_depthwise_conv2d_asm.h's).
 * `list` holds the taps' byte offsets from `base`, the pixel's input at channel c. The
 * accumulators start at the group's 4 start values, then for each of `pairs` (>= 1) pairs of
 * taps (t0, t1): the 4 bytes of both inputs interleaved as PKHBT / PKHTB do,
 * [t0 c0, t0 c1, t1 c0, t1 c1] and [t0 c2, t0 c3, t1 c2, t1 c3], SXTB16 (ROR 8) splits them
 * into the pairs (t0 c, t1 c), one SMLAD per channel with the pair's weights (t0 w, t1 w). The
 * input offset is in the start values. *weights moves past the group's starts and pairs. */
static inline __attribute__((always_inline)) void dw_pairs4(const intptr_t *list, int32_t pairs,
                                                            const int8_t *base,
                                                            const int32_t **weights,
                                                            int32_t acc[4]) {
  const int32_t *w = *weights;
  int32_t pair;
  acc[0] = w[0], acc[1] = w[1], acc[2] = w[2], acc[3] = w[3];
  w += 4;
  for (pair = 0; pair < pairs; ++pair, list += 2, w += 4) {
    const int32_t x0 = tinyml_load_s8x4(base + list[0]), x1 = tinyml_load_s8x4(base + list[1]);
    const int32_t low = (int32_t)(((uint32_t)x0 & 0xFFFFu) | ((uint32_t)x1 << 16));
    const int32_t high = (int32_t)(((uint32_t)x1 & 0xFFFF0000u) | ((uint32_t)x0 >> 16));
    acc[0] = tinyml_smlad(tinyml_sxtb16(low), w[0], acc[0]);
    acc[1] = tinyml_smlad(tinyml_sxtb16_ror8(low), w[1], acc[1]);
    acc[2] = tinyml_smlad(tinyml_sxtb16(high), w[2], acc[2]);
    acc[3] = tinyml_smlad(tinyml_sxtb16_ror8(high), w[3], acc[3]);
  }
  *weights = w;
}

/* The odd last tap of the packed path, its offset from base at *last: its weights are
 * (c0, c2), (c1, c3). */
static inline __attribute__((always_inline)) void dw_single4(const intptr_t *last,
                                                             const int8_t *base,
                                                             const int32_t **weights,
                                                             int32_t acc[4]) {
  const int32_t *w = *weights;
  const int32_t x = tinyml_load_s8x4(base + *last);
  const int32_t x02 = tinyml_sxtb16(x), x13 = tinyml_sxtb16_ror8(x);
  acc[0] = tinyml_smlabb(x02, w[0], acc[0]);
  acc[2] = tinyml_smlatt(x02, w[0], acc[2]);
  acc[1] = tinyml_smlabb(x13, w[1], acc[1]);
  acc[3] = tinyml_smlatt(x13, w[1], acc[3]);
  *weights = w + 2;
}

/* The output stage of the group's 4 channels, from their (M, rounding, s) triples: the
 * accumulators hold 2 * acc, so SMMLAR gives round(acc * M / 2^31) plus the rounding in one
 * (tinyml_output_stage_fast's y + rounding), and the sign of acc stands for y's (they differ
 * only where y rounds to 0, and there both give the rounding >> s: s >= 1). Into one word of
 * int8 outputs before the activation clamp. */
static inline int32_t dw_requantize4(const int32_t **weights, const int32_t acc[4]) {
  const int32_t *w = *weights;
  uint32_t word = 0;
  int32_t lane;
  for (lane = 0; lane < 4; ++lane, w += 3) {
    const int32_t sum = tinyml_smmlar(acc[lane], w[0], w[1]);
    /* ASR by a register reads its bottom byte: the 3x3 layout marks its last group in bit 31
     * of the last s (s <= 31). */
    const int32_t out = (sum - (int32_t)((uint32_t)acc[lane] >> 31)) >> (w[2] & 31);
    word |= ((uint32_t)tinyml_ssat8(out) & 0xFFu) << (8 * lane);
  }
  *weights = w;
  return (int32_t)word;
}

/* A run of 3x3 windows (the C twin of op_depthwise_conv2d_asm.h's dw_run9_asm and its
 * twins): per pixel and group of 4 channels, 4 pairs and the last tap, each with its taps'
 * offsets from the pixel's origin (the group's channels included) in front of its weights
 * (depthwise_packed_filter's 3x3 layout), the output stage, one word stored, until the group
 * whose last s has bit 31 set. A `border` pixel's taps are at the job's list's offsets from
 * the group's first channel instead. */
static void dw_run9(const dw_run_job *job, const int clamp, const int border) {
  const int8_t *base = job->base;
  int8_t *out = job->out;
  int32_t pixel;
  for (pixel = 0; pixel < job->pixels; ++pixel) {
    const int32_t *w = job->packed;
    const int8_t *group = base;
    int32_t last;
    do {
      const int8_t *const from = border ? group : base;
      int32_t acc[4], word, pair, x02, x13;
      acc[0] = w[0], acc[1] = w[1], acc[2] = w[2], acc[3] = w[3];
      w += 4;
      for (pair = 0; pair < 4; ++pair, w += 6) {
        const intptr_t at0 = border ? job->list[2 * pair] : w[0];
        const intptr_t at1 = border ? job->list[2 * pair + 1] : w[1];
        const int32_t x0 = tinyml_load_s8x4(from + at0), x1 = tinyml_load_s8x4(from + at1);
        const int32_t low = (int32_t)(((uint32_t)x0 & 0xFFFFu) | ((uint32_t)x1 << 16));
        const int32_t high = (int32_t)(((uint32_t)x1 & 0xFFFF0000u) | ((uint32_t)x0 >> 16));
        acc[0] = tinyml_smlad(tinyml_sxtb16(low), w[2], acc[0]);
        acc[1] = tinyml_smlad(tinyml_sxtb16_ror8(low), w[3], acc[1]);
        acc[2] = tinyml_smlad(tinyml_sxtb16(high), w[4], acc[2]);
        acc[3] = tinyml_smlad(tinyml_sxtb16_ror8(high), w[5], acc[3]);
      }
      x02 = tinyml_load_s8x4(from + (border ? job->list[8] : (intptr_t)w[0]));
      x13 = tinyml_sxtb16_ror8(x02);
      x02 = tinyml_sxtb16(x02);
      acc[0] = tinyml_smlabb(x02, w[1], acc[0]);
      acc[2] = tinyml_smlatt(x02, w[1], acc[2]);
      acc[1] = tinyml_smlabb(x13, w[2], acc[1]);
      acc[3] = tinyml_smlatt(x13, w[2], acc[3]);
      w += 3;
      last = w[11];
      word = dw_requantize4(&w, acc);
      if (clamp) word = tinyml_min_s8x4(tinyml_max_s8x4(word, job->lo4), job->hi4);
      tinyml_store_s8x4(out, word);
      group += 4;
      out += 4;
    } while (last >= 0);
    base += job->base_step;
    out += job->out_step;
  }
}
#else
static inline __attribute__((always_inline)) void dw_run9(const dw_run_job *job,
                                                          const int clamp, const int border) {
  if (border && clamp) {
    dw_run9_border_clamp_asm(job);
  } else if (border) {
    dw_run9_border_asm(job);
  } else if (clamp) {
    dw_run9_clamp_asm(job);
  } else {
    dw_run9_asm(job);
  }
}
#endif

/* Multiplier 1, all channels of one pixel (input channel = output channel). Four channels a
 * pass over the visited taps, their accumulators in registers for the whole pass (a local
 * array that is only indexed with constants). The window's taps are listed once per pixel as
 * (input, filter) addresses of channel 0, so a pass is one flat loop whose only other live
 * values are the list cursor, its end, the channel and the offset: it fits in registers,
 * where the row loop's bookkeeping (two bases and four strides) made GCC spill in the loop.
 * With the fast table the four outputs are requantized inline and stored as one word, instead
 * of going through an array and a call per channel. */
static void dw_pixel_m1(const tinyml_depthwise_conv2d_params *p, const dw_window *win,
                        int8_t *out) {
  const int32_t offset2 = tinyml_dup16(p->input_offset);
  const int32_t *stage = p->output_stage;
  const int32_t lo4 = tinyml_dup8(p->act_min), hi4 = tinyml_dup8(p->act_max);
  const int32_t rows = win->rows, cols = win->cols, channels = p->output_c;
  const int32_t taps = rows * cols;
  const int8_t *list[2 * DW_LIST_TAPS];
  int32_t c, row, col;
  if (taps <= DW_LIST_TAPS) {
    const int8_t **entry = list;
    for (row = 0; row < rows; ++row) {
      for (col = 0; col < cols; ++col) {
        entry[0] = win->input + row * win->input_row_step + col * win->input_col_step;
        entry[1] = win->filter + row * win->filter_row_step + col * win->filter_col_step;
        entry += 2;
      }
    }
  }
  for (c = 0; c + 3 < channels; c += 4) {
    const int8_t *in = win->input + c, *w = win->filter + c;
    int32_t acc[4] = {0, 0, 0, 0};
    if (stage != NULL) {
      acc[0] = stage[4 * c];
      acc[1] = stage[4 * c + 4];
      acc[2] = stage[4 * c + 8];
      acc[3] = stage[4 * c + 12];
    }
    if (taps <= DW_LIST_TAPS) {
      dw_list4(list, taps, c, offset2, acc);
    } else {
      for (row = 0; row < rows; ++row) {
        for (col = 0; col < cols; ++col) {
          dw_tap4(in + row * win->input_row_step + col * win->input_col_step,
                  w + row * win->filter_row_step + col * win->filter_col_step, offset2, acc);
        }
      }
    }
    if (stage != NULL) {
      dw_store4_fast(stage + 4 * c, acc[0], acc[1], acc[2], acc[3], lo4, hi4, out + c);
    } else {
      out[c] = dw_output(p, acc[0], c);
      out[c + 1] = dw_output(p, acc[1], c + 1);
      out[c + 2] = dw_output(p, acc[2], c + 2);
      out[c + 3] = dw_output(p, acc[3], c + 3);
    }
  }
  for (; c < channels; ++c) out[c] = dw_output(p, dw_sum1(win, c, c, p->input_offset), c);
}

/* The groups of 4 channels of one pixel on the packed path: each tap of the window at its
 * offset in `list` from `base` (the input at channel 0; pad_input for a tap outside the input),
 * in row-major order. Unswitched on the choices a layer makes once (constants where
 * dw_packed_layer calls it): `odd` taps or even; `clamp`
 * an activation range narrower than SSAT's. The channels past the last group are the
 * caller's. */
static inline __attribute__((always_inline)) void dw_groups(
    const int32_t *packed, const intptr_t *list, const int8_t *base, int8_t *out, int32_t end,
    int32_t taps, int32_t lo4, int32_t hi4, const int odd, const int clamp) {
  const int32_t *weights = packed;
  int32_t c;
  for (c = 0; c < end; c += 4) {
    int32_t acc[4], word;
    dw_pairs4(list, taps >> 1, base + c, &weights, acc);
    if (odd) dw_single4(list + taps - 1, base + c, &weights, acc);
    word = dw_requantize4(&weights, acc);
    if (clamp) word = tinyml_min_s8x4(tinyml_max_s8x4(word, lo4), hi4);
    tinyml_store_s8x4(out + c, word);
  }
}

/* The taps' byte offsets from the window's top-left input pixel, row-major: the list of every
 * window inside the input. */
static void dw_tap_offsets(const tinyml_depthwise_conv2d_params *p, intptr_t *list) {
  const int32_t row_step = p->dilation_h * p->input_w * p->input_c;
  const int32_t col_step = p->dilation_w * p->input_c;
  int32_t fy, fx;
  for (fy = 0; fy < p->filter_h; ++fy) {
    for (fx = 0; fx < p->filter_w; ++fx) *list++ = fy * row_step + fx * col_step;
  }
}

/* The list of a window at (in_y0, in_x0) that leaves the input: each tap's byte offset from
 * `corner` (the batch's first input pixel), pad_input's for a tap outside. A tap inside is the
 * layer's list entry (`inside`, from the window's origin) plus the origin's offset: a mask of
 * the columns inside, cleared for a row outside, picks per tap. Integer arithmetic on the
 * addresses: pad_input is another object. `nine`: a 3x3 window (constants, unrolled). */
static inline __attribute__((always_inline)) void dw_border_offsets(
    const tinyml_depthwise_conv2d_params *p, const intptr_t *inside, const int8_t *corner,
    int32_t in_y0, int32_t in_x0, intptr_t *list, const int nine) {
  const intptr_t pad = (intptr_t)p->pad_input - (intptr_t)corner;
  const intptr_t origin = (intptr_t)(in_y0 * p->input_w + in_x0) * p->input_c;
  const int32_t filter_h = nine ? 3 : p->filter_h, filter_w = nine ? 3 : p->filter_w;
  const uint32_t in_h = (uint32_t)p->input_h, in_w = (uint32_t)p->input_w;
  uint32_t columns = 0;
  int32_t fy, fx, in_y, in_x;
  for (fx = 0, in_x = in_x0; fx < filter_w; ++fx, in_x += p->dilation_w) {
    if ((uint32_t)in_x < in_w) columns |= 1u << fx;
  }
  for (fy = 0, in_y = in_y0; fy < filter_h; ++fy, in_y += p->dilation_h) {
    const uint32_t row = (uint32_t)in_y < in_h ? columns : 0u;
    if (nine) { /* GCC does not unroll the loop below at -O2: 11 instructions a tap */
      list[0] = row & 1u ? inside[0] + origin : pad;
      list[1] = row & 2u ? inside[1] + origin : pad;
      list[2] = row & 4u ? inside[2] + origin : pad;
      list += 3;
      inside += 3;
      continue;
    }
    for (fx = 0; fx < filter_w; ++fx, ++list, ++inside) {
      *list = (row >> fx) & 1u ? *inside + origin : pad;
    }
  }
}

/* All output channels of one pixel. */
static void dw_pixel(const tinyml_depthwise_conv2d_params *p, const dw_window *win,
                     int8_t *out) {
  const int32_t m = p->depth_multiplier;
  int32_t acc[4];
  int32_t ic, oc;
  if (m == 1) {
    dw_pixel_m1(p, win, out);
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

/* Multiplier 1 with the converter's packed filter, every pixel: those whose window is inside
 * the input read the layer's one list of tap offsets, the others a list of their own
 * (pad_input for the taps outside), or without pad_input dw_pixel's clipped window. The
 * layer's values are locals: the assembly's memory clobber would reload them from *p. */
static inline __attribute__((always_inline)) void dw_packed_layer(
    const tinyml_depthwise_conv2d_params *p, const int8_t *input, int8_t *output,
    const int nine, const int odd, const int clamp) {
  const int32_t in_h = p->input_h, in_w = p->input_w, in_c = p->input_c;
  const int32_t out_h = p->output_h, out_w = p->output_w, out_c = p->output_c;
  const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
  const int32_t pad_top = p->pad_top, pad_left = p->pad_left;
  /* A window whose top-left input pixel is (y, x), y < y_last and x < x_last, ends inside. */
  const int32_t y_last = in_h - p->dilation_h * (p->filter_h - 1);
  const int32_t x_last = in_w - p->dilation_w * (p->filter_w - 1);
  const int32_t taps = p->filter_h * p->filter_w, end = out_c & ~3;
  const int32_t lo4 = tinyml_dup8(p->act_min), hi4 = tinyml_dup8(p->act_max);
  const int32_t *packed = p->packed;
  /* Pixels x0 .. x1-1 of a row inside the input have their window inside along x. */
  const int32_t x0 = tinyml_min_i32(out_w, (pad_left + stride_w - 1) / stride_w);
  const int32_t x1 = tinyml_max_i32(
      x0, tinyml_min_i32(out_w, x_last + pad_left > 0
                                    ? (x_last + pad_left + stride_w - 1) / stride_w : 0));
  intptr_t inside[DW_PACKED_TAPS], border[DW_PACKED_TAPS];
  dw_run_job run, edge; /* 3x3: a row's pixels inside, and one at the border */
  int32_t batch, out_y, out_x, c;
  dw_tap_offsets(p, inside);
  if (nine) {
    run.packed = packed;
    run.base_step = stride_w * in_c;
    run.out_step = out_c - end;
    run.lo4 = lo4;
    run.hi4 = hi4;
    edge = run; /* its list per pixel */
    edge.pixels = 1;
  }
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *corner = input + batch * in_h * in_w * in_c;
    int8_t *const batch_out = output + batch * out_h * out_w * out_c;
    for (out_y = 0; out_y < out_h; ++out_y) {
      const int32_t in_y0 = out_y * stride_h - pad_top;
      int8_t *const row_out = batch_out + out_y * out_w * out_c;
      /* A row inside: x0 .. x1-1 without checks, the others below. */
      const int32_t skip_from = in_y0 >= 0 && in_y0 < y_last ? x0 : out_w;
      const int32_t skip_to = in_y0 >= 0 && in_y0 < y_last ? x1 : out_w;
      if (skip_from < skip_to) {
        const int8_t *base = corner + (in_y0 * in_w + skip_from * stride_w - pad_left) * in_c;
        int8_t *out = row_out + skip_from * out_c;
        if (nine) { /* the whole run in one call */
          run.base = base;
          run.out = out;
          run.pixels = skip_to - skip_from;
          dw_run9(&run, clamp, 0);
        } else {
          for (out_x = skip_from; out_x < skip_to; ++out_x) {
            dw_groups(packed, inside, base, out, end, taps, lo4, hi4, odd, clamp);
            base += stride_w * in_c;
            out += out_c;
          }
        }
      }
      for (out_x = 0; out_x < out_w; ++out_x) {
        int8_t *out;
        if (out_x == skip_from) out_x = skip_to;
        if (out_x >= out_w) break;
        out = row_out + out_x * out_c;
        if (p->pad_input != NULL && nine) { /* a run of one pixel with its own list */
          dw_border_offsets(p, inside, corner, in_y0, out_x * stride_w - pad_left, edge.list,
                            1);
          edge.base = corner;
          edge.out = out;
          dw_run9(&edge, clamp, 1);
        } else if (p->pad_input != NULL) {
          dw_border_offsets(p, inside, corner, in_y0, out_x * stride_w - pad_left, border,
                            0);
          dw_groups(packed, border, corner, out, end, taps, lo4, hi4, odd, clamp);
        } else {
          const dw_window win = dw_window_at(p, input, batch, out_y, out_x);
          dw_pixel(p, &win, out);
        }
      }
      if (end < out_c) { /* the last 1 .. 3 channels of the row's pixels */
        for (out_x = 0; out_x < out_w; ++out_x) {
          const dw_window win = dw_window_at(p, input, batch, out_y, out_x);
          int8_t *out = row_out + out_x * out_c;
          for (c = end; c < out_c; ++c) {
            out[c] = dw_output(p, dw_sum1(&win, c, c, p->input_offset), c);
          }
        }
      }
    }
  }
}

void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_depthwise_conv2d_params *p = (const tinyml_depthwise_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t taps = p->filter_h * p->filter_w;
  int32_t batch, out_y, out_x;
  if (p->packed != NULL && p->depth_multiplier == 1 && taps >= 2 && taps <= DW_PACKED_TAPS) {
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const int nine = p->filter_h == 3 && p->filter_w == 3; /* not 1x9: the 3x3 border lists */
    if (nine && clamp) {
      dw_packed_layer(p, input, output, 1, 1, 1);
    } else if (nine) {
      dw_packed_layer(p, input, output, 1, 1, 0);
    } else {
      dw_packed_layer(p, input, output, 0, taps & 1, clamp);
    }
    return;
  }
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

#endif /* TINYML_OP_DEPTHWISE_CONV2D_DSP_H */
