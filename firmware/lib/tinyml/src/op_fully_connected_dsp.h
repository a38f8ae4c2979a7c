/* FULLY_CONNECTED, the DSP variant (TINYML_USE_DSP): C with dsp.h's SIMD helpers, and on
 * Thumb-2 its four-row loop in assembly (op_fully_connected_asm.h). Included by
 * op_fully_connected.c only (kernel_variant.h). */
#ifndef TINYML_OP_FULLY_CONNECTED_DSP_H
#define TINYML_OP_FULLY_CONNECTED_DSP_H

#include <string.h>

#include "kernel_variant.h"
#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t fc_output(const tinyml_fully_connected_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

/* Dot products of one input row with weight rows: the input is widened on the fly, so no
 * scratch buffer is needed. SXTB16(x) = (x0, x2) and SXTB16(w) = (w0, w2) pair up as they are,
 * and so do the ROR 8 forms (x1, x3) / (w1, w3): no repacking. Integer sums are exact modulo
 * 2^32 in any order, so the result equals the reference's bit for bit.
 *
 * With the output_stage table the input offset is folded into the accumulator's start value
 * (bias + input_offset * sum of the row's weights), and four rows share each widened input
 * word: per 4 values 1 load and 2 SXTB16 for the input, and per row 1 load, 2 SXTB16 and
 * 2 SMLAD, 25 instructions per 16 MACs with the loop. Without the table, the general path adds
 * the offset with SXTAB16, two rows at a time. */

/* Two weight rows at once share the widened input: per 4 values 3 loads, 2 SXTAB16,
 * 4 SXTB16 and 4 SMLAD for 8 MACs. acc = {a, b}. */
static void fc_dot_2(const int8_t *wa, const int8_t *wb, const int8_t *row, int32_t depth,
                     int32_t offset, int32_t acc[2]) {
  const int32_t offset2 = tinyml_dup16(offset);
  int32_t a = 0, b = 0;
  int32_t blocks, d;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t x = tinyml_load_s8x4(row);
    const int32_t x02 = tinyml_sxtab16(offset2, x), x13 = tinyml_sxtab16_ror8(offset2, x);
    const int32_t wa_word = tinyml_load_s8x4(wa), wb_word = tinyml_load_s8x4(wb);
    a = tinyml_smlad(tinyml_sxtb16(wa_word), x02, a);
    a = tinyml_smlad(tinyml_sxtb16_ror8(wa_word), x13, a);
    b = tinyml_smlad(tinyml_sxtb16(wb_word), x02, b);
    b = tinyml_smlad(tinyml_sxtb16_ror8(wb_word), x13, b);
    row += 4;
    wa += 4;
    wb += 4;
  }
  for (d = 0; d < (depth & 3); ++d) {
    const int32_t x = row[d] + offset;
    a += wa[d] * x;
    b += wb[d] * x;
  }
  acc[0] = a;
  acc[1] = b;
}

/* One row; offset 0 when it is folded into the accumulator's start value `acc`. */
static int32_t fc_dot(const int8_t *weights, const int8_t *row, int32_t depth, int32_t offset,
                      int32_t acc) {
  const int32_t offset2 = tinyml_dup16(offset);
  int32_t blocks, d;
  for (blocks = depth >> 2; blocks > 0; --blocks) {
    const int32_t x = tinyml_load_s8x4(row), w = tinyml_load_s8x4(weights);
    acc = tinyml_smlad(tinyml_sxtb16(w), tinyml_sxtab16(offset2, x), acc);
    acc = tinyml_smlad(tinyml_sxtb16_ror8(w), tinyml_sxtab16_ror8(offset2, x), acc);
    row += 4;
    weights += 4;
  }
  /* Wrapping: with the offset folded, a partial sum may pass the final one's bound. */
  for (d = 0; d < (depth & 3); ++d) acc = tinyml_add_wrap(acc, weights[d] * (row[d] + offset));
  return acc;
}

/* Four rows weights, + depth, + 2 depth, + 3 depth against the first 4 * blocks input values
 * (no offset, blocks >= 1); acc holds the start values and receives the sums. */
typedef struct {
  const int8_t *weights; /*  0 */
  const int8_t *row;     /*  4 */
  int32_t depth;         /*  8 */
  int32_t blocks;        /* 12 */
  int32_t acc[4];        /* 16 */
} fc_job;

