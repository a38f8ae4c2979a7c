/* QUANTIZE (int8 -> int8 requantization, float32 -> int8) and DEQUANTIZE (int8 -> float32),
 * per-tensor, as TFLM's reference kernels compute them. The QUANTIZE kernels may run with the
 * output at the input's offset: they read element i before writing it, in order, and their
 * output is no wider than their input. DEQUANTIZE may not. */
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

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_QUANTIZE_H */
