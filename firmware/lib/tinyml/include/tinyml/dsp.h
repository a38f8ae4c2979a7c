/* SIMD helpers for the int8 kernels' DSP fast paths (Cortex-M4/M7/M33 "DSP extension").
 *
 * TINYML_USE_DSP is defined when the fast paths are compiled:
 *   - on an ARM target with __ARM_FEATURE_DSP: with GCC or Clang through the compiler's builtins
 *     where it has them and inline assembly where not, never <arm_acle.h> (GCC's has the SIMD32
 *     intrinsics only from GCC 10, and the Nano 33 BLE's PlatformIO toolchain is GCC 7.2.1);
 *     with any other compiler through the ACLE intrinsics;
 *   - on any other host with -DTINYML_EMULATE_DSP, using the portable C below, which has the
 *     instructions' exact semantics, so that the tests run the DSP algorithms (lane packing,
 *     pairing, odd-count tails) against TFLM on the host.
 * -DTINYML_DISABLE_DSP forces the portable kernels everywhere.
 *
 * Lanes: an int32 holding two int16 lanes has lane 0 in bits 0..15 ("bottom") and lane 1 in
 * bits 16..31 ("top"). Memory access goes through memcpy, which the compiler turns into single
 * (unaligned-capable) LDR/STR on the M4 and which keeps the arena free of aliasing UB. */
#ifndef TINYML_DSP_H
#define TINYML_DSP_H

#include <stdint.h>
#include <string.h>

#if !defined(TINYML_DISABLE_DSP)
#if defined(__ARM_FEATURE_DSP)
#define TINYML_USE_DSP 1
#if !defined(__GNUC__)
#include <arm_acle.h> /* only for the non-GNU fallback at the end of the ARM branch below */
#endif
#elif defined(TINYML_EMULATE_DSP)
#define TINYML_USE_DSP 1
#define TINYML_DSP_EMULATED 1
#endif
#endif

#if defined(TINYML_USE_DSP)

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the DSP kernels assume little-endian byte and halfword lanes"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#if defined(TINYML_DSP_EMULATED)

static inline int32_t tinyml_dsp_byte(int32_t x, int index) {
  return (int32_t)((((uint32_t)x >> (8 * index)) & 0xFFu) ^ 0x80u) - 0x80;
}
static inline int32_t tinyml_dsp_bottom(int32_t x) {
  return (int32_t)(((uint32_t)x & 0xFFFFu) ^ 0x8000u) - 0x8000;
}
static inline int32_t tinyml_dsp_top(int32_t x) {
  return (int32_t)((((uint32_t)x >> 16) & 0xFFFFu) ^ 0x8000u) - 0x8000;
}
/* Two lanes, each wrapped to 16 bits as the hardware does. */
static inline int32_t tinyml_dsp_pack(int32_t bottom, int32_t top) {
  return (int32_t)(((uint32_t)top << 16) | ((uint32_t)bottom & 0xFFFFu));
}
static inline int32_t tinyml_dsp_mac(int32_t acc, int32_t a, int32_t b) {
  return (int32_t)((uint32_t)acc + (uint32_t)(a * b)); /* SMLAxy: wraps (sets Q) */
}

