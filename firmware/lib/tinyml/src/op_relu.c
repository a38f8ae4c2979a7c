#include "tinyml/fixedpoint.h"
#include "tinyml/op_activations.h"

void tinyml_relu_s8(const void *params, uint8_t *arena) {
  const tinyml_relu_params *p = (const tinyml_relu_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t value =
        p->output_offset + tinyml_multiply_by_quantized_multiplier(
                               (int32_t)input[i] - p->input_offset, p->output_multiplier,
                               p->output_shift);
    output[i] = (int8_t)tinyml_clamp_i32(value, p->act_min, p->act_max);
  }
}

/* No rescaling: TFLM clamps the raw input bytes (see op_activations.h). */
void tinyml_relu6_s8(const void *params, uint8_t *arena) {
  const tinyml_relu6_params *p = (const tinyml_relu6_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    output[i] = (int8_t)tinyml_clamp_i32(input[i], p->lower, p->upper);
  }
}

/* QuantizeLeakyRelu of TFLM's reference leaky_relu.h (the converter refuses a negative alpha,
 * so both multipliers are non-negative). */
void tinyml_leaky_relu_s8(const void *params, uint8_t *arena) {
  const tinyml_leaky_relu_params *p = (const tinyml_leaky_relu_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t value = (int32_t)input[i] - p->input_offset;
    const int32_t scaled =
        value >= 0
            ? tinyml_multiply_by_quantized_multiplier(value, p->identity_multiplier,
                                                      p->identity_shift)
            : tinyml_multiply_by_quantized_multiplier(value, p->alpha_multiplier, p->alpha_shift);
    output[i] = (int8_t)tinyml_clamp_i32(p->output_offset + scaled, -128, 127);
  }
}
