/* DEPTHWISE_CONV_2D, the assembly variant of the DSP path's hot loops, as inline Thumb-2
 * assembly in always-inline functions: a pass of four channels over a pixel's listed taps
 * (dw_list4, inlined into dw_pixel_m1), and with DW_PACKED_ASM the packed path's (dw_group9,
 * dw_pairs4, dw_single4, dw_requantize4). Included by op_depthwise_conv2d_dsp.h where
 * TINYML_KERNEL_ASM is defined (kernel_variant.h), in place of their C twins. */
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
/* The packed path (dw_pixel_packed; the C twins in op_depthwise_conv2d_dsp.h say what each
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

/* One channel's output stage, 7 instructions: LDRD + LDR of (2M - 2^32, rounding, s), SMMLAR,
 * the rounding shift in three, SSAT. */
#define DW_REQUANTIZE(a)                             \
  "ldrd %[t1], %[t2], [%[w]], #8\n\t"                \
  "ldr %[t3], [%[w]], #4\n\t"                        \
  "smmlar " a ", " a ", %[t1], " a "\n\t"            \
  "add %[t2], %[t2], " a "\n\t"                      \
  "sub %[t2], %[t2], " a ", lsr #31\n\t"             \
  "asr " a ", %[t2], %[t3]\n\t"                      \
  "ssat " a ", #8, " a "\n\t"
#define DW_REQUANTIZE4                                                        \
  DW_REQUANTIZE("%[a0]") DW_REQUANTIZE("%[a1]") DW_REQUANTIZE("%[a2]")        \
  DW_REQUANTIZE("%[a3]")                                                      \
  "bfi %[a0], %[a1], #8, #8\n\t"                                              \
  "bfi %[a0], %[a2], #16, #8\n\t"                                             \
  "bfi %[a0], %[a3], #24, #8"

/* A 3x3 window's group, unrolled: starts, 4 pairs, the last tap and the output stage in one
 * block, 97 instructions for 36 MACs and 4 outputs (before the clamp). Its registers are
 * named so that LDM can load the starts and each channel's output stage triple in one
 * instruction (LDM's list must rise): 5 instructions fewer than LDRD + LDR. */
#define DW_REQUANTIZE_LDM(a)                         \
  "ldmia %[w]!, {%[t1], %[t2], %[t3]}\n\t"           \
  "smmlar " a ", " a ", %[t1], " a "\n\t"            \
  "add %[t2], %[t2], " a "\n\t"                      \
  "sub %[t2], %[t2], " a ", lsr #31\n\t"             \
  "asr " a ", %[t2], %[t3]\n\t"                      \
  "ssat " a ", #8, " a "\n\t"
static inline __attribute__((always_inline)) int32_t dw_group9(const intptr_t *list,
                                                               const int8_t *base,
                                                               const int32_t **weights) {
  register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");
  register int32_t t1 __asm__("r4"), t2 __asm__("r5"), t3 __asm__("r6");
  register int32_t t4 __asm__("r8"), t5 __asm__("r10");
  register const int32_t *w __asm__("r9") = *weights;
  register const intptr_t *entries __asm__("r11") = list;
  register const int8_t *pixel __asm__("r12") = base;
  __asm__("ldmia %[w]!, {%[a0], %[a1], %[a2], %[a3]}\n\t"
          DW_PAIR_AT(0) DW_PAIR_AT(8) DW_PAIR_AT(16) DW_PAIR_AT(24) DW_SINGLE_AT(32)
          DW_REQUANTIZE_LDM("%[a0]") DW_REQUANTIZE_LDM("%[a1]") DW_REQUANTIZE_LDM("%[a2]")
          DW_REQUANTIZE_LDM("%[a3]")
          "bfi %[a0], %[a1], #8, #8\n\t"
          "bfi %[a0], %[a2], #16, #8\n\t"
          "bfi %[a0], %[a3], #24, #8"
          : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w),
            [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)
          : [list] "r"(entries), [base] "r"(pixel)
          : "memory");
  *weights = w;
  return a0;
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

/* Any window's output stage: 31 instructions for 4 channels, where GCC takes 47. */
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