/* SXTB16: bytes 0 and 2, sign-extended into the two lanes. */
static inline int32_t tinyml_sxtb16(int32_t x) {
  return tinyml_dsp_pack(tinyml_dsp_byte(x, 0), tinyml_dsp_byte(x, 2));
}
/* SXTB16 x, ROR #8: bytes 1 and 3. */
static inline int32_t tinyml_sxtb16_ror8(int32_t x) {
  return tinyml_dsp_pack(tinyml_dsp_byte(x, 1), tinyml_dsp_byte(x, 3));
}
/* SXTAB16 a, x: lane-wise a + SXTB16(x). */
static inline int32_t tinyml_sxtab16(int32_t a, int32_t x) {
  return tinyml_dsp_pack(tinyml_dsp_bottom(a) + tinyml_dsp_byte(x, 0),
                         tinyml_dsp_top(a) + tinyml_dsp_byte(x, 2));
}
static inline int32_t tinyml_sxtab16_ror8(int32_t a, int32_t x) {
  return tinyml_dsp_pack(tinyml_dsp_bottom(a) + tinyml_dsp_byte(x, 1),
                         tinyml_dsp_top(a) + tinyml_dsp_byte(x, 3));
}
/* SMLAD: acc + a.bottom * b.bottom + a.top * b.top. */
static inline int32_t tinyml_smlad(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_mac(tinyml_dsp_mac(acc, tinyml_dsp_bottom(a), tinyml_dsp_bottom(b)),
                        tinyml_dsp_top(a), tinyml_dsp_top(b));
}
static inline int32_t tinyml_smlabb(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_mac(acc, tinyml_dsp_bottom(a), tinyml_dsp_bottom(b));
}
static inline int32_t tinyml_smlatb(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_mac(acc, tinyml_dsp_top(a), tinyml_dsp_bottom(b));
}
static inline int32_t tinyml_smlatt(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_mac(acc, tinyml_dsp_top(a), tinyml_dsp_top(b));
}
/* SMMLAR: the high word of (acc << 32) + a * b + 2^31, the 64-bit sum wrapping. */
static inline int32_t tinyml_smmlar(int32_t a, int32_t b, int32_t acc) {
  const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) +
                       0x80000000u;
  return (int32_t)(uint32_t)(sum >> 32);
}
/* SSAT #8: x clamped to [-128, 127]. */
static inline int32_t tinyml_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }

/* SSUB8 a, b then SEL: SSUB8 sets each byte's GE flag where a - b >= 0 (signed), SEL takes that
 * byte from its first operand where GE is set, else from its second. Hence a bytewise signed
 * max (SEL a, b) or min (SEL b, a), four int8 lanes in two instructions. */
static inline int32_t tinyml_max_s8x4(int32_t a, int32_t b) {
  uint32_t result = 0;
  int index;
  for (index = 0; index < 4; ++index) {
    const int32_t lane_a = tinyml_dsp_byte(a, index), lane_b = tinyml_dsp_byte(b, index);
    result |= ((uint32_t)(lane_a >= lane_b ? lane_a : lane_b) & 0xFFu) << (8 * index);
  }
  return (int32_t)result;
}
static inline int32_t tinyml_min_s8x4(int32_t a, int32_t b) {
  uint32_t result = 0;
  int index;
  for (index = 0; index < 4; ++index) {
    const int32_t lane_a = tinyml_dsp_byte(a, index), lane_b = tinyml_dsp_byte(b, index);
    result |= ((uint32_t)(lane_a >= lane_b ? lane_b : lane_a) & 0xFFu) << (8 * index);
  }
  return (int32_t)result;
}

#elif defined(__GNUC__) /* ARM with GCC or Clang */

/* The compiler's own builtins where it has them (GCC >= 10, Clang): <arm_acle.h> only wraps
 * these, and the scheduler knows their latencies. GCC 7, the Nano 33 BLE's PlatformIO toolchain,
 * has neither them nor __has_builtin: there the same instructions come from inline assembly, not
 * volatile and with exact operands so the compiler may still delete, CSE and move them (an asm
 * has no latency for the scheduler, so GCC 12 orders them a little differently: digits costs
 * 0.03 % more instructions that way).
 * -DTINYML_DSP_INLINE_ASM forces the assembly, so the tests build and run it on GCC 12 too. The
 * Q flag SMLAD, SMLAxy and SSAT may set is left undescribed, as GCC does for its builtins while
 * nothing reads it. */
#if !defined(TINYML_DSP_INLINE_ASM) && defined(__has_builtin)
#if __has_builtin(__builtin_arm_sxtb16) && __has_builtin(__builtin_arm_sxtab16) && \
    __has_builtin(__builtin_arm_smlad) && __has_builtin(__builtin_arm_smlabb) && \
    __has_builtin(__builtin_arm_smlatb) && __has_builtin(__builtin_arm_smlatt) && \
    __has_builtin(__builtin_arm_ssat)
#define TINYML_DSP_BUILTINS 1
#endif
#endif

#define TINYML_DSP_ASM_UNARY(name, instruction)                          \
  static inline int32_t name(int32_t x) {                                \
    int32_t result;                                                      \
    __asm__(instruction " %0, %1" : "=r"(result) : "r"(x));              \
    return result;                                                       \
  }
#define TINYML_DSP_ASM_MAC(name, instruction)                                              \
  static inline int32_t name(int32_t a, int32_t b, int32_t acc) {                          \
    int32_t result;                                                                        \
    __asm__(instruction " %0, %1, %2, %3" : "=r"(result) : "r"(a), "r"(b), "r"(acc));      \
    return result;                                                                         \
  }

