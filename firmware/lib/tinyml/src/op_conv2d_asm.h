/* CONV_2D, the assembly variant of the DSP path's hot loop: all filter pairs of one pixel pair
 * in Thumb-2. Included by op_conv2d_dsp.h where TINYML_KERNEL_ASM is defined
 * (kernel_variant.h); without it the DSP variant does the same pairs in C (conv_columns). */
#ifndef TINYML_OP_CONV2D_ASM_H
#define TINYML_OP_CONV2D_ASM_H

#include <stdint.h>

#include "asm_output_stage.h"

/* What conv_pairs_asm reads; the C side fills it per pixel pair. The assembly below has the
 * offsets. */
typedef struct {
  const void *filter;       /*  0: filter a of the first pair (int8, or the widened words) */
  const int32_t *stage;     /*  4: its output_stage entries */
  int8_t *out0;             /*  8: pixel 0's output at filter a's channel */
  int8_t *out1;             /* 12: pixel 1's */
  const int16_t *columns;   /* 16: the scratch */
  const int16_t *end;       /* 20: columns + 2 * filter_depth (filter_depth >= 4) */
  int32_t depth;            /* 24: a filter's bytes: filter_depth, twice that widened */
  const int32_t *stage_end; /* 28: stage + 8 * pairs (pairs >= 1) */
} conv_pairs_job;

typedef char conv_pairs_job_is_8_words[sizeof(conv_pairs_job) == 32 ? 1 : -1];

/* The two variants below differ only in how a block's filter words are loaded; the rest is
 * spelled once here. CONV_PAIRS_HEAD: the job copied to the stack, then per pair of filters
 * the accumulators seeded with the stage's starts and the block loop entered (two blocks an
 * iteration: an odd count enters halfway). */
#define CONV_PAIRS_HEAD                                                                       \
  "push {r4-r11, lr}\n\t"                                                                     \
  "ldmia r0, {r1-r8}\n\t"                                                                     \
  "push {r1-r8}\n\t" /* [sp]: filter, stage, out0, out1, columns, end, depth, stage_end */    \
  "1:\n\t"                                                                                    \
  "ldrd r10, r9, [sp, #0]\n\t" /* pa, stage */                                                \
  "ldr r11, [sp, #24]\n\t"                                                                    \
  "add r11, r11, r10\n\t"       /* pb */                                                      \
  "ldrd r12, lr, [sp, #16]\n\t" /* columns, end */                                            \
  "ldr r0, [r9]\n\t"                                                                          \
  "ldr r2, [r9, #16]\n\t"                                                                     \
  "mov r1, r0\n\t"                                                                            \
  "mov r3, r2\n\t"                                                                            \
  "sub r4, lr, r12\n\t"                                                                       \
  "tst r4, #16\n\t"                                                                           \
  "bne 3f\n\t"

/* One block: both columns' words (r4-r7), then per filter its two pairs into r8 and r9 (`load`
 * of the filter pointer, r10 for a, r11 for b) and four SMLAD. */
#define CONV_PAIRS_BLOCK(load)                                                                \
  "ldmia r12!, {r4-r7}\n\t" load("r10") "smlad r0, r8, r4, r0\n\t"                            \
  "smlad r0, r9, r5, r0\n\t"                                                                  \
  "smlad r1, r8, r6, r1\n\t"                                                                  \
  "smlad r1, r9, r7, r1\n\t" load("r11") "smlad r2, r8, r4, r2\n\t"                           \
  "smlad r2, r9, r5, r2\n\t"                                                                  \
  "smlad r3, r8, r6, r3\n\t"                                                                  \
  "smlad r3, r9, r7, r3\n\t"

/* int8 filter words: a load and two SXTB16. */
#define CONV_LOAD_S8(pointer)                                                                 \
  "ldr r8, [" pointer "], #4\n\t"                                                             \
  "sxtb16 r9, r8, ror #8\n\t"                                                                 \
  "sxtb16 r8, r8\n\t"

