#include "tinyml/op_pooling.h"

#include "tinyml/fixedpoint.h"

/* Visits the window of one output pixel, clipped to the image (padding contributes nothing and
 * is not counted, as in TFLM). Returns the number of input pixels visited. */
static int32_t pool_window(const tinyml_pool2d_params *p, const int8_t *input, int32_t batch,
                           int32_t out_y, int32_t out_x, int32_t channel, int32_t *sum,
                           int32_t *max) {
  const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
  const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
  const int32_t fy_start = tinyml_max_i32(0, -in_y0);
  const int32_t fy_end = tinyml_min_i32(p->filter_h, p->input_h - in_y0);
  const int32_t fx_start = tinyml_max_i32(0, -in_x0);
  const int32_t fx_end = tinyml_min_i32(p->filter_w, p->input_w - in_x0);
  int32_t count = 0;
  int32_t fy, fx;
  *sum = 0;
  *max = -128;
  for (fy = fy_start; fy < fy_end; ++fy) {
    for (fx = fx_start; fx < fx_end; ++fx) {
      const int32_t value =
          input[((batch * p->input_h + in_y0 + fy) * p->input_w + in_x0 + fx) * p->channels +
                channel];
      *sum += value;
      if (value > *max) *max = value;
      ++count;
    }
  }
  return count;
}

/* The output may lie over the input (the converter's in-place plan; see in_place_safe in
 * tools/compiler/ops/pooling.py, which proves it per layer from this order): outputs are written
 * one at a time in storage order, each after its whole window has been read. Keep that order,
 * and read the input only through this loop. */
static void pool2d(const tinyml_pool2d_params *p, uint8_t *arena, int average) {
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, y, x, c;
  for (batch = 0; batch < p->batches; ++batch) {
    for (y = 0; y < p->output_h; ++y) {
      for (x = 0; x < p->output_w; ++x) {
        for (c = 0; c < p->channels; ++c) {
          int32_t sum, max, result;
          const int32_t count = pool_window(p, input, batch, y, x, c, &sum, &max);
          if (average) {
            /* Round half away from zero; the converter rejects windows that see no pixel. */
            result = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
          } else {
            result = max;
          }
          output[((batch * p->output_h + y) * p->output_w + x) * p->channels + c] =
              (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
        }
      }
    }
  }
}

void tinyml_max_pool2d_s8(const void *params, uint8_t *arena) {
  pool2d((const tinyml_pool2d_params *)params, arena, 0);
}

void tinyml_average_pool2d_s8(const void *params, uint8_t *arena) {
  pool2d((const tinyml_pool2d_params *)params, arena, 1);
}
