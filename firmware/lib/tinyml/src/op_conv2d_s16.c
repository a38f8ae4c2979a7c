/* CONV_2D 16x8 (tinyml_conv2d_s16): TFLM's reference loops, grouped convolution included. */
#include "tinyml/op_conv_s16.h"

void tinyml_conv2d_s16(const void *params, uint8_t *arena) {
  const tinyml_conv2d_s16_params *p = (const tinyml_conv2d_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  const int32_t filters_per_group = p->output_c / (p->input_c / p->filter_c);
  const int32_t filter_size = p->filter_h * p->filter_w * p->filter_c;
  int32_t batch, oy, ox, oc, fy, fx, ic;
  for (batch = 0; batch < p->batches; ++batch) {
    const int16_t *image = input + batch * p->input_h * p->input_w * p->input_c;
    for (oy = 0; oy < p->output_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->output_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_left;
        int16_t *out = output + ((batch * p->output_h + oy) * p->output_w + ox) * p->output_c;
        for (oc = 0; oc < p->output_c; ++oc) {
          const int32_t first_channel = (oc / filters_per_group) * p->filter_c;
          const int8_t *filter = p->filter + oc * filter_size;
          int64_t acc = 0;
          for (fy = 0; fy < p->filter_h; ++fy) {
            const int32_t y = y0 + fy * p->dilation_h;
            if (y < 0 || y >= p->input_h) continue; /* zero padding: the tap is left out */
            for (fx = 0; fx < p->filter_w; ++fx) {
              const int32_t x = x0 + fx * p->dilation_w;
              const int16_t *pixel;
              const int8_t *taps;
              if (x < 0 || x >= p->input_w) continue;
              pixel = image + (y * p->input_w + x) * p->input_c + first_channel;
              taps = filter + (fy * p->filter_w + fx) * p->filter_c;
              for (ic = 0; ic < p->filter_c; ++ic) acc += (int32_t)taps[ic] * pixel[ic];
            }
          }
          out[oc] = TINYML_CONV_OUTPUT_S16(p, acc, oc);
        }
      }
    }
  }
}