/* Widened filter words: already the pairs, one LDRD. */
#define CONV_LOAD_WIDE(pointer) "ldrd r8, r9, [" pointer "], #8\n\t"

/* One output: SMMLAR, ADD, SUB, ASR, SSAT, STRB of accumulator `acc` to `out`, with the
 * stage's 2M - 2^32, rounding and shift in r5-r7. */
#define CONV_PAIRS_OUTPUT(acc, out) \
  ASM_OUTPUT_BYTE(acc, "r5", "r6", "r7", "r8", "r9", "[" out "], #1")

/* The block loop closed, the pair's four outputs, the next pair or the return. */
#define CONV_PAIRS_TAIL                                                                       \
  "cmp r12, lr\n\t"                                                                           \
  "bne 2b\n\t"                                                                                \
  "str r11, [sp, #0]\n\t"       /* filter b's end is the next pair's filter a */              \
  "ldrd r10, r11, [sp, #8]\n\t" /* out0, out1 */                                              \
  "ldr r12, [sp, #4]\n\t"                                                                     \
  "ldmia r12!, {r4-r7}\n\t" /* a: start, 2M - 2^32, rounding, shift */                        \
  CONV_PAIRS_OUTPUT("r0", "r10") CONV_PAIRS_OUTPUT("r1", "r11")                               \
  "ldmia r12!, {r4-r7}\n\t" /* b */                                                           \
  CONV_PAIRS_OUTPUT("r2", "r10") CONV_PAIRS_OUTPUT("r3", "r11")                               \
  "strd r10, r11, [sp, #8]\n\t"                                                               \
  "str r12, [sp, #4]\n\t"                                                                     \
  "ldr r4, [sp, #28]\n\t"                                                                     \
  "cmp r12, r4\n\t"                                                                           \
  "bne 1b\n\t"                                                                                \
  "add sp, sp, #32\n\t"                                                                       \
  "pop {r4-r11, pc}\n\t"

#define CONV_PAIRS_LOOP(load)                                                                 \
  CONV_PAIRS_HEAD "2:\n\t" CONV_PAIRS_BLOCK(load) "3:\n\t" CONV_PAIRS_BLOCK(load) CONV_PAIRS_TAIL

/* The hot loop of the DSP CONV_2D with the output_stage table and the full int8 range: for each
 * pair of filters, the dot products with both columns, then the four outputs. Per block 16
 * instructions for 16 MACs (LDM of both columns' words; per filter a load, two SXTB16 and four
 * SMLAD; half the loop's compare and branch: two blocks an iteration), per output 6 (SMMLAR,
 * ADD, SUB, ASR, SSAT, STRB), per pair 20 more. In assembly because GCC, given the C, spills
 * inside and around the block loop: the loop needs 14 registers, and LDM needs its four in
 * ascending order. The pair loop's state lives in a copy of the job on the stack. */
__attribute__((naked, noinline)) static void conv_pairs_asm(
    const conv_pairs_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_PAIRS_LOOP(CONV_LOAD_S8));
}

/* The same with the widened filter (op_conv.h's filter_wide): per filter and block one LDRD of
 * the two words that are already the pairs, in place of a load and two SXTB16; 12 instructions
 * per block for 16 MACs. The filter pointers step 8 bytes a block; the rest is
 * conv_pairs_asm's. */
__attribute__((naked, noinline)) static void conv_pairs_wide_asm(
    const conv_pairs_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_PAIRS_LOOP(CONV_LOAD_WIDE));
}

/* What conv_pool_pairs_asm reads: the four pixels of one 2x2 pool window, the top pair's
 * columns at [columns, middle) and the bottom pair's at [middle, end), both laid out as
 * conv_pairs_asm's. The C side fills it per window. */
typedef struct {
  const void *filter;       /*  0: filter a of the first pair */
  const int32_t *stage;     /*  4: its output_stage entries */
  int8_t *out;              /*  8: the pooled pixel's output at filter a's channel */
  const int16_t *columns;   /* 12 */
  const int16_t *middle;    /* 16: columns + 2 * filter_depth */
  const int16_t *end;       /* 20: middle + 2 * filter_depth */
  int32_t depth;            /* 24: a filter's bytes */
  const int32_t *stage_end; /* 28: stage + 8 * pairs */
} conv_pool_job;

