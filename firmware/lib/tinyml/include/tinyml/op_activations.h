/* Activation kernels: SOFTMAX, LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH (int8 in, int8
 * out).
 *
 * Each mirrors the int8 path of TFLite Micro's reference kernel; every multiplier, shift and
 * bound below is computed by the converter exactly as TFLM's Prepare computes it.
 *
 * The output may start at the input's offset (the converter plans these layers in place):
 * each kernel reads element i, or for SOFTMAX a whole row, before writing it, in order. */
#ifndef TINYML_OP_ACTIVATIONS_H
#define TINYML_OP_ACTIVATIONS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Softmax over the last axis (gemmlowp fixed-point exp; output scale 1/256, zero point -128). */
typedef struct {
  uint32_t input; /* arena offsets */
  uint32_t output;
  int32_t outer_size; /* rows: the element count over depth */
  int32_t depth;      /* the last axis */
  int32_t input_multiplier, input_left_shift; /* beta * input_scale into Q5.26 */
  int32_t diff_min; /* differences from the row maximum below this contribute 0 */
} tinyml_softmax_params;

/* LOGISTIC and TANH: the input is brought into Q4.27, saturating beyond +-radius. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size;
  int32_t input_zero_point, input_range_radius, input_multiplier, input_left_shift;
} tinyml_logistic_params;

typedef tinyml_logistic_params tinyml_tanh_params;

/* RELU: requantize to the output scale, then clamp at the output's zero. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size;
  int32_t input_offset, output_offset; /* the zero points */
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} tinyml_relu_params;

/* RELU6: TFLM clamps the input bytes to [zero, six] in the input's quantization and copies them
 * without rescaling, whatever the output's quantization; so does this kernel. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size;
  int32_t lower, upper;
} tinyml_relu6_params;

/* LEAKY_RELU: an input at or above its zero point is requantized by input scale / output scale,
 * one below it by alpha times that; both multipliers as TFLM's Prepare computes them. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size;
  int32_t input_offset, output_offset; /* the zero points */
  int32_t identity_multiplier, identity_shift;
  int32_t alpha_multiplier, alpha_shift;
} tinyml_leaky_relu_params;

/* HARD_SWISH: x * relu6(x + 3) / 6 in TFLM's int16 fixed point; the multipliers are int16
 * (held in int32 fields), the exponents within +-15. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t size;
  int32_t input_zero_point, output_zero_point;
  int32_t output_multiplier, output_exponent;
  int32_t reluish_multiplier, reluish_exponent;
} tinyml_hard_swish_params;

void tinyml_softmax_s8(const void *params, uint8_t *arena);
void tinyml_logistic_s8(const void *params, uint8_t *arena);
void tinyml_tanh_s8(const void *params, uint8_t *arena);
void tinyml_relu_s8(const void *params, uint8_t *arena);
void tinyml_relu6_s8(const void *params, uint8_t *arena);
void tinyml_leaky_relu_s8(const void *params, uint8_t *arena);
void tinyml_hard_swish_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_ACTIVATIONS_H */
