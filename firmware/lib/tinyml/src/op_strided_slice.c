#include "tinyml/op_data_movement.h"

void tinyml_strided_slice_s8(const void *params, uint8_t *arena) {
  const tinyml_strided_slice_params *p = (const tinyml_strided_slice_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t i0, i1, i2, i3, i4;
  for (i0 = 0; i0 < p->counts[0]; ++i0) {
    const int32_t at0 = p->first + i0 * p->steps[0];
    for (i1 = 0; i1 < p->counts[1]; ++i1) {
      const int32_t at1 = at0 + i1 * p->steps[1];
      for (i2 = 0; i2 < p->counts[2]; ++i2) {
        const int32_t at2 = at1 + i2 * p->steps[2];
        for (i3 = 0; i3 < p->counts[3]; ++i3) {
          const int32_t at3 = at2 + i3 * p->steps[3];
          for (i4 = 0; i4 < p->counts[4]; ++i4) {
            *output++ = input[at3 + i4 * p->steps[4]];
          }
        }
      }
    }
  }
}