#if defined(TINYML_DSP_BUILTINS)
/* Each builtin behind an always-inline function of its own, as <arm_acle.h> wraps them: GCC's
 * inliner then weighs the kernels as it did when dsp.h used that header, and GCC 12 compiles
 * them to the same bytes (a direct call changes which kernels it splits). */
#define TINYML_DSP_WRAPPED static inline __attribute__((__always_inline__))
TINYML_DSP_WRAPPED int32_t tinyml_dsp_sxtb16(int32_t x) { return __builtin_arm_sxtb16(x); }
TINYML_DSP_WRAPPED int32_t tinyml_dsp_sxtab16(int32_t a, int32_t x) {
  return __builtin_arm_sxtab16(a, x);
}
TINYML_DSP_WRAPPED int32_t tinyml_dsp_smlad(int32_t a, int32_t b, int32_t acc) {
  return __builtin_arm_smlad(a, b, acc);
}
TINYML_DSP_WRAPPED int32_t tinyml_dsp_smlabb(int32_t a, int32_t b, int32_t acc) {
  return __builtin_arm_smlabb(a, b, acc);
}
TINYML_DSP_WRAPPED int32_t tinyml_dsp_smlatb(int32_t a, int32_t b, int32_t acc) {
  return __builtin_arm_smlatb(a, b, acc);
}
TINYML_DSP_WRAPPED int32_t tinyml_dsp_smlatt(int32_t a, int32_t b, int32_t acc) {
  return __builtin_arm_smlatt(a, b, acc);
}
static inline int32_t tinyml_sxtb16(int32_t x) { return tinyml_dsp_sxtb16(x); }
static inline int32_t tinyml_sxtab16(int32_t a, int32_t x) { return tinyml_dsp_sxtab16(a, x); }
static inline int32_t tinyml_smlad(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_smlad(a, b, acc);
}
static inline int32_t tinyml_smlabb(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_smlabb(a, b, acc);
}
static inline int32_t tinyml_smlatb(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_smlatb(a, b, acc);
}
static inline int32_t tinyml_smlatt(int32_t a, int32_t b, int32_t acc) {
  return tinyml_dsp_smlatt(a, b, acc);
}
static inline int32_t tinyml_ssat8(int32_t x) { return __builtin_arm_ssat(x, 8); }
#else
TINYML_DSP_ASM_UNARY(tinyml_sxtb16, "sxtb16")
TINYML_DSP_ASM_MAC(tinyml_smlad, "smlad")
TINYML_DSP_ASM_MAC(tinyml_smlabb, "smlabb")
TINYML_DSP_ASM_MAC(tinyml_smlatb, "smlatb")
TINYML_DSP_ASM_MAC(tinyml_smlatt, "smlatt")
static inline int32_t tinyml_sxtab16(int32_t a, int32_t x) {
  int32_t result;
  __asm__("sxtab16 %0, %1, %2" : "=r"(result) : "r"(a), "r"(x));
  return result;
}
static inline int32_t tinyml_ssat8(int32_t x) {
  int32_t result;
  __asm__("ssat %0, #8, %1" : "=r"(result) : "r"(x));
  return result;
}
#endif

/* SMMLAR: ACLE has no intrinsic for it. */
TINYML_DSP_ASM_MAC(tinyml_smmlar, "smmlar")
/* The rotation is the instruction's own ROR #8 operand: one instruction instead of two (ACLE
 * has no rotated SXTB16, and GCC does not fold a separate ROR into its builtin). */
static inline int32_t tinyml_sxtb16_ror8(int32_t x) {
  int32_t result;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(result) : "r"(x));
  return result;
}
static inline int32_t tinyml_sxtab16_ror8(int32_t a, int32_t x) {
  int32_t result;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(result) : "r"(a), "r"(x));
  return result;
}
/* SSUB8 + SEL in one asm statement: the GE flags SEL reads are set by the SSUB8 right before
 * it, with nothing the compiler could schedule in between. The result goes to b's register, so
 * a running max (m = max(x, m)) needs no move; the SSUB8 difference is a scratch register,
 * early-clobbered because SEL still reads a and b after it is written. */
