/* Fixed-point exp, 1/(1+x), logistic and tanh in the Q-formats of gemmlowp's fixedpoint.h, which
 * TFLite Micro's int8 SOFTMAX, LOGISTIC and TANH reference kernels are built on.
 *
 * A value is an int32 raw number with `integer_bits` integer bits (Qm.(31-m)); Q0.31 results
 * run over [-1, 1). Every step repeats gemmlowp's own sequence of roundings and saturations,
 * so the results are bit-identical to TFLM's. Additions that gemmlowp leaves as plain int32
 * arithmetic wrap here (in unsigned types, where C defines it). */
#ifndef TINYML_FIXEDPOINT_NONLINEAR_H
#define TINYML_FIXEDPOINT_NONLINEAR_H

#include <stdint.h>

#include "tinyml/fixedpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The raw value of 1.0 in Q0.31, which cannot hold 1.0 exactly: gemmlowp uses its maximum. */
#define TINYML_Q0_ONE INT32_MAX

/* x * 2^exponent for 0 < exponent < 31, saturating to the int32 range (gemmlowp's
 * SaturatingRoundingMultiplyByPOT with a positive exponent; Rescale to fewer integer bits). */
static inline int32_t tinyml_saturating_shl(int32_t x, int exponent) {
  const int32_t threshold = (int32_t)(((int32_t)1 << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return tinyml_shl_wrap(x, exponent);
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t tinyml_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* Leading zero bits of x; 32 for 0. */
static inline int tinyml_count_leading_zeros_u32(uint32_t x) {
  int count = 0;
  if (x == 0) return 32;
  while ((x & 0x80000000u) == 0) {
    x <<= 1;
    ++count;
  }
  return count;
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out: a Taylor series around -1/8. */
static inline int32_t tinyml_exp_on_quarter_interval(int32_t a) {
  const int32_t exp_minus_one_eighth = 1895147668;
  const int32_t one_third = 715827883;
  const int32_t x = tinyml_add_wrap(a, (int32_t)1 << 28); /* a + 1/8 */
  const int32_t x2 = tinyml_rounding_doubling_high_mul(x, x);
  const int32_t x3 = tinyml_rounding_doubling_high_mul(x2, x);
  const int32_t x4 = tinyml_rounding_doubling_high_mul(x2, x2);
  const int32_t x4_over_4 = tinyml_rounding_divide_by_pot(x4, 2);
  const int32_t poly = tinyml_rounding_divide_by_pot(
      tinyml_add_wrap(tinyml_rounding_doubling_high_mul(tinyml_add_wrap(x4_over_4, x3), one_third),
                      x2),
      1); /* x^4/24 + x^3/6 + x^2/2 */
  return tinyml_add_wrap(exp_minus_one_eighth,
                         tinyml_rounding_doubling_high_mul(exp_minus_one_eighth,
                                                           tinyml_add_wrap(x, poly)));
}

/* exp(a) for a <= 0 given in Q(integer_bits), 0 <= integer_bits <= 29; result in Q0.31.
 * a = -(k/4 + r): exp of the quarter-interval part r, then one multiplication by exp(-2^e) per
 * set bit 2^e of the integer-quarters part k, as gemmlowp's barrel shifter does. */
static inline int32_t tinyml_exp_on_negative_values(int32_t a, int integer_bits) {
  static const int32_t exp_of_minus_pot[7] = {
      1672461947, /* exp(-1/4) */
      1302514674, /* exp(-1/2) */
      790015084,  /* exp(-1) */
      290630308,  /* exp(-2) */
      39332535,   /* exp(-4) */
      720401,     /* exp(-8) */
      242         /* exp(-16) */
  };
  const int fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
  const int32_t a_mod_quarter_minus_quarter =
      tinyml_sub_wrap(a & (one_quarter - 1), one_quarter);
  const int32_t remainder = tinyml_sub_wrap(a_mod_quarter_minus_quarter, a);
  int32_t result = tinyml_exp_on_quarter_interval(
      integer_bits > 0 ? tinyml_saturating_shl(a_mod_quarter_minus_quarter, integer_bits)
                       : a_mod_quarter_minus_quarter);
  int exponent;
  for (exponent = -2; exponent <= 4; ++exponent) {
    /* gemmlowp skips the powers of two the format cannot reach. */
    if (integer_bits > exponent &&
        (remainder & ((int32_t)1 << (fractional_bits + exponent))) != 0) {
      result = tinyml_rounding_doubling_high_mul(result, exp_of_minus_pot[exponent + 2]);
    }
  }
  if (integer_bits > 5) { /* below -32 the result is 0 */
    const int32_t minus_32 = -((int32_t)1 << (36 - integer_bits));
    if (a < minus_32) result = 0;
  }
  return a == 0 ? TINYML_Q0_ONE : result;
}

/* The Newton-Raphson reciprocal shared by 1/(1+x) and (1-x)/(1+x): returns 1/(1+a) in Q2.29
 * for a in [0, 1) given in Q0.31. */
static inline int32_t tinyml_reciprocal_one_plus_x_q2(int32_t a) {
  const int32_t half_denominator = tinyml_rounding_half_sum(a, TINYML_Q0_ONE);
  const int32_t q2_48_over_17 = 1515870810;
  const int32_t q2_neg_32_over_17 = -1010580540;
  const int32_t q2_one = (int32_t)1 << 29;
  int32_t x = tinyml_add_wrap(q2_48_over_17,
                              tinyml_rounding_doubling_high_mul(half_denominator,
                                                                q2_neg_32_over_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = tinyml_rounding_doubling_high_mul(half_denominator, x);
    const int32_t one_minus = tinyml_sub_wrap(q2_one, half_denominator_times_x);
    /* x * one_minus is Q4.27; back to Q2.29 by a saturating shift of 2. */
    x = tinyml_add_wrap(x, tinyml_saturating_shl(tinyml_rounding_doubling_high_mul(x, one_minus),
                                                 2));
  }
  return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t tinyml_one_over_one_plus_x(int32_t a) {
  /* The Q2.29 reciprocal halved is read as Q1.30, then rescaled to Q0.31. */
  return tinyml_saturating_shl(tinyml_reciprocal_one_plus_x_q2(a), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t tinyml_one_minus_x_over_one_plus_x(int32_t a) {
  return tinyml_saturating_shl(tinyml_sub_wrap(tinyml_reciprocal_one_plus_x_q2(a),
                                               (int32_t)1 << 29), 2);
}

/* logistic(a) = 1 / (1 + exp(-a)) for a in Q(integer_bits), integer_bits <= 29; result in
 * Q0.31. */
static inline int32_t tinyml_logistic_fixed(int32_t a, int integer_bits) {
  const int32_t abs_a = a > 0 ? a : tinyml_sub_wrap(0, a);
  const int32_t if_positive =
      tinyml_one_over_one_plus_x(tinyml_exp_on_negative_values(tinyml_sub_wrap(0, abs_a),
                                                               integer_bits));
  if (a == 0) return (int32_t)1 << 30; /* one half */
  return a > 0 ? if_positive : tinyml_sub_wrap(TINYML_Q0_ONE, if_positive);
}

/* tanh(a) for a in Q(integer_bits), integer_bits <= 28; result in Q0.31. */
static inline int32_t tinyml_tanh_fixed(int32_t a, int integer_bits) {
  const int32_t negative_abs = a < 0 ? a : tinyml_sub_wrap(0, a);
  /* -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)) for n <= 0; reading n's raw value with one more
   * integer bit doubles it exactly. */
  const int32_t minus_tanh_of_negative_abs = tinyml_one_minus_x_over_one_plus_x(
      tinyml_exp_on_negative_values(negative_abs, integer_bits + 1));
  if (a == 0) return 0;
  return a < 0 ? tinyml_sub_wrap(0, minus_tanh_of_negative_abs) : minus_tanh_of_negative_abs;
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_FIXEDPOINT_NONLINEAR_H */
