/* LOGISTIC, TANH (and SOFTMAX, below) with int16 input and output (16x8 models), as TFLM's
 * reference kernels compute them. LOGISTIC and TANH: the input rescaled to the table's Q-format
 * by (x * multiplier + round) >> shift, then TFLM's 256-entry sigmoid table interpolated
 * (tanh(x) = 2 sigmoid(2x) - 1). The table is measured from tflite_micro at convert time
 * (tools/compiler/sigmoid_table.py). Elementwise in order, so the output may overwrite the
 * input. */
#ifndef TINYML_OP_ACTIVATIONS_S16_H
#define TINYML_OP_ACTIVATIONS_S16_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size; /* elements */
  /* The converter resolves TFLM's power-of-two case (multiplier 3 << shift, shift 0), so the
   * kernel always rescales; |x * multiplier| < 2^30. */
  int32_t multiplier, shift;
  const uint16_t *table; /* [256] */
} tinyml_sigmoid_s16_params;

/* SOFTMAX int16 along the last axis (op_softmax_s16.c): exp(x - max) from a table, the row's
 * sum's reciprocal from another, both TFLM's 513-entry interpolated tables, which the converter
 * computes as TFLM's Prepare does (tools/compiler/lut_s16.py). */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t outer, depth; /* rows, and values per row (depth * 32767 fits int32) */
  int32_t input_multiplier, input_shift; /* input_scale * beta, to 10 / 65535 per step */
  const int16_t *exp_table;              /* [513] */
  const int16_t *reciprocal_table;       /* [513] */
} tinyml_softmax_s16_params;

void tinyml_logistic_s16(const void *params, uint8_t *arena);
void tinyml_tanh_s16(const void *params, uint8_t *arena);
void tinyml_softmax_s16(const void *params, uint8_t *arena);

/* (x * multiplier + round) >> shift with the arithmetic shift of a negative int32 TFLM's
 * targets do, written so that C defines it. */
static inline int32_t tinyml_sigmoid_input_s16(int16_t x, int32_t multiplier, int32_t shift) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t value = (int32_t)x * multiplier + round;
  return value >= 0 ? (value >> shift) : (int32_t)~(~(uint32_t)value >> shift);
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_ACTIVATIONS_S16_H */
