/* LOGISTIC int16 (tinyml_logistic_s16): reference_integer_ops::Logistic for int16. */
#include "tinyml/op_activations_s16.h"

void tinyml_logistic_s16(const void *params, uint8_t *arena) {
  const tinyml_sigmoid_s16_params *p = (const tinyml_sigmoid_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = tinyml_sigmoid_input_s16(input[i], p->multiplier, p->shift);
    const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
    const uint32_t index = magnitude >> 9; /* the table's step: 2^9 of the Q-format */
    uint32_t result;
    if (index >= 255) {
      result = (uint32_t)0x7FFF << 10; /* saturated */
    } else {
      const uint32_t low = p->table[index];
      const uint32_t high = p->table[index + 1];
      result = (low << 9) + (magnitude & 0x1FF) * (high - low);
    }
    /* sigmoid(-x) = 1 - sigmoid(x), with TFLM's rounding either way. */
    result = x >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
    output[i] = (int16_t)(result >> 10);
  }
}
