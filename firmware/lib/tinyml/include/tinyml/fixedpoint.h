/* Integer arithmetic shared by the int8 kernels.
 *
 * These reproduce, bit for bit, the rounding that TFLite Micro's reference kernels use
 * (gemmlowp's double-rounding requantization), so that the built-in runtime and TFLM give
 * identical bytes. Wrapping arithmetic is done in unsigned types, where C defines it. */
#ifndef TINYML_FIXEDPOINT_H
#define TINYML_FIXEDPOINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int32_t tinyml_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t tinyml_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline int32_t tinyml_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* x * 2^exponent with two's-complement wrap, as int32 multiplication by (1 << n) behaves on
 * every target TFLM runs on. */
static inline int32_t tinyml_shl_wrap(int32_t x, int exponent) {
  return (int32_t)((uint32_t)x << exponent);
}

static inline int32_t tinyml_add_wrap(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a + (uint32_t)b);
}

static inline int32_t tinyml_sub_wrap(int32_t a, int32_t b) {
  return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* round(a * b / 2^31), saturating the single overflowing case INT32_MIN * INT32_MIN. */
static inline int32_t tinyml_rounding_doubling_high_mul(int32_t a, int32_t b) {
  int64_t product;
  int64_t nudge;
  if (a == b && a == INT32_MIN) return INT32_MAX;
  product = (int64_t)a * (int64_t)b;
  nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
  /* C division truncates toward zero, which is the rounding gemmlowp relies on. */
  return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t tinyml_rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* The requantization step of every int8 kernel: x * multiplier * 2^shift, where multiplier is
 * a Q0.31 significand and shift may be positive (left) or negative (right). */
static inline int32_t tinyml_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                                             int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  return tinyml_rounding_divide_by_pot(
      tinyml_rounding_doubling_high_mul(tinyml_shl_wrap(x, left_shift), multiplier), right_shift);
}

/* The two one-sided forms TFLM uses in ADD, SOFTMAX and the activations. */
static inline int32_t tinyml_multiply_by_quantized_multiplier_smaller_than_one(
    int32_t x, int32_t multiplier, int left_shift) {
  return tinyml_rounding_divide_by_pot(tinyml_rounding_doubling_high_mul(x, multiplier),
                                       -left_shift);
}

static inline int32_t tinyml_multiply_by_quantized_multiplier_greater_than_one(
    int32_t x, int32_t multiplier, int left_shift) {
  return tinyml_rounding_doubling_high_mul(tinyml_shl_wrap(x, left_shift), multiplier);
}

static inline int8_t tinyml_saturate_s8(int32_t x) {
  return (int8_t)tinyml_clamp_i32(x, -128, 127);
}

static inline int16_t tinyml_saturate_s16(int32_t x) {
  return (int16_t)tinyml_clamp_i32(x, -32768, 32767);
}

/* TFLM's requantization of an int64 accumulator (the 16x8 kernels): the multiplier rounded to
 * 16 bits, one rounding shift by 15 - shift, and the int64 result truncated to int32 as TFLM's
 * conversion does. The converter guarantees |x| < 2^47 and shift < 8 (TFLM's own limits). */
static inline int32_t tinyml_multiply_by_quantized_multiplier_s64(int64_t x, int32_t multiplier,
                                                                 int shift) {
  const int64_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
  const int total_shift = 15 - shift;
  const int64_t rounded = x * reduced + ((int64_t)1 << (total_shift - 1));
  return (int32_t)(uint32_t)(uint64_t)(rounded >> total_shift);
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_FIXEDPOINT_H */
