/* CONV_2D 16x8 (tinyml_conv2d_s16): TFLM's reference loops, grouped convolution included. */
#include "tinyml/op_conv_s16.h"

void tinyml_conv2d_s16(const void *params, uint8_t *arena) {
  const tinyml_conv2d_s16_params *p = (const tinyml_conv2d_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  const int32_t filters_per_group = p->output_c / (p->input_c / p->filter_c);
  const int32_t filter_size = p->filter_h * p->filter_w * p->filter_c;
  int32_t batch, oy, ox, oc;
  for (batch = 0; batch < p->batches; ++batch) {
    const int16_t *image = input + batch * p->input_h * p->input_w * p->input_c;
    for (oy = 0; oy < p->output_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->output_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_left;
        int16_t *out = output + ((batch * p->output_h + oy) * p->output_w + ox) * p->output_c;
        for (oc = 0; oc < p->output_c; ++oc) {
          const int32_t first_channel = (oc / filters_per_group) * p->filter_c;
          const int64_t acc = TINYML_WINDOW_SUM_S16(p, image + first_channel, y0, x0,
                                                    p->filter + oc * filter_size, p->filter_c,
                                                    p->filter_c);
          out[oc] = TINYML_CONV_OUTPUT_S16(p, acc, oc);
        }
      }
    }
  }
}