#if !defined(TINYML_KERNEL_ASM)
/* The C twin of op_fully_connected_asm.h's fc_blocks_4 (the host, emulated DSP). */
static void fc_blocks_4(fc_job *job) {
  int32_t i, r;
  for (i = 0; i < 4 * job->blocks; i += 4) {
    const int32_t x = tinyml_load_s8x4(job->row + i);
    const int32_t x02 = tinyml_sxtb16(x), x13 = tinyml_sxtb16_ror8(x);
    for (r = 0; r < 4; ++r) {
      const int32_t word = tinyml_load_s8x4(job->weights + r * job->depth + i);
      job->acc[r] = tinyml_smlad(tinyml_sxtb16_ror8(word), x13,
                                 tinyml_smlad(tinyml_sxtb16(word), x02, job->acc[r]));
    }
  }
}
#endif

/* The packed path (op_conv.h's `packed`): groups of 4 rows walked by one pointer, each
 * group's start values, blocks and output stage in the order read. Per block of 4 input
 * values the input word is loaded and widened once (a load, 2 SXTB16), then per 2 rows one LDM
 * of the 4 pair words and 4 SMLAD: 13 instructions per 16 MACs, 14 with the loop's share (two
 * blocks an iteration). Per row of output 7 (the stage's 3 values loaded, SMMLAR, ADD, SUB,
 * ASR, SSAT, STRB). No clamp: SSAT gives the full int8 range; the caller clamps. */
typedef struct {
  const int32_t *packed;  /*  0: the first group's words */
  const int8_t *row;      /*  4: the input row */
  const int8_t *row_end;  /*  8: row + 4 * blocks, the whole blocks; the assembly needs one */
  int8_t *out;            /* 12: the first group's 4 outputs */
  const int32_t *end;     /* 16: packed + groups * the words per group (groups >= 1) */
  int32_t odd;            /* 20: blocks is odd (the assembly enters its loop halfway) */
  int32_t has_tail;       /* 24: depth % 4 != 0: one more block, read from `tail` */
  int32_t tail;           /* 28: the last depth % 4 input values, zero-extended to a word */
} fc_packed_job;

/* In C: the host's twin of the assembly (emulated DSP), and on the M4 for depths below 4. A
 * depth that is not a multiple of 4 ends with a block from the tail word (its weights past the
 * depth are zero). */
static void fc_groups_c(const fc_packed_job *job) {
  const int32_t blocks = (int32_t)(job->row_end - job->row) >> 2;
  const int32_t *w = job->packed;
  int8_t *out = job->out;
  int32_t acc[4], b, r;
  while (w != job->end) {
    for (r = 0; r < 4; ++r) acc[r] = w[r];
    w += 4;
    for (b = 0; b < blocks + job->has_tail; ++b, w += 8) {
      const int32_t word = b < blocks ? tinyml_load_s8x4(job->row + 4 * b) : job->tail;
      const int32_t x02 = tinyml_sxtb16(word), x13 = tinyml_sxtb16_ror8(word);
      for (r = 0; r < 4; ++r) {
        acc[r] = tinyml_smlad(w[2 * r + 1], x13, tinyml_smlad(w[2 * r], x02, acc[r]));
      }
    }
    /* The stage's three values are tinyml_output_stage_fast's stage[1..3]. */
    for (r = 0; r < 4; ++r, w += 3) {
      *out++ = (int8_t)tinyml_ssat8(tinyml_output_stage_fast(acc[r], w - 1));
    }
  }
}

#if defined(TINYML_KERNEL_ASM)
#include "op_fully_connected_asm.h"
#endif

static void fc_groups(const fc_packed_job *job) {
#if defined(TINYML_KERNEL_ASM)
  if (job->row_end != job->row) { /* the assembly needs a whole block */
    if (job->has_tail) {
      fc_groups_tail_asm(job);
    } else {
      fc_groups_asm(job);
    }
    return;
  }
#endif
  fc_groups_c(job);
}