typedef char conv_pool_job_is_8_words[sizeof(conv_pool_job) == 32 ? 1 : -1];

/* The larger of two accumulators into the first. */
#define CONV_POOL_MAX(into, other)                                                            \
  "cmp " into ", " other "\n\t"                                                               \
  "it lt\n\t"                                                                                 \
  "movlt " into ", " other "\n\t"

/* Per pair of filters: the dot products with the top pair's columns, their maxima per filter
 * kept on the stack, the same with the bottom pair's (the filter pointers rewound), the
 * window's maxima, and one output per filter. The job's copy lies 8 bytes up the stack, above
 * the top maxima. */
#define CONV_POOL_LOOP(load)                                                                  \
  "push {r4-r11, lr}\n\t"                                                                     \
  "ldmia r0, {r1-r8}\n\t"                                                                     \
  "push {r1-r8}\n\t"                                                                          \
  "sub sp, sp, #8\n\t" /* [sp + 8]: filter, stage, out, columns, middle, end, depth, stage_end */ \
  "1:\n\t"                                                                                    \
  "ldrd r12, lr, [sp, #20]\n\t" /* columns, middle */                                         \
  "ldrd r10, r9, [sp, #8]\n\t"  /* pa, stage */                                               \
  "ldr r11, [sp, #32]\n\t"                                                                    \
  "add r11, r11, r10\n\t" /* pb */                                                            \
  "ldr r0, [r9]\n\t"                                                                          \
  "ldr r2, [r9, #16]\n\t"                                                                     \
  "mov r1, r0\n\t"                                                                            \
  "mov r3, r2\n\t"                                                                            \
  "sub r4, lr, r12\n\t"                                                                       \
  "tst r4, #16\n\t"                                                                           \
  "bne 3f\n\t"                                                                                \
  "2:\n\t" CONV_PAIRS_BLOCK(load) "3:\n\t" CONV_PAIRS_BLOCK(load)                             \
  "cmp r12, lr\n\t"                                                                           \
  "bne 2b\n\t"                                                                                \
  CONV_POOL_MAX("r0", "r1") CONV_POOL_MAX("r2", "r3")                                         \
  "strd r0, r2, [sp]\n\t"                                                                     \
  "ldrd r10, r9, [sp, #8]\n\t"                                                                \
  "ldr r11, [sp, #32]\n\t"                                                                    \
  "add r11, r11, r10\n\t"                                                                     \
  "ldr lr, [sp, #28]\n\t" /* end; r12 is at middle */                                         \
  "ldr r0, [r9]\n\t"                                                                          \
  "ldr r2, [r9, #16]\n\t"                                                                     \
  "mov r1, r0\n\t"                                                                            \
  "mov r3, r2\n\t"                                                                            \
  "sub r4, lr, r12\n\t"                                                                       \
  "tst r4, #16\n\t"                                                                           \
  "bne 5f\n\t"                                                                                \
  "4:\n\t" CONV_PAIRS_BLOCK(load) "5:\n\t" CONV_PAIRS_BLOCK(load)                             \
  "cmp r12, lr\n\t"                                                                           \
  "bne 4b\n\t"                                                                                \
  CONV_POOL_MAX("r0", "r1") CONV_POOL_MAX("r2", "r3")                                         \
  "ldrd r4, r5, [sp]\n\t"                                                                     \
  CONV_POOL_MAX("r0", "r4") CONV_POOL_MAX("r2", "r5")                                         \
  "str r11, [sp, #8]\n\t" /* filter b's end is the next pair's filter a */                    \
  "ldrd r12, r10, [sp, #12]\n\t" /* stage, out */                                             \
  "ldmia r12!, {r4-r7}\n\t"                                                                   \
  CONV_PAIRS_OUTPUT("r0", "r10")                                                              \
  "ldmia r12!, {r4-r7}\n\t"                                                                   \
  CONV_PAIRS_OUTPUT("r2", "r10")                                                              \
  "strd r12, r10, [sp, #12]\n\t"                                                              \
  "ldr r4, [sp, #36]\n\t"                                                                     \
  "cmp r12, r4\n\t"                                                                           \
  "bne 1b\n\t"                                                                                \
  "add sp, sp, #40\n\t"                                                                       \
  "pop {r4-r11, pc}\n\t"

