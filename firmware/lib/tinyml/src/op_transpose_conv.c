#include <string.h>

#include "tinyml/fixedpoint.h"
#include "tinyml/op_transpose_conv.h"

void tinyml_transpose_conv_s8(const void *params, uint8_t *arena) {
  const tinyml_transpose_conv_params *p = (const tinyml_transpose_conv_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  /* The scratch sits 4-aligned in the arena (the planner aligns every buffer). */
  uint32_t *sums = (uint32_t *)(void *)(arena + p->scratch);
  const int32_t pixels = p->output_h * p->output_w;
  int32_t b, y, x, c, fy, fx, k, i;
  memset(sums, 0, (size_t)p->batches * (size_t)pixels * (size_t)p->output_c * sizeof(*sums));
  for (b = 0; b < p->batches; ++b) {
    uint32_t *image = sums + (size_t)b * (size_t)pixels * (size_t)p->output_c;
    for (y = 0; y < p->input_h; ++y) {
      for (x = 0; x < p->input_w; ++x) {
        const int8_t *pixel = input + ((b * p->input_h + y) * p->input_w + x) * p->input_c;
        for (fy = 0; fy < p->filter_h; ++fy) {
          const int32_t out_y = y * p->stride_h - p->pad_top + fy;
          if (out_y < 0 || out_y >= p->output_h) continue;
          for (fx = 0; fx < p->filter_w; ++fx) {
            const int32_t out_x = x * p->stride_w - p->pad_left + fx;
            uint32_t *target;
            if (out_x < 0 || out_x >= p->output_w) continue;
            target = image + (out_y * p->output_w + out_x) * p->output_c;
            for (k = 0; k < p->output_c; ++k) {
              const int8_t *taps =
                  p->filter + ((k * p->filter_h + fy) * p->filter_w + fx) * p->input_c;
              /* Unsigned sums wrap as TFLM's int32 ones do on every target, without UB; the
               * order of the additions does not change a wrapped sum. */
              uint32_t sum = target[k];
              for (c = 0; c < p->input_c; ++c) {
                sum += (uint32_t)((pixel[c] + p->input_offset) * taps[c]);
              }
              target[k] = sum;
            }
          }
        }
      }
    }
  }
  for (i = 0; i < p->batches * pixels; ++i) {
    for (k = 0; k < p->output_c; ++k) {
      uint32_t sum = sums[i * p->output_c + k];
      int32_t value;
      if (p->bias != NULL) sum += (uint32_t)p->bias[k];
      value = tinyml_multiply_by_quantized_multiplier((int32_t)sum, p->multiplier[k],
                                                      p->shift[k]) +
              p->output_offset;
      output[i * p->output_c + k] = (int8_t)tinyml_clamp_i32(value, p->act_min, p->act_max);
    }
  }
}
