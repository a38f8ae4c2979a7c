/* FULLY_CONNECTED, the assembly variant of the DSP path's hot loops in Thumb-2: four int8
 * weight rows against the input (fc_blocks_4; its job, fc_job, is op_fully_connected_dsp.h's),
 * and groups of four packed rows with their output stage (fc_groups_asm, fc_groups_tail_asm;
 * fc_packed_job). Included by op_fully_connected_dsp.h where TINYML_KERNEL_ASM is defined
 * (kernel_variant.h), in place of fc_blocks_4's C twin; fc_groups_c stays beside the packed
 * loops for depths below 4. */
#ifndef TINYML_OP_FULLY_CONNECTED_ASM_H
#define TINYML_OP_FULLY_CONNECTED_ASM_H

#include "asm_output_stage.h"

typedef char fc_job_is_8_words[sizeof(fc_job) == 32 ? 1 : -1];

/* In assembly, as a whole function: the loop needs all 14 registers a function may use, which
 * GCC's allocator cannot always give an asm statement (not with a frame pointer). One index
 * counting up to 0 addresses the input and the four rows from their ends, so the loop needs no
 * end pointer: per 4 values 25 instructions for 16 MACs. */
__attribute__((naked, noinline)) static void fc_blocks_4(fc_job *job __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\t"
      "push {r0}\n\t"
      "ldrd r4, r9, [r0, #4]\n\t" /* row, depth */
      "ldr r10, [r0, #12]\n\t"
      "ldr r5, [r0, #0]\n\t"
      "lsl r10, r10, #2\n\t" /* bytes per row */
      "add r4, r4, r10\n\t" /* the input's end */
      "add r5, r5, r10\n\t" /* the rows' ends */
      "add r6, r5, r9\n\t"
      "add r7, r6, r9\n\t"
      "add r8, r7, r9\n\t"
      "rsb r9, r10, #0\n\t" /* the index, up to 0 */
      "ldrd r2, r3, [r0, #24]\n\t"
      "ldrd r0, r1, [r0, #16]\n\t"
      "1:\n\t"
      "ldr r10, [r4, r9]\n\t"
      "sxtb16 r11, r10, ror #8\n\t"
      "sxtb16 r10, r10\n\t"
      "ldr r12, [r5, r9]\n\t"
      "sxtb16 lr, r12, ror #8\n\t"
      "sxtb16 r12, r12\n\t"
      "smlad r0, r12, r10, r0\n\t"
      "smlad r0, lr, r11, r0\n\t"
      "ldr r12, [r6, r9]\n\t"
      "sxtb16 lr, r12, ror #8\n\t"
      "sxtb16 r12, r12\n\t"
      "smlad r1, r12, r10, r1\n\t"
      "smlad r1, lr, r11, r1\n\t"
      "ldr r12, [r7, r9]\n\t"
      "sxtb16 lr, r12, ror #8\n\t"
      "sxtb16 r12, r12\n\t"
      "smlad r2, r12, r10, r2\n\t"
      "smlad r2, lr, r11, r2\n\t"
      "ldr r12, [r8, r9]\n\t"
      "sxtb16 lr, r12, ror #8\n\t"
      "sxtb16 r12, r12\n\t"
      "smlad r3, r12, r10, r3\n\t"
      "smlad r3, lr, r11, r3\n\t"
      "adds r9, r9, #4\n\t"
      "bne 1b\n\t"
      "pop {r12}\n\t"
      "strd r0, r1, [r12, #16]\n\t"
      "strd r2, r3, [r12, #24]\n\t"
      "pop {r4-r11, pc}\n\t");
}

typedef char fc_packed_job_is_8_words[sizeof(fc_packed_job) == 32 ? 1 : -1];

/* The packed path's groups of 4 rows (op_fully_connected_dsp.h's fc_packed_job; at least one
 * whole block): all 14 registers in the block loop (r0-r3 the 4 accumulators, r4-r7 4 weight
 * words, r8/r9 the widened input pair, r10 the weights, r11 the input, r12 its end, lr the
 * outputs), so the rest of the job lives on the stack: [sp] row, [sp, #4] row_end, [sp, #8]
 * end, [sp, #12] odd, and with a tail [sp, #16] the tail word. Per block 13 instructions for
 * 16 MACs, two blocks an iteration (an odd count enters halfway); per group 35 more: its
 * starts, the loop's entry, 7 per output; a tail block 13. The pieces are string macros shared
 * by the two functions. */

