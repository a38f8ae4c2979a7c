/* DEPTHWISE_CONV_2D, the assembly variant of the DSP path's hot loops, as inline Thumb-2
 * assembly in always-inline functions: a pass of four channels over a pixel's listed taps
 * (dw_list4, inlined into dw_pixel_m1), and with DW_PACKED_ASM the packed path's (dw_pairs4,
 * dw_single4, dw_requantize4), and its 3x3 runs as naked functions (dw_run9_asm and its
 * clamping and border twins). Included by op_depthwise_conv2d_dsp.h where TINYML_KERNEL_ASM is defined
 * (kernel_variant.h), in place of their C twins. */
#ifndef TINYML_OP_DEPTHWISE_CONV2D_ASM_H
#define TINYML_OP_DEPTHWISE_CONV2D_ASM_H

#include <stdint.h>

/* A pass of channels c .. c+3 over `taps` (>= 0) listed taps. On Thumb-2 in assembly: GCC
 * keeps the list's end on the stack and reloads it every tap (17 instructions); here LDRD takes
 * both addresses and the count runs down, 13 instructions a tap. x and f are overwritten by
 * their odd lanes once the even lanes are out. */
static inline __attribute__((always_inline)) void dw_list4(const int8_t *const *list,
                                                           int32_t taps, int32_t c,
                                                           int32_t offset2, int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const int8_t *const *entry = list;
  int32_t x, f, even_x, even_f;
  if (taps <= 0) return;
  __asm__(
      "1:\n\t"
      "ldrd %[x], %[f], [%[entry]], #8\n\t"
      "ldr %[x], [%[x], %[c]]\n\t"
      "ldr %[f], [%[f], %[c]]\n\t"
      "sxtab16 %[ex], %[off], %[x]\n\t"
      "sxtab16 %[x], %[off], %[x], ror #8\n\t"
      "sxtb16 %[ef], %[f]\n\t"
      "sxtb16 %[f], %[f], ror #8\n\t"
      "smlabb %[a0], %[ef], %[ex], %[a0]\n\t"
      "smlatt %[a2], %[ef], %[ex], %[a2]\n\t"
      "smlabb %[a1], %[f], %[x], %[a1]\n\t"
      "smlatt %[a3], %[f], %[x], %[a3]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [entry] "+r"(entry),
        [n] "+r"(taps), [x] "=&r"(x), [f] "=&r"(f), [ex] "=&r"(even_x), [ef] "=&r"(even_f)
      : [c] "r"(c), [off] "r"(offset2)
      : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#if defined(DW_PACKED_ASM)
/* The packed path (dw_packed_layer; the C twins in op_depthwise_conv2d_dsp.h say what each
 * computes). All read the group's packed words through one post-incremented pointer. */

/* One pair of taps: LDRD of their offsets (at `at` in the list, or post-incremented), both
 * inputs, PKHBT / PKHTB, SXTB16 x4, LDRD x2 of the weights, SMLAD x4: 15 instructions for 8
 * MACs, where dw_list4 takes 26. */
#define DW_PAIR_BODY                            \
  "ldr %[t1], [%[base], %[t1]]\n\t"             \
  "ldr %[t2], [%[base], %[t2]]\n\t"             \
  "pkhbt %[t3], %[t1], %[t2], lsl #16\n\t"      \
  "pkhtb %[t2], %[t2], %[t1], asr #16\n\t"      \
  "sxtb16 %[t1], %[t3]\n\t"                     \
  "sxtb16 %[t3], %[t3], ror #8\n\t"             \
  "ldrd %[t4], %[t5], [%[w]], #8\n\t"           \
  "smlad %[a0], %[t1], %[t4], %[a0]\n\t"        \
  "smlad %[a1], %[t3], %[t5], %[a1]\n\t"        \
  "sxtb16 %[t1], %[t2]\n\t"                     \
  "sxtb16 %[t2], %[t2], ror #8\n\t"             \
  "ldrd %[t3], %[t4], [%[w]], #8\n\t"           \
  "smlad %[a2], %[t1], %[t3], %[a2]\n\t"        \
  "smlad %[a3], %[t2], %[t4], %[a3]\n\t"
#define DW_PAIR_AT(at) "ldrd %[t1], %[t2], [%[list], #" #at "]\n\t" DW_PAIR_BODY

/* The odd last tap, its offset at `at` in the list: weights (c0, c2), (c1, c3). */
#define DW_SINGLE_AT(at)                        \
  "ldr %[t1], [%[list], #" #at "]\n\t"          \
  "ldr %[t1], [%[base], %[t1]]\n\t"             \
  "ldrd %[t3], %[t4], [%[w]], #8\n\t"           \
  "sxtb16 %[t2], %[t1]\n\t"                     \
  "sxtb16 %[t1], %[t1], ror #8\n\t"             \
  "smlabb %[a0], %[t2], %[t3], %[a0]\n\t"       \
  "smlatt %[a2], %[t2], %[t3], %[a2]\n\t"       \
  "smlabb %[a1], %[t1], %[t4], %[a1]\n\t"       \
  "smlatt %[a3], %[t1], %[t4], %[a3]\n\t"

/* One channel's output stage, 6 instructions: LDRD + LDR of (M, rounding, s), SMMLAR of the
 * doubled accumulator plus the rounding, the sign's correction, the shift, SSAT. */
#define DW_REQUANTIZE(a)                             \
  "ldrd %[t1], %[t2], [%[w]], #8\n\t"                \
  "ldr %[t3], [%[w]], #4\n\t"                        \
  "smmlar %[t2], " a ", %[t1], %[t2]\n\t"            \
  "sub %[t2], %[t2], " a ", lsr #31\n\t"             \
  "asr " a ", %[t2], %[t3]\n\t"                      \
  "ssat " a ", #8, " a "\n\t"
#define DW_REQUANTIZE4                                                        \
  DW_REQUANTIZE("%[a0]") DW_REQUANTIZE("%[a1]") DW_REQUANTIZE("%[a2]")        \
  DW_REQUANTIZE("%[a3]")                                                      \
  "bfi %[a0], %[a1], #8, #8\n\t"                                              \
  "bfi %[a0], %[a2], #16, #8\n\t"                                             \
  "bfi %[a0], %[a3], #24, #8"

/* dw_run_job (op_depthwise_conv2d_dsp.h) as the assembly below reads it: 17 words. */
typedef char dw_run_job_is_17_words[sizeof(dw_run_job) == 68 ? 1 : -1];

/* A pair of taps of the group in assembly: their offsets and the four channels' weights by one
 * LDM from the 3x3 words (`words`: the group's first pair has them from the LDM of the starts),
 * at a border pixel the offsets then from the frame's list (`offsets`), both inputs, PKHBT /
 * PKHTB, SXTB16 x4, SMLAD x4: 13 instructions for 8 MACs inside. r0-r3 the accumulators, r11
 * the packed words, r12 the input (the pixel's origin inside, the group's first channel at a
 * border pixel). */
#define DW_RUN_PAIR_WITH(words, offsets)        \
  words                                         \
  offsets                                       \
  "ldr r4, [r12, r4]\n\t"                       \
  "ldr r5, [r12, r5]\n\t"                       \
  "pkhbt r6, r4, r5, lsl #16\n\t"               \
  "pkhtb r5, r5, r4, asr #16\n\t"               \
  "sxtb16 r4, r6\n\t"                           \
  "sxtb16 r6, r6, ror #8\n\t"                   \
  "smlad r0, r4, r7, r0\n\t"                    \
  "smlad r1, r6, r8, r1\n\t"                    \
  "sxtb16 r4, r5\n\t"                           \
  "sxtb16 r5, r5, ror #8\n\t"                   \
  "smlad r2, r4, r9, r2\n\t"                    \
  "smlad r3, r5, r10, r3\n\t"
#define DW_RUN_PAIR(offsets) DW_RUN_PAIR_WITH("ldmia r11!, {r4, r5, r7-r10}\n\t", offsets)

/* The last tap: its offset and weights (c0, c2), (c1, c3) by one LDM. */
#define DW_RUN_SINGLE(offsets)                  \
  "ldmia r11!, {r4, r7, r8}\n\t"                \
  offsets                                       \
  "ldr r4, [r12, r4]\n\t"                       \
  "sxtb16 r5, r4\n\t"                           \
  "sxtb16 r4, r4, ror #8\n\t"                   \
  "smlabb r0, r5, r7, r0\n\t"                   \
  "smlatt r2, r5, r7, r2\n\t"                   \
  "smlabb r1, r4, r8, r1\n\t"                   \
  "smlatt r3, r4, r8, r3\n\t"

/* Two channels' output stage (accumulators a and b, 2 * acc), both rows (M, rounding, s) by
 * one LDM: SMMLAR gives round(acc * M / 2^31) plus the rounding, the sign's correction and the
 * shift (ASR by a register takes its bottom byte: the last group's last s carries the end
 * mark in bit 31), SSAT: 9 instructions. */
#define DW_RUN_REQUANTIZE2(a, b)                \
  "ldmia r11!, {r4-r9}\n\t"                     \
  "smmlar r5, " a ", r4, r5\n\t"                \
  "sub r5, r5, " a ", lsr #31\n\t"              \
  "asr " a ", r5, r6\n\t"                       \
  "ssat " a ", #8, " a "\n\t"                   \
  "smmlar r8, " b ", r7, r8\n\t"                \
  "sub r8, r8, " b ", lsr #31\n\t"              \
  "asr " b ", r8, r9\n\t"                       \
  "ssat " b ", #8, " b "\n\t"

/* The activation clamp of the output word, bytewise: max with lo4, min with hi4. */
#define DW_RUN_CLAMP                            \
  "ldrd r4, r5, [sp, #24]\n\t"                  \
  "ssub8 r6, r0, r4\n\t"                        \
  "sel r0, r0, r4\n\t"                          \
  "ssub8 r6, r0, r5\n\t"                        \
  "sel r0, r5, r0\n\t"

/* A border pixel: the taps' offsets from the frame's list (pad_input's for a tap outside) in
 * place of the words', which the LDMs load all the same; r12 moves on a group. */
#define DW_BORDER_PAIR(at) "ldrd r4, r5, [sp, #" #at "]\n\t"
#define DW_BORDER_SINGLE(at) "ldr r4, [sp, #" #at "]\n\t"
#define DW_BORDER_NEXT "add r12, r12, #4\n\t"

/* The whole run: the job copied to the stack (the list at sp + 32), then per pixel and group of
 * 4 channels the starts, 4 pairs, the last tap, the output stage, one word stored, until the
 * group whose last s is negative (the end mark). The loops' state lives in registers where it
 * is read every group (r11 packed words, r12 input, lr output) and on the stack otherwise.
 * p0 .. p3, single, next: empty inside, DW_BORDER_* at a border pixel. */
#define DW_RUN9(clamp, p0, p1, p2, p3, single, next)                                          \
  "push {r4-r11, lr}\n\t"                                                                     \
  "sub sp, sp, #68\n\t"                                                                       \
  "mov r10, sp\n\t"                                                                           \
  "ldmia r0!, {r1-r9}\n\t"                                                                    \
  "stmia r10!, {r1-r9}\n\t"                                                                   \
  "mov r11, r1\n\t"                                                                           \
  "mov r12, r2\n\t"                                                                           \
  "mov lr, r3\n\t"                                                                            \
  "ldmia r0, {r1-r8}\n\t"                                                                     \
  "stmia r10, {r1-r8}\n\t"                                                                    \
  "1:\n\t"                                                                                    \
  DW_RUN_PAIR_WITH("ldmia r11!, {r0-r5, r7-r10}\n\t", p0) /* the starts too */                \
  DW_RUN_PAIR(p1) DW_RUN_PAIR(p2) DW_RUN_PAIR(p3) DW_RUN_SINGLE(single)                       \
  DW_RUN_REQUANTIZE2("r0", "r1") DW_RUN_REQUANTIZE2("r2", "r3")                               \
  "bfi r0, r1, #8, #8\n\t"                                                                    \
  "bfi r0, r2, #16, #8\n\t"                                                                   \
  "bfi r0, r3, #24, #8\n\t"                                                                   \
  clamp                                                                                       \
  "str r0, [lr], #4\n\t"                                                                      \
  next                                                                                        \
  "cmp r9, #0\n\t"                                                                            \
  "bpl 1b\n\t"                                                                                \
  "ldrd r4, r5, [sp, #16]\n\t"                                                                \
  "add r12, r12, r4\n\t"                                                                      \
  "add lr, lr, r5\n\t"                                                                        \
  "ldr r11, [sp, #0]\n\t"                                                                     \
  "ldr r4, [sp, #12]\n\t"                                                                     \
  "subs r4, r4, #1\n\t"                                                                       \
  "str r4, [sp, #12]\n\t"                                                                     \
  "bne 1b\n\t"                                                                                \
  "add sp, sp, #68\n\t"                                                                       \
  "pop {r4-r11, pc}\n\t"
#define DW_RUN9_INSIDE(clamp) DW_RUN9(clamp, "", "", "", "", "", "")
#define DW_RUN9_BORDER(clamp)                                                                 \
  DW_RUN9(clamp, DW_BORDER_PAIR(32), DW_BORDER_PAIR(40), DW_BORDER_PAIR(48),                  \
          DW_BORDER_PAIR(56), DW_BORDER_SINGLE(64), DW_BORDER_NEXT)

/* A run of 3x3 windows inside the input, every group of each pixel: 84 instructions a group
 * with its loop and store (36 MACs and 4 outputs). In assembly of its own: a group needs 14
 * registers (4 accumulators, 7 temporaries for a pair, the packed words, the input, the
 * output): inline assembly gets 13 at most, and GCC then reloads the loops' state. */
__attribute__((naked, noinline)) static void dw_run9_asm(
    const dw_run_job *job __attribute__((unused))) {
  __asm__ volatile(DW_RUN9_INSIDE(""));
}

/* The same with the activation clamp (a range narrower than SSAT's). */
__attribute__((naked, noinline)) static void dw_run9_clamp_asm(
    const dw_run_job *job __attribute__((unused))) {
  __asm__ volatile(DW_RUN9_INSIDE(DW_RUN_CLAMP));
}

/* A border pixel (a run of one), its taps' offsets from the job's list: 90 a group. */
__attribute__((naked, noinline)) static void dw_run9_border_asm(
    const dw_run_job *job __attribute__((unused))) {
  __asm__ volatile(DW_RUN9_BORDER(""));
}

__attribute__((naked, noinline)) static void dw_run9_border_clamp_asm(
    const dw_run_job *job __attribute__((unused))) {
  __asm__ volatile(DW_RUN9_BORDER(DW_RUN_CLAMP));
}

/* Any window: the starts and `pairs` (>= 1) pairs of taps, the count running down. */
static inline __attribute__((always_inline)) void dw_pairs4(const intptr_t *list, int32_t pairs,
                                                            const int8_t *base,
                                                            const int32_t **weights,
                                                            int32_t acc[4]) {
  const int32_t *w = *weights;
  const intptr_t *entry = list;
  int32_t a0, a1, a2, a3, t1, t2, t3, t4, t5;
  __asm__("ldrd %[a0], %[a1], [%[w]], #8\n\t"
          "ldrd %[a2], %[a3], [%[w]], #8\n\t"
          "1:\n\t"
          "ldrd %[t1], %[t2], [%[entry]], #8\n\t" DW_PAIR_BODY
          "subs %[n], %[n], #1\n\t"
          "bne 1b"
          : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w),
            [entry] "+r"(entry), [n] "+r"(pairs), [t1] "=&r"(t1), [t2] "=&r"(t2),
            [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
          : [base] "r"(base)
          : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  *weights = w;
}

/* Any window's odd last tap, its offset the list's entry `last`. */
static inline __attribute__((always_inline)) void dw_single4(const intptr_t *last,
                                                             const int8_t *base,
                                                             const int32_t **weights,
                                                             int32_t acc[4]) {
  const int32_t *w = *weights;
  const intptr_t *list = last;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t1, t2, t3, t4;
  __asm__(DW_SINGLE_AT(0)
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),
            [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4)
          : [list] "r"(list), [base] "r"(base)
          : "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  *weights = w;
}

/* Any window's output stage: 27 instructions for 4 channels. */
static inline __attribute__((always_inline)) int32_t dw_requantize4(const int32_t **weights,
                                                                    const int32_t acc[4]) {
  const int32_t *w = *weights;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t1, t2, t3;
  __asm__(DW_REQUANTIZE4
          : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),
            [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
          :
          : "memory");
  *weights = w;
  return a0;
}
#endif

#endif /* TINYML_OP_DEPTHWISE_CONV2D_ASM_H */
