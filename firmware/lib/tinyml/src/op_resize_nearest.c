#include <string.h>

#include "tinyml/op_data_movement.h"

void tinyml_resize_nearest_neighbor_s8(const void *params, uint8_t *arena) {
  const tinyml_resize_nearest_params *p = (const tinyml_resize_nearest_params *)params;
  const int8_t *image = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t row_bytes = p->input_width * p->depth;
  int32_t b, y, x;
  for (b = 0; b < p->batches; ++b) {
    for (y = 0; y < p->output_height; ++y) {
      const int8_t *row = image + p->rows[y] * row_bytes;
      for (x = 0; x < p->output_width; ++x) {
        memcpy(output, row + p->columns[x] * p->depth, (size_t)p->depth);
        output += p->depth;
      }
    }
    image += p->input_height * row_bytes;
  }
}