static void fc_row_packed(const tinyml_fully_connected_params *p, const int8_t *row,
                          int8_t *out) {
  const int32_t depth = p->accum_depth, blocks = depth >> 2, tail = depth & 3;
  const int32_t group_words = 16 + 8 * ((depth + 3) >> 2);
  const int32_t groups = p->output_depth >> 2, rest = p->output_depth & 3;
  int32_t i;
  fc_packed_job job;
  job.packed = p->packed;
  job.row = row;
  job.row_end = row + 4 * blocks;
  job.out = out;
  job.end = p->packed + groups * group_words;
  job.odd = blocks & 1;
  job.has_tail = tail != 0;
  job.tail = 0;
  if (tail != 0) { /* padded with zeros; it meets zero weights anyway */
    int8_t last[4] = {0, 0, 0, 0};
    memcpy(last, row + 4 * blocks, (size_t)tail);
    job.tail = tinyml_load_s8x4(last);
  }
  if (groups > 0) fc_groups(&job);
  if (rest != 0) { /* the last group's zero rows: outputs into a buffer, the real ones kept */
    int8_t last[4];
    job.packed = job.end;
    job.end += group_words;
    job.out = last;
    fc_groups(&job);
    memcpy(out + 4 * groups, last, (size_t)rest);
  }
  if (p->act_min != -128 || p->act_max != 127) {
    for (i = 0; i < p->output_depth; ++i) {
      out[i] = (int8_t)tinyml_clamp_i32(out[i], p->act_min, p->act_max);
    }
  }
}

/* The output_stage path: rows four at a time, then one at a time. */
static void fc_row_fast(const tinyml_fully_connected_params *p, const int8_t *row, int8_t *out,
                        int clamp) {
  const int32_t depth = p->accum_depth, blocks = depth >> 2;
  int32_t oc = 0, r, d;
  for (; oc + 3 < p->output_depth; oc += 4) {
    const int8_t *w = p->filter + oc * depth;
    const int32_t *stage = p->output_stage + 4 * oc;
    fc_job job;
    job.weights = w;
    job.row = row;
    job.depth = depth;
    job.blocks = blocks;
    job.acc[0] = stage[0];
    job.acc[1] = stage[4];
    job.acc[2] = stage[8];
    job.acc[3] = stage[12];
    if (blocks > 0) fc_blocks_4(&job);
    for (r = 0; r < 4; ++r) {
      int32_t value, acc = job.acc[r];
      for (d = 4 * blocks; d < depth; ++d) acc = tinyml_add_wrap(acc, w[r * depth + d] * row[d]);
      value = tinyml_ssat8(tinyml_output_stage_fast(acc, stage + 4 * r));
      if (clamp) value = tinyml_clamp_i32(value, p->act_min, p->act_max);
      out[oc + r] = (int8_t)value;
    }
  }
  for (; oc < p->output_depth; ++oc) {
    const int32_t *stage = p->output_stage + 4 * oc;
    int32_t value = tinyml_ssat8(tinyml_output_stage_fast(
        fc_dot(p->filter + oc * depth, row, depth, 0, stage[0]), stage));
    if (clamp) value = tinyml_clamp_i32(value, p->act_min, p->act_max);
    out[oc] = (int8_t)value;
  }
}

void tinyml_fully_connected_s8(const void *params, uint8_t *arena) {
  const tinyml_fully_connected_params *p = (const tinyml_fully_connected_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, oc;
  for (batch = 0; batch < p->batches; ++batch) {
    const int8_t *row = input + batch * p->accum_depth;
    int8_t *out = output + batch * p->output_depth;
    oc = 0;
    if (p->packed != NULL) {
      fc_row_packed(p, row, out);
      continue;
    }
    if (p->output_stage != NULL) {
      fc_row_fast(p, row, out, p->act_min != -128 || p->act_max != 127);
      continue;
    }
    for (; oc + 1 < p->output_depth; oc += 2) {
      int32_t acc[2];
      fc_dot_2(p->filter + oc * p->accum_depth, p->filter + (oc + 1) * p->accum_depth, row,
               p->accum_depth, p->input_offset, acc);
      out[oc] = fc_output(p, acc[0], oc);
      out[oc + 1] = fc_output(p, acc[1], oc + 1);
    }
    for (; oc < p->output_depth; ++oc) {
      out[oc] = fc_output(p, fc_dot(p->filter + oc * p->accum_depth, row, p->accum_depth,
                                    p->input_offset, 0),
                          oc);
    }
  }
}

#endif /* TINYML_OP_FULLY_CONNECTED_DSP_H */
