/* PAD / PADV2, CONCATENATION, RESIZE_NEAREST_NEIGHBOR and STRIDED_SLICE (int8): pure data
 * movement, no arithmetic. TFLM's int8
 * CONCATENATION requires every input to share the output's scale and zero point, so bytes are
 * copied as they are. */
#ifndef TINYML_OP_DATA_MOVEMENT_H
#define TINYML_OP_DATA_MOVEMENT_H

#include <stdint.h>

#include "tinyml/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TFLM's reference PAD works on shapes extended to 5-D (leading dimensions of 1). */
#define TINYML_PAD_DIMS 5

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t input_shape[TINYML_PAD_DIMS];
  int32_t pad_before[TINYML_PAD_DIMS];
  int32_t pad_after[TINYML_PAD_DIMS];
  int32_t pad_value; /* int8: the output zero point (PAD) or the constant (PADV2) */
} tinyml_pad_params;

/* TFLM's CONCATENATION accepts at most 10 inputs (kMaxInputNum). */
#define TINYML_CONCAT_MAX_INPUTS 10

typedef struct {
  uint32_t output;
  int32_t input_count;
  int32_t outer_size; /* product of the output dimensions before the axis */
  /* Bytes each input contributes per outer step: its axis size times the inner size. */
  int32_t copy_bytes[TINYML_CONCAT_MAX_INPUTS];
  tinyml_operand inputs[TINYML_CONCAT_MAX_INPUTS];
} tinyml_concatenation_params;

/* RESIZE_NEAREST_NEIGHBOR: output pixel (y, x) of each image copies the depth bytes of input
 * pixel (rows[y], columns[x]); the converter computes the maps as TFLM does. */
typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t batches, input_height, input_width, depth;
  int32_t output_height, output_width;
  const int32_t *rows;    /* [output_height] */
  const int32_t *columns; /* [output_width] */
} tinyml_resize_nearest_params;

/* STRIDED_SLICE, walked as TFLM's reference kernel walks it, over five axes: output element
 * (i0, ..., i4) copies input element first + sum(i_a * steps[a]); steps are in elements and may
 * be negative. */
#define TINYML_SLICE_DIMS 5

typedef struct {
  uint32_t input;
  uint32_t output;
  int32_t first;
  int32_t steps[TINYML_SLICE_DIMS];
  int32_t counts[TINYML_SLICE_DIMS];
} tinyml_strided_slice_params;

void tinyml_pad_s8(const void *params, uint8_t *arena);
void tinyml_concatenation_s8(const void *params, uint8_t *arena);
void tinyml_resize_nearest_neighbor_s8(const void *params, uint8_t *arena);
void tinyml_strided_slice_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_DATA_MOVEMENT_H */