static inline int32_t tinyml_max_s8x4(int32_t a, int32_t b) {
  int32_t difference;
  __asm__("ssub8 %1, %2, %0\n\tsel %0, %2, %0" : "+r"(b), "=&r"(difference) : "r"(a) : "cc");
  return b;
}
static inline int32_t tinyml_min_s8x4(int32_t a, int32_t b) {
  int32_t difference;
  __asm__("ssub8 %1, %2, %0\n\tsel %0, %0, %2" : "+r"(b), "=&r"(difference) : "r"(a) : "cc");
  return b;
}

#else /* ARM with another compiler (armcc, IAR, ...): the ACLE intrinsics of <arm_acle.h> */

static inline int32_t tinyml_sxtb16(int32_t x) { return __sxtb16(x); }
static inline int32_t tinyml_sxtab16(int32_t a, int32_t x) { return __sxtab16(a, x); }
static inline int32_t tinyml_smlad(int32_t a, int32_t b, int32_t acc) {
  return __smlad(a, b, acc);
}
static inline int32_t tinyml_smlabb(int32_t a, int32_t b, int32_t acc) {
  return __smlabb(a, b, acc);
}
static inline int32_t tinyml_smlatb(int32_t a, int32_t b, int32_t acc) {
  return __smlatb(a, b, acc);
}
static inline int32_t tinyml_smlatt(int32_t a, int32_t b, int32_t acc) {
  return __smlatt(a, b, acc);
}
static inline int32_t tinyml_ssat8(int32_t x) { return __ssat(x, 8); }
static inline int32_t tinyml_smmlar(int32_t a, int32_t b, int32_t acc) {
  const uint64_t sum = ((uint64_t)(uint32_t)acc << 32) + (uint64_t)((int64_t)a * b) +
                       0x80000000u;
  return (int32_t)(uint32_t)(sum >> 32);
}
static inline int32_t tinyml_sxtb16_ror8(int32_t x) {
  return __sxtb16((int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}
static inline int32_t tinyml_sxtab16_ror8(int32_t a, int32_t x) {
  return __sxtab16(a, (int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}
/* ACLE's __sel reads the GE flags of the __ssub8 before it. */
static inline int32_t tinyml_max_s8x4(int32_t a, int32_t b) {
  (void)__ssub8(a, b);
  return (int32_t)__sel(a, b);
}
static inline int32_t tinyml_min_s8x4(int32_t a, int32_t b) {
  (void)__ssub8(a, b);
  return (int32_t)__sel(b, a);
}

#endif /* TINYML_DSP_EMULATED */

/* An int8 value in all four byte lanes, e.g. an activation bound for tinyml_max_s8x4. */
static inline int32_t tinyml_dup8(int32_t x) {
  return (int32_t)(((uint32_t)x & 0xFFu) * 0x01010101u);
}
static inline void tinyml_store_s8x4(int8_t *p, int32_t x) { memcpy(p, &x, sizeof x); }
/* A value in both int16 lanes, e.g. the input offset for SXTAB16. */
static inline int32_t tinyml_dup16(int32_t x) {
  return (int32_t)(((uint32_t)x << 16) | ((uint32_t)x & 0xFFFFu));
}

static inline int32_t tinyml_load_s8x4(const int8_t *p) {
  int32_t x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline int32_t tinyml_load_s16x2(const int16_t *p) {
  int32_t x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline void tinyml_store_s16x2(int16_t *p, int32_t x) { memcpy(p, &x, sizeof x); }
/* Two words to a word-aligned address: one STRD in Thumb-2 (GCC does not merge the two stores;
 * Thumb-2's STRD takes any two registers, Arm state's only an even/odd pair). */
static inline void tinyml_store_s16x2x2(int16_t *p, int32_t a, int32_t b) {
#if defined(__thumb2__) && defined(__GNUC__) && !defined(TINYML_DSP_EMULATED)
  __asm__ volatile("strd %1, %2, [%0]" : : "r"(p), "r"(a), "r"(b) : "memory");
#else
  const int32_t words[2] = {a, b};
  memcpy(p, words, sizeof words);
#endif
}
static inline int32_t tinyml_load_s16(const int16_t *p) {
  int16_t x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline void tinyml_store_s16(int16_t *p, int32_t x) {
  const int16_t value = (int16_t)x; /* callers pass values in int16 range */
  memcpy(p, &value, sizeof value);
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_USE_DSP */

#endif /* TINYML_DSP_H */
