/* QUANTIZE (int8/int16 -> int8/int16 requantization, float32 -> int8/int16) and DEQUANTIZE
 * (int8/int16 -> float32), per-tensor, as TFLM's reference kernels compute them. A QUANTIZE
 * kernel whose output is no wider than its input may run with the output at the input's offset:
 * it reads element i before writing it, in order. The others may not. */
#ifndef TINYML_OP_QUANTIZE_H
#define TINYML_OP_QUANTIZE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size; /* elements */
  int32_t input_zero_point, output_zero_point;
  int32_t multiplier, shift; /* input_scale / output_scale as QuantizeMultiplier gives it */
} tinyml_requantize_params;

/* Shared by float32 -> int8 QUANTIZE and int8 -> float32 DEQUANTIZE. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size; /* elements */
  float scale;  /* of the int8 side */
  int32_t zero_point;
} tinyml_affine_params;

void tinyml_quantize_s8_s8(const void *params, uint8_t *arena);
void tinyml_quantize_f32_s8(const void *params, uint8_t *arena);
void tinyml_dequantize_s8_f32(const void *params, uint8_t *arena);

/* The int16 forms (op_quantize_s16.c); the params are the same structs. */
void tinyml_quantize_s8_s16(const void *params, uint8_t *arena);
void tinyml_quantize_s16_s8(const void *params, uint8_t *arena);
void tinyml_quantize_s16_s16(const void *params, uint8_t *arena);
void tinyml_quantize_f32_s16(const void *params, uint8_t *arena);
void tinyml_dequantize_s16_f32(const void *params, uint8_t *arena);

/* Beyond +-2^16 every quotient saturates to the same int8 or int16 whatever the zero point (the
 * converter keeps int16 zero points within +-2^15), so clamping there changes no result and
 * keeps the float -> int conversion defined. NaN goes low. */
#define TINYML_QUANTIZE_LIMIT 65536.0f

/* TfLiteRound on a float: round half away from zero, without needing libm. */
static inline int32_t tinyml_round_half_away(float x) {
  int32_t whole;
  float fraction;
  if (!(x > -TINYML_QUANTIZE_LIMIT)) x = -TINYML_QUANTIZE_LIMIT;
  if (x > TINYML_QUANTIZE_LIMIT) x = TINYML_QUANTIZE_LIMIT;
  whole = (int32_t)x; /* truncates toward zero */
  fraction = x - (float)whole; /* exact: a float's fractional part is representable */
  if (fraction >= 0.5f) return whole + 1;
  if (fraction <= -0.5f) return whole - 1;
  return whole;
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_QUANTIZE_H */
