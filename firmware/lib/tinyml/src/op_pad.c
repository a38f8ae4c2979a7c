#include <string.h>

#include "tinyml/op_data_movement.h"

#define PAD_OUTER_DIMS (TINYML_PAD_DIMS - 1)

/* Whether output row `index` (over the outer dimensions) holds input data rather than
 * padding. */
static int row_holds_input(const tinyml_pad_params *p, const int32_t *index) {
  int d;
  for (d = 0; d < PAD_OUTER_DIMS; ++d) {
    if (index[d] < p->pad_before[d] || index[d] >= p->pad_before[d] + p->input_shape[d]) {
      return 0;
    }
  }
  return 1;
}

/* Advances a row-major index over the outer output dimensions. */
static void next_row(int32_t *index, const int32_t *dims) {
  int d;
  for (d = PAD_OUTER_DIMS - 1; d >= 0; --d) {
    if (++index[d] < dims[d]) return;
    index[d] = 0;
  }
}

/* Walks the output in order, as TFLM's reference Pad does, a whole innermost row at a time;
 * input rows are consumed in order too. */
void tinyml_pad_s8(const void *params, uint8_t *arena) {
  const tinyml_pad_params *p = (const tinyml_pad_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int inner = TINYML_PAD_DIMS - 1;
  const size_t before = (size_t)p->pad_before[inner];
  const size_t depth = (size_t)p->input_shape[inner];
  const size_t after = (size_t)p->pad_after[inner];
  const size_t row_bytes = before + depth + after;
  const int fill = (int)(uint8_t)(int8_t)p->pad_value;
  int32_t dims[PAD_OUTER_DIMS];
  int32_t index[PAD_OUTER_DIMS];
  int32_t rows = 1;
  int32_t row;
  int d;
  for (d = 0; d < PAD_OUTER_DIMS; ++d) {
    dims[d] = p->pad_before[d] + p->input_shape[d] + p->pad_after[d];
    index[d] = 0;
    rows *= dims[d];
  }
  for (row = 0; row < rows; ++row) {
    if (row_holds_input(p, index)) {
      memset(output, fill, before);
      memcpy(output + before, input, depth);
      memset(output + before + depth, fill, after);
      input += depth;
    } else {
      memset(output, fill, row_bytes);
    }
    output += row_bytes;
    next_row(index, dims);
  }
}