/* A convolution into a 2x2 stride-2 MAX_POOL_2D, one window a call: the pool takes the largest
 * of the four accumulators per filter before the output stage, which is exact because the fast
 * output stage never decreases as the accumulator grows (a positive multiplier, a rounding
 * right shift, saturation). One output stage per window instead of four, and no pool pass. */
__attribute__((naked, noinline)) static void conv_pool_pairs_asm(
    const conv_pool_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_POOL_LOOP(CONV_LOAD_S8));
}

/* The same with the widened filter. */
__attribute__((naked, noinline)) static void conv_pool_pairs_wide_asm(
    const conv_pool_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_POOL_LOOP(CONV_LOAD_WIDE));
}

/* conv_pairs_wide_asm unrolled for filters of exactly B blocks (filter_depth 4B), where a
 * pair's set-up and loop cost as much as a few blocks: no block loop, filter b's words at
 * immediate offsets from filter a's, the accumulators a1 and b1 seeded by the first block's
 * SMLAD (no MOV), out0 in lr, pixel 1's output as an offset from it and the stage's end on the
 * stack. Per pair 11B + 33 instructions (per block the columns' LDM, two LDRD and eight SMLAD;
 * per output 6; 9 more) against conv_pairs_wide_asm's 12B + 45 or so. The same job; `end` and
 * `depth` are not read. */
#define CONV_UNROLLED_FILTER_WORDS(block, B, filter, writeback)                                \
  "ldrd r8, r9, [r10, #((" #filter ") * " #B " + " #block ") * 8 + 8]" writeback "\n\t"

/* Block 0: the seeds r0 (a) and r2 (b), the stage's starts, go into a1 and b1 first. */
#define CONV_UNROLLED_FIRST_BLOCK(B)                                                          \
  "ldmia r12!, {r4-r7}\n\t" CONV_UNROLLED_FILTER_WORDS(0, B, 0, "")                           \
  "smlad r1, r8, r6, r0\n\t"                                                                  \
  "smlad r0, r8, r4, r0\n\t"                                                                  \
  "smlad r0, r9, r5, r0\n\t"                                                                  \
  "smlad r1, r9, r7, r1\n\t" CONV_UNROLLED_FILTER_WORDS(0, B, 1, "")                          \
  "smlad r3, r8, r6, r2\n\t"                                                                  \
  "smlad r2, r8, r4, r2\n\t"                                                                  \
  "smlad r2, r9, r5, r2\n\t"                                                                  \
  "smlad r3, r9, r7, r3\n\t"

#define CONV_UNROLLED_BLOCK_WB(block, B, writeback)                                           \
  "ldmia r12!, {r4-r7}\n\t" CONV_UNROLLED_FILTER_WORDS(block, B, 0, "")                       \
  "smlad r0, r8, r4, r0\n\t"                                                                  \
  "smlad r0, r9, r5, r0\n\t"                                                                  \
  "smlad r1, r8, r6, r1\n\t"                                                                  \
  "smlad r1, r9, r7, r1\n\t" CONV_UNROLLED_FILTER_WORDS(block, B, 1, writeback)               \
  "smlad r2, r8, r4, r2\n\t"                                                                  \
  "smlad r2, r9, r5, r2\n\t"                                                                  \
  "smlad r3, r8, r6, r3\n\t"                                                                  \
  "smlad r3, r9, r7, r3\n\t"

