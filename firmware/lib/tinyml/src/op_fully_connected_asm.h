/* FULLY_CONNECTED, the assembly variant of the DSP path's hot loop: four weight rows against
 * the input in Thumb-2 (fc_blocks_4; its job, fc_job, is op_fully_connected_dsp.h's). Included
 * by op_fully_connected_dsp.h where TINYML_KERNEL_ASM is defined (kernel_variant.h), in place
 * of its C twin. */
#ifndef TINYML_OP_FULLY_CONNECTED_ASM_H
#define TINYML_OP_FULLY_CONNECTED_ASM_H

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

#endif /* TINYML_OP_FULLY_CONNECTED_ASM_H */
