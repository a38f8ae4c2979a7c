#include <string.h>

#include "tinyml/op_data_movement.h"

/* For each outer step, each input's slab is copied in turn, as TFLM's reference
 * Concatenation does. Inputs are int8 with the output's quantization: no rescaling. */
void tinyml_concatenation_s8(const void *params, uint8_t *arena) {
  const tinyml_concatenation_params *p = (const tinyml_concatenation_params *)params;
  uint8_t *output = arena + p->output;
  int32_t outer, i;
  for (outer = 0; outer < p->outer_size; ++outer) {
    for (i = 0; i < p->input_count; ++i) {
      const uint8_t *input = (const uint8_t *)tinyml_operand_data(&p->inputs[i], arena);
      const size_t bytes = (size_t)p->copy_bytes[i];
      memcpy(output, input + (size_t)outer * bytes, bytes);
      output += bytes;
    }
  }
}
