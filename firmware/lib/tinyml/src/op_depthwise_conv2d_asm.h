/* DEPTHWISE_CONV_2D, the assembly variant of the DSP path's hot loop: a pass of four channels
 * over a pixel's listed taps, as inline Thumb-2 assembly in an always-inline function (it must
 * inline into dw_pixel_m1, as it did). Included by op_depthwise_conv2d_dsp.h where
 * TINYML_KERNEL_ASM is defined (kernel_variant.h), in place of its C twin. */
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
/* The packed path's pass over channels c .. c+3 (dw_pixel_packed; the C twin in
 * op_depthwise_conv2d_dsp.h says what it computes): 15 instructions for a pair of taps, 8 MACs,
 * where dw_list4 takes 26; `pairs` >= 1 (windows of 2 taps or more). LDRD loads the two taps'
 * addresses, then two weight words at a time; the count runs down. */
static inline __attribute__((always_inline)) void dw_pairs4(const intptr_t *list, int32_t pairs,
                                                            const int8_t *base,
                                                            const int32_t **weights,
                                                            int32_t acc[4]) {
  const int32_t *w = *weights;
  const intptr_t *entry = list;
  int32_t a0, a1, a2, a3, t1, t2, t3, t4, t5;
  __asm__(
      "ldrd %[a0], %[a1], [%[w]], #8\n\t"
      "ldrd %[a2], %[a3], [%[w]], #8\n\t"
      "1:\n\t"
      "ldrd %[t1], %[t2], [%[entry]], #8\n\t"
      "ldr %[t1], [%[base], %[t1]]\n\t"
      "ldr %[t2], [%[base], %[t2]]\n\t"
      "pkhbt %[t3], %[t1], %[t2], lsl #16\n\t"
      "pkhtb %[t2], %[t2], %[t1], asr #16\n\t"
      "sxtb16 %[t1], %[t3]\n\t"
      "sxtb16 %[t3], %[t3], ror #8\n\t"
      "ldrd %[t4], %[t5], [%[w]], #8\n\t"
      "smlad %[a0], %[t1], %[t4], %[a0]\n\t"
      "smlad %[a1], %[t3], %[t5], %[a1]\n\t"
      "sxtb16 %[t1], %[t2]\n\t"
      "sxtb16 %[t2], %[t2], ror #8\n\t"
      "ldrd %[t3], %[t4], [%[w]], #8\n\t"
      "smlad %[a2], %[t1], %[t3], %[a2]\n\t"
      "smlad %[a3], %[t2], %[t4], %[a3]\n\t"
      "subs %[n], %[n], #1\n\t"
      "bne 1b"
      : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w),
        [entry] "+r"(entry), [n] "+r"(pairs), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
        [t4] "=&r"(t4), [t5] "=&r"(t5)
      : [base] "r"(base)
      : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  *weights = w;
}

/* dw_requantize4 in 31 instructions, where GCC takes 47: per channel LDRD + LDR of its table
 * row, SMMLAR, the rounding shift in three, SSAT; BFI packs the bytes. */
static inline __attribute__((always_inline)) int32_t dw_requantize4(const int32_t *stage,
                                                                    int32_t a0, int32_t a1,
                                                                    int32_t a2, int32_t a3) {
  int32_t m, r, s;
  __asm__(
      "ldrd %[m], %[r], [%[st], #4]\n\t"
      "ldr %[s], [%[st], #12]\n\t"
      "smmlar %[a0], %[a0], %[m], %[a0]\n\t"
      "add %[r], %[r], %[a0]\n\t"
      "sub %[r], %[r], %[a0], lsr #31\n\t"
      "asr %[a0], %[r], %[s]\n\t"
      "ssat %[a0], #8, %[a0]\n\t"
      "ldrd %[m], %[r], [%[st], #20]\n\t"
      "ldr %[s], [%[st], #28]\n\t"
      "smmlar %[a1], %[a1], %[m], %[a1]\n\t"
      "add %[r], %[r], %[a1]\n\t"
      "sub %[r], %[r], %[a1], lsr #31\n\t"
      "asr %[a1], %[r], %[s]\n\t"
      "ssat %[a1], #8, %[a1]\n\t"
      "ldrd %[m], %[r], [%[st], #36]\n\t"
      "ldr %[s], [%[st], #44]\n\t"
      "smmlar %[a2], %[a2], %[m], %[a2]\n\t"
      "add %[r], %[r], %[a2]\n\t"
      "sub %[r], %[r], %[a2], lsr #31\n\t"
      "asr %[a2], %[r], %[s]\n\t"
      "ssat %[a2], #8, %[a2]\n\t"
      "ldrd %[m], %[r], [%[st], #52]\n\t"
      "ldr %[s], [%[st], #60]\n\t"
      "smmlar %[a3], %[a3], %[m], %[a3]\n\t"
      "add %[r], %[r], %[a3]\n\t"
      "sub %[r], %[r], %[a3], lsr #31\n\t"
      "asr %[a3], %[r], %[s]\n\t"
      "ssat %[a3], #8, %[a3]\n\t"
      "bfi %[a0], %[a1], #8, #8\n\t"
      "bfi %[a0], %[a2], #16, #8\n\t"
      "bfi %[a0], %[a3], #24, #8"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [m] "=&r"(m),
        [r] "=&r"(r), [s] "=&r"(s)
      : [st] "r"(stage)
      : "memory");
  return a0;
}

/* The odd last tap of the packed path, 8 instructions: weights (c0, c2), (c1, c3). */
static inline __attribute__((always_inline)) void dw_single4(intptr_t offset, const int8_t *base,
                                                             const int32_t **weights,
                                                             int32_t acc[4]) {
  const int32_t *w = *weights;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  int32_t x, even, w02, w13;
  __asm__(
      "ldr %[x], [%[base], %[offset]]\n\t"
      "ldrd %[w02], %[w13], [%[w]], #8\n\t"
      "sxtb16 %[even], %[x]\n\t"
      "sxtb16 %[x], %[x], ror #8\n\t"
      "smlabb %[a0], %[even], %[w02], %[a0]\n\t"
      "smlatt %[a2], %[even], %[w02], %[a2]\n\t"
      "smlabb %[a1], %[x], %[w13], %[a1]\n\t"
      "smlatt %[a3], %[x], %[w13], %[a3]"
      : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [w] "+r"(w),
        [x] "=&r"(x), [even] "=&r"(even), [w02] "=&r"(w02), [w13] "=&r"(w13)
      : [base] "r"(base), [offset] "r"(offset)
      : "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
  *weights = w;
}
#endif

#endif /* TINYML_OP_DEPTHWISE_CONV2D_ASM_H */