/* One block, its input word in r9: widened, then 2 rows per LDM of their pair words. */
#define FC_BLOCK                                                                      \
  "sxtb16 r8, r9\n\t"           /* (x0, x2) */                                        \
  "sxtb16 r9, r9, ror #8\n\t"   /* (x1, x3) */                                        \
  "ldmia r10!, {r4-r7}\n\t"     /* rows 0 and 1: (w0, w2), (w1, w3) each */           \
  "smlad r0, r4, r8, r0\n\t"                                                          \
  "smlad r0, r5, r9, r0\n\t"                                                          \
  "smlad r1, r6, r8, r1\n\t"                                                          \
  "smlad r1, r7, r9, r1\n\t"                                                          \
  "ldmia r10!, {r4-r7}\n\t"     /* rows 2 and 3 */                                    \
  "smlad r2, r4, r8, r2\n\t"                                                          \
  "smlad r2, r5, r9, r2\n\t"                                                          \
  "smlad r3, r6, r8, r3\n\t"                                                          \
  "smlad r3, r7, r9, r3\n\t"

/* From the job's values in r1-r4 (packed, -, row_end, out): each group's starts and its whole
 * blocks. */
#define FC_GROUP_BLOCKS                                                               \
  "mov r10, r1\n\t"                                                                   \
  "mov r12, r3\n\t"                                                                   \
  "mov lr, r4\n\t"                                                                    \
  "1:\n\t"                                                                            \
  "ldmia r10!, {r0-r3}\n\t" /* the starts */                                          \
  "ldr r11, [sp, #0]\n\t"                                                             \
  "ldr r4, [sp, #12]\n\t"                                                             \
  "cbnz r4, 3f\n\t"                                                                   \
  "2:\n\t"                                                                            \
  "ldr r9, [r11], #4\n\t" FC_BLOCK                                                    \
  "3:\n\t"                                                                            \
  "ldr r9, [r11], #4\n\t" FC_BLOCK                                                    \
  "cmp r11, r12\n\t"                                                                  \
  "bne 2b\n\t"

/* Row `acc`'s output: its 3 stage values (2M - 2^32, rounding, shift), then
 * tinyml_output_stage_fast and SSAT. */
#define FC_OUTPUT(acc)                                                                \
  "ldmia r10!, {r4-r6}\n\t"                                                           \
  ASM_OUTPUT_BYTE(acc, "r4", "r5", "r6", "r7", "r8", "[lr], #1")

#define FC_OUTPUTS_AND_NEXT                                                           \
  FC_OUTPUT("r0") FC_OUTPUT("r1") FC_OUTPUT("r2") FC_OUTPUT("r3")                     \
  "ldr r4, [sp, #8]\n\t"                                                              \
  "cmp r10, r4\n\t"                                                                   \
  "bne 1b\n\t"

/* Depth a multiple of 4. */
__attribute__((naked, noinline)) static void fc_groups_asm(
    const fc_packed_job *job __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\t"
      "ldmia r0, {r1-r6}\n\t" /* packed, row, row_end, out, end, odd */
      "push {r2, r3, r5, r6}\n\t"
      FC_GROUP_BLOCKS
      FC_OUTPUTS_AND_NEXT
      "add sp, sp, #16\n\t"
      "pop {r4-r11, pc}\n\t");
}

/* Depth not a multiple of 4 (at least 4): after the whole blocks, the last one from the tail
 * word, whose zero padding meets zero weights. */
__attribute__((naked, noinline)) static void fc_groups_tail_asm(
    const fc_packed_job *job __attribute__((unused))) {
  __asm__ volatile(
      "push {r4-r11, lr}\n\t"
      "ldr r7, [r0, #28]\n\t" /* tail */
      "ldmia r0, {r1-r6}\n\t"
      "push {r2, r3, r5, r6, r7}\n\t"
      FC_GROUP_BLOCKS
      "ldr r9, [sp, #16]\n\t" FC_BLOCK
      FC_OUTPUTS_AND_NEXT
      "add sp, sp, #20\n\t"
      "pop {r4-r11, pc}\n\t");
}

#undef FC_BLOCK
#undef FC_GROUP_BLOCKS
#undef FC_OUTPUT
#undef FC_OUTPUTS_AND_NEXT

#endif /* TINYML_OP_FULLY_CONNECTED_ASM_H */
