/* FULLY_CONNECTED, the DSP variant (TINYML_USE_DSP): C with dsp.h's SIMD helpers, and on
 * Thumb-2 its four-row loop in assembly (op_fully_connected_asm.h). Included by
 * op_fully_connected.c only (kernel_variant.h). */
#ifndef TINYML_OP_FULLY_CONNECTED_DSP_H
#define TINYML_OP_FULLY_CONNECTED_DSP_H

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

#if defined(TINYML_KERNEL_ASM)
#include "op_fully_connected_asm.h"
#else
/* The C twin of op_fully_connected_asm.h's (the host, emulated DSP). */
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