/* A middle block, and the last, whose LDRD of filter b's words moves r10 on to the next pair
 * (r10 is filter a's address minus 8, so that the last offset is the pair's size). */
#define CONV_UNROLLED_BLOCK(block, B) CONV_UNROLLED_BLOCK_WB(block, B, "")
#define CONV_UNROLLED_LAST_BLOCK(block, B) CONV_UNROLLED_BLOCK_WB(block, B, "!")

/* One output, the result in place of accumulator `acc` (r8 the only scratch): SMMLAR, ADD,
 * SUB, ASR, SSAT, STRB with the stage's 2M - 2^32, rounding and shift in r5-r7. */
#define CONV_UNROLLED_OUTPUT(acc, to) ASM_OUTPUT_BYTE(acc, "r5", "r6", "r7", acc, "r8", to)

/* The pairs' loop (label 1): filter a at r10 + 8, the stage at r11, the columns at r12, out0 in
 * lr, and at [sp + slot] out1 - out0 - 1 (pixel 1's output from out0 once past pixel 0's: -1
 * when both columns hold one pixel) and the stage's end. `blocks`: the blocks after the first,
 * CONV_UNROLLED_BLOCK(1, B) .. (B - 2, B), CONV_UNROLLED_LAST_BLOCK(B - 1, B). Leaves out0 (lr)
 * past the pairs' outputs, r9 the slot's offset, r10 and r11 past the pairs' filters and stage
 * rows, r12 at the columns. */
#define CONV_UNROLLED_PAIR_LOOP(B, blocks, slot)                                              \
  "1:\n\t"                                                                                    \
  "ldr r0, [r11]\n\t"                                                                         \
  "ldr r2, [r11, #16]\n\t" CONV_UNROLLED_FIRST_BLOCK(B) blocks                               \
  "sub r12, r12, #" #B " * 16\n\t"                                                            \
  "ldr r9, [sp, #" #slot "]\n\t"                                                              \
  "ldmia r11!, {r4-r7}\n\t" /* a: start, 2M - 2^32, rounding, shift */                        \
  CONV_UNROLLED_OUTPUT("r0", "[lr], #1") CONV_UNROLLED_OUTPUT("r1", "[lr, r9]")                 \
  "ldmia r11!, {r4-r7}\n\t" /* b */                                                           \
  CONV_UNROLLED_OUTPUT("r2", "[lr], #1") CONV_UNROLLED_OUTPUT("r3", "[lr, r9]")                 \
  "ldr r4, [sp, #" #slot " + 4]\n\t"                                                          \
  "cmp r11, r4\n\t"                                                                           \
  "bne 1b\n\t"

#define CONV_UNROLLED_PAIRS(B, blocks)                                                        \
  "push {r4-r11, lr}\n\t"                                                                     \
  "ldmia r0, {r1-r8}\n\t" /* filter, stage, out0, out1, columns, end, depth, stage_end */     \
  "sub r4, r4, r3\n\t"                                                                        \
  "sub r4, r4, #1\n\t"                                                                        \
  "push {r4, r8}\n\t"  /* [sp]: out1 - out0 - 1, stage_end */                                 \
  "sub r10, r1, #8\n\t"                                                                       \
  "mov r11, r2\n\t"                                                                           \
  "mov lr, r3\n\t"                                                                            \
  "mov r12, r5\n\t" CONV_UNROLLED_PAIR_LOOP(B, blocks, 0)                                     \
  "add sp, sp, #8\n\t"                                                                        \
  "pop {r4-r11, pc}\n\t"

#define CONV_UNROLLED_BLOCKS_4(B) CONV_UNROLLED_BLOCK(1, B) CONV_UNROLLED_BLOCK(2, B)         \
  CONV_UNROLLED_LAST_BLOCK(3, B)

__attribute__((naked, noinline)) static void conv_pairs_wide_4_asm(
    const conv_pairs_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_UNROLLED_PAIRS(4, CONV_UNROLLED_BLOCKS_4(4)));
}

