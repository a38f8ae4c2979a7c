#include "tinyml/op_mean.h"

#include "tinyml/fixedpoint.h"

/* Steps a row-major index over axes [0, axes) of dims, keeping *offset at its element under
 * strides. Returns 0 once every index has wrapped (the walk is over). */
static int next_index(int32_t *index, const int32_t *dims, const int32_t *strides, int axes,
                      int32_t *offset) {
  int axis;
  for (axis = axes - 1; axis >= 0; --axis) {
    *offset += strides[axis];
    if (++index[axis] < dims[axis]) return 1;
    *offset -= strides[axis] * dims[axis];
    index[axis] = 0;
  }
  return 0;
}

/* The sum of one output's block. Wrapping int32 addition is order-independent, so this equals
 * TFLM's sum accumulated in input order. */
static int32_t block_sum(const int8_t *base, const int32_t *dims, const int32_t *strides) {
  enum { INNER = TINYML_MAX_RANK - 1 };
  int32_t index[TINYML_MAX_RANK] = {0};
  int32_t offset = 0;
  uint32_t sum = 0;
  do {
    const int8_t *row = base + offset;
    int32_t i;
    for (i = 0; i < dims[INNER]; ++i) sum += (uint32_t)(int32_t)row[i * strides[INNER]];
  } while (next_index(index, dims, strides, INNER, &offset));
  return (int32_t)sum;
}

void tinyml_mean_s8(const void *params, uint8_t *arena) {
  const tinyml_mean_params *p = (const tinyml_mean_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t index[TINYML_MAX_RANK] = {0};
  int32_t offset = 0;
  do {
    const int32_t sum = block_sum(input + offset, p->inner_dims, p->inner_strides);
    /* TFLM subtracts zero_point * count in int64 and narrows to int32. */
    const int32_t centered = (int32_t)((uint32_t)sum - (uint32_t)p->zero_point_sum);
    const int32_t result =
        tinyml_multiply_by_quantized_multiplier(centered, p->multiplier, p->shift) +
        p->output_zero_point;
    *output++ = tinyml_saturate_s8(result);
  } while (next_index(index, p->outer_dims, p->outer_strides, TINYML_MAX_RANK, &offset));
}
