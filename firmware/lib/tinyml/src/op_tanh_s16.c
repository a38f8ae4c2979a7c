/* TANH int16 (tinyml_tanh_s16): reference_integer_ops::Tanh for int16. */
#include "tinyml/op_activations_s16.h"

void tinyml_tanh_s16(const void *params, uint8_t *arena) {
  const tinyml_sigmoid_s16_params *p = (const tinyml_sigmoid_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = tinyml_sigmoid_input_s16(input[i], p->multiplier, p->shift);
    const uint32_t magnitude = (uint32_t)(x < 0 ? -x : x);
    const uint32_t index = magnitude >> 8; /* tanh(x) reads sigmoid at 2x: half the step */
    int32_t result;
    if (index >= 255) {
      result = (int32_t)0xFFFF << 8; /* saturated */
    } else {
      const uint32_t low = p->table[index];
      const uint32_t high = p->table[index + 1];
      result = (int32_t)((low << 8) + (magnitude & 0xFF) * (high - low));
    }
    result = x >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
    /* An arithmetic shift of a possibly negative value, defined in C. */
    output[i] = (int16_t)(result >= 0 ? (result >> 8) : (int32_t)~(~(uint32_t)result >> 8));
  }
}