__attribute__((naked, noinline)) static void conv_pairs_wide_7_asm(
    const conv_pairs_job *job __attribute__((unused))) {
  __asm__ volatile(CONV_UNROLLED_PAIRS(7, CONV_UNROLLED_BLOCK(1, 7) CONV_UNROLLED_BLOCK(2, 7)
                                              CONV_UNROLLED_BLOCK(3, 7) CONV_UNROLLED_BLOCK(4, 7)
                                              CONV_UNROLLED_BLOCK(5, 7)
                                              CONV_UNROLLED_LAST_BLOCK(6, 7)));
}

/* What conv_pointwise16_asm reads; the C side fills it once per call, and the assembly keeps
 * it on the stack, out0 and out1 stepped from pixel pair to pixel pair. */
typedef struct {
  const int8_t *input;      /*  0: pixel 0's 16 input values */
  int32_t offset2;          /*  4: the input offset in both lanes */
  int16_t *columns;         /*  8: the scratch, 4 blocks of both pixels' columns */
  const int32_t *filter;    /* 12: the widened filter (the assembly makes it filter - 8 bytes) */
  const int32_t *stage;     /* 16: output_stage */
  int8_t *out0;             /* 20: pixel 0's output */
  int32_t out1_offset;      /* 24: output_c - 1 (the pairs' loop's slot) */
  const int32_t *stage_end; /* 28: output_stage + 4 * output_c (output_c even) */
  int8_t *output_end;       /* 32: past the last pixel pair's outputs */
} conv_pointwise16_job;

typedef char conv_pointwise16_job_is_9_words[sizeof(conv_pointwise16_job) == 36 ? 1 : -1];

/* Block `block` of both pixels' columns from their words `p0` and `p1` (r1: the offset). */
#define CONV_POINTWISE16_WIDEN(p0, p1)                                                        \
  "sxtab16 r0, r1, " p0 "\n\t"                                                                \
  "sxtab16 r2, r1, " p0 ", ror #8\n\t"                                                        \
  "sxtab16 r3, r1, " p1 "\n\t"                                                                \
  "sxtab16 lr, r1, " p1 ", ror #8\n\t"                                                        \
  "stmia r12!, {r0, r2, r3, lr}\n\t"

/* A 1x1 CONV_2D over 16 input channels with the widened filter, stride 1, an even output_c and
 * the output_stage table with the full int8 range: every pixel pair of the call (the C side
 * does an odd last pixel). Per pair of pixels, whose 32 input bytes lie back to back, 20
 * instructions widen both columns into the scratch (4 SXTAB16 and an STM a block), then
 * conv_pairs_wide_4_asm's loop runs over the filter pairs, 77 instructions a pair, and 12 more
 * step to the next pixel pair: no call, no C bookkeeping per pixel pair. Past the pairs out0
 * is at pixel 1's output, which the next pixel pair's out0 follows by output_c. */
__attribute__((naked, noinline)) static void conv_pointwise16_asm(
    const conv_pointwise16_job *job __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\t"
      "sub sp, sp, #40\n\t"
      "ldmia r0!, {r1-r8}\n\t"
      "sub r4, r4, #8\n\t"
      "stmia sp, {r1-r8}\n\t"
      "ldr r1, [r0]\n\t"
      "str r1, [sp, #32]\n\t" /* [sp]: the job */
      "mov r12, r3\n\t"      /* the columns, where the pairs' loop leaves r12 */
      "3:\n\t"
      "ldrd r0, r1, [sp, #0]\n\t" /* input, offset2 */
      "ldmia r0!, {r4-r11}\n\t"   /* both pixels' 16 values */
      "str r0, [sp, #0]\n\t"
      CONV_POINTWISE16_WIDEN("r4", "r8") CONV_POINTWISE16_WIDEN("r5", "r9")
      CONV_POINTWISE16_WIDEN("r6", "r10") CONV_POINTWISE16_WIDEN("r7", "r11")
      "sub r12, r12, #64\n\t"
      "ldrd r10, r11, [sp, #12]\n\t" /* filter - 8, stage */
      "ldr lr, [sp, #20]\n\t"        /* out0 */
      CONV_UNROLLED_PAIR_LOOP(4, CONV_UNROLLED_BLOCKS_4(4), 24)
      "add lr, lr, r9\n\t"
      "add lr, lr, #1\n\t"
      "str lr, [sp, #20]\n\t"
      "ldr r4, [sp, #32]\n\t"
      "cmp lr, r4\n\t"
      "bne 3b\n\t"
      "add sp, sp, #40\n\t"
      "pop {r4-r11, pc}\n\t");
}

