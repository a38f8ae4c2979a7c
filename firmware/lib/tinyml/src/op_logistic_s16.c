/* LOGISTIC int16 (tinyml_logistic_s16): reference_integer_ops::Logistic for int16. */
#include "tinyml/op_activations_s16.h"

void tinyml_logistic_s16(const void *params, uint8_t *arena) {
  const tinyml_sigmoid_s16_params *p = (const tinyml_sigmoid_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    output[i] = tinyml_sigmoid_table_s16(
        p->table, tinyml_sigmoid_input_s16(input[i], p->multiplier, p->shift));
  }
}
