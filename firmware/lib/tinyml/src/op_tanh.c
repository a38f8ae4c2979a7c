#include "tinyml/fixedpoint.h"
#include "tinyml/fixedpoint_nonlinear.h"
#include "tinyml/op_activations.h"

/* TFLM's int8 TANH: the input in Q4.27, tanh in Q0.31, then scale 1/128. TFLM ignores the
 * output's zero point and scale (the converter always writes 0 and 1/128); so does this. */
#define INPUT_INTEGER_BITS 4

static int8_t tanh_value(const tinyml_tanh_params *p, int8_t value) {
  const int32_t input = (int32_t)value - p->input_zero_point;
  int32_t output;
  if (input <= -p->input_range_radius) return -128;
  if (input >= p->input_range_radius) return 127;
  output = tinyml_tanh_fixed(
      tinyml_multiply_by_quantized_multiplier(input, p->input_multiplier, p->input_left_shift),
      INPUT_INTEGER_BITS);
  output = tinyml_rounding_divide_by_pot(output, 31 - 7);
  return (int8_t)tinyml_clamp_i32(output, -128, 127);
}

void tinyml_tanh_s8(const void *params, uint8_t *arena) {
  const tinyml_tanh_params *p = (const tinyml_tanh_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i;
  for (i = 0; i < p->size; ++i) output[i] = tanh_value(p, input[i]);
}