/* What conv_pointwise8_asm reads; the C side fills it once per call. */
typedef struct {
  const int8_t *input;   /*  0: pixel 0's 8 input values */
  int32_t offset2;       /*  4: the input offset in both lanes */
  const int32_t *packed; /*  8: the layer's stream (op_conv.h's packed) */
  int8_t *output_end;    /* 12: output + pixels * output_c */
  int8_t *output;        /* 16 */
} conv_pointwise8_job;

typedef char conv_pointwise8_job_is_5_words[sizeof(conv_pointwise8_job) == 20 ? 1 : -1];

/* One filter against the pixel's column in r0-r3: its 4 words and output_stage row in one LDM
 * (r4-r7 the words, r8 the start, which seeds the accumulator, r9-r11 2M - 2^32, rounding,
 * shift), four SMLAD, the output: 11 instructions for 8 MACs. */
#define CONV_POINTWISE8_FILTER                                                               \
  "ldmia r12!, {r4-r11}\n\t"                                                                  \
  "smlad r8, r4, r0, r8\n\t"                                                                  \
  "smlad r8, r5, r1, r8\n\t"                                                                  \
  "smlad r8, r6, r2, r8\n\t"                                                                  \
  "smlad r8, r7, r3, r8\n\t"                                                                  \
  ASM_OUTPUT_BYTE("r8", "r9", "r10", "r11", "r8", "r4", "[lr], #1")

/* A 1x1 CONV_2D over 8 input channels through the converter's packed stream (op_conv.h): every
 * pixel of the call. With a depth of two blocks the filter pairs' loop spends more on each
 * pair's set-up and outputs than on its MACs; here a pixel's whole column (8 values, widened
 * with the offset) stays in r0-r3 while the filters pass, four an iteration (output_c a
 * multiple of 4), until the one whose shift word has bit 8 set. Per filter 11 instructions
 * and half the loop's TST and branch, per pixel 12 more. The input pointer, the offset and the
 * stream's start, which do not fit in registers, live in a copy of the job on the stack. */
__attribute__((naked, noinline)) static void conv_pointwise8_asm(
    const conv_pointwise8_job *job __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\t"
      "ldmia r0, {r1-r5}\n\t"
      "push {r1-r4}\n\t" /* [sp]: input, offset2, packed, output_end */
      "mov lr, r5\n\t"   /* output */
      "2:\n\t"
      "ldrd r4, r5, [sp, #0]\n\t"
      "ldrd r6, r7, [r4], #8\n\t"
      "str r4, [sp, #0]\n\t"
      "sxtab16 r0, r5, r6\n\t"
      "sxtab16 r1, r5, r6, ror #8\n\t"
      "sxtab16 r2, r5, r7\n\t"
      "sxtab16 r3, r5, r7, ror #8\n\t"
      "ldr r12, [sp, #8]\n\t"
      "1:\n\t" CONV_POINTWISE8_FILTER CONV_POINTWISE8_FILTER CONV_POINTWISE8_FILTER
      CONV_POINTWISE8_FILTER
      "tst r11, #256\n\t"
      "beq 1b\n\t"
      "ldr r4, [sp, #12]\n\t"
      "cmp lr, r4\n\t"
      "bne 2b\n\t"
      "add sp, sp, #16\n\t"
      "pop {r4-r11, pc}\n\t");
}

#endif /* TINYML_OP_CONV2D_ASM_H */
