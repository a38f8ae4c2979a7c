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

#endif /* TINYML_OP_DEPTHWISE_CONV2D_ASM_H */
