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

/* x >> n rounding toward minus infinity: the arithmetic shift of a negative int32 that TFLM's
 * targets do, written so that C defines it. */
static inline int32_t tinyml_floor_shift(int32_t x, int n) {
  return x >= 0 ? (x >> n) : (int32_t)~(~(uint32_t)x >> n);
}

/* The input in the table's format: (x * multiplier + round) >> shift. */
static inline int32_t tinyml_sigmoid_input_s16(int16_t x, int32_t multiplier, int32_t shift) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  return tinyml_floor_shift((int32_t)x * multiplier + round, (int)shift);
}

/* reference_integer_ops::Logistic's per-element step, on an input already in the table's
 * format (Q3.12 times 3: the table covers +-10.7 in steps of 2^-9). Also the LSTM's gates. */
static inline int16_t tinyml_sigmoid_table_s16(const uint16_t *table, int32_t x) {
  const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
  const uint32_t index = magnitude >> 9;
  uint32_t result;
  if (index >= 255) {
    result = (uint32_t)0x7FFF << 10; /* saturated */
  } else {
    const uint32_t low = table[index];
    const uint32_t high = table[index + 1];
    result = (low << 9) + (magnitude & 0x1FF) * (high - low);
  }
  /* sigmoid(-x) = 1 - sigmoid(x), with TFLM's rounding either way. */
  result = x >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
  return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh's per-element step: tanh(x) = 2 sigmoid(2x) - 1, so the table is
 * read at half the step. Also the LSTM's cell activation. */
static inline int16_t tinyml_tanh_table_s16(const uint16_t *table, int32_t x) {
  const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
  const uint32_t index = magnitude >> 8;
  int32_t result;
  if (index >= 255) {
    result = (int32_t)0xFFFF << 8; /* saturated */
  } else {
    const uint32_t low = table[index];
    const uint32_t high = table[index + 1];
    result = (int32_t)((low << 8) + (magnitude & 0xFF) * (high - low));
  }
  result = x >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
  return (int16_t)tinyml_floor_shift(result, 8);
}

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_ACTIVATIONS_S16_H */
