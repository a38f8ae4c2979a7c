/* DEPTHWISE_CONV_2D 16x8 (tinyml_depthwise_conv2d_s16): TFLM's reference loops. */
#include "tinyml/op_conv_s16.h"

void tinyml_depthwise_conv2d_s16(const void *params, uint8_t *arena) {
  const tinyml_depthwise_conv2d_s16_params *p =
      (const tinyml_depthwise_conv2d_s16_params *)params;
  const int16_t *input = (const int16_t *)(const void *)(arena + p->input);
  int16_t *output = (int16_t *)(void *)(arena + p->output);
  int32_t batch, oy, ox, ic, m;
  for (batch = 0; batch < p->batches; ++batch) {
    const int16_t *image = input + batch * p->input_h * p->input_w * p->input_c;
    for (oy = 0; oy < p->output_h; ++oy) {
      const int32_t y0 = oy * p->stride_h - p->pad_top;
      for (ox = 0; ox < p->output_w; ++ox) {
        const int32_t x0 = ox * p->stride_w - p->pad_left;
        int16_t *out = output + ((batch * p->output_h + oy) * p->output_w + ox) * p->output_c;
        for (ic = 0; ic < p->input_c; ++ic) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t oc = ic * p->depth_multiplier + m;
            const int64_t acc = TINYML_WINDOW_SUM_S16(p, image + ic, y0, x0, p->filter + oc,
                                                      p->output_c, 1);
            out[oc] = TINYML_CONV_OUTPUT_S16(p, acc, oc);
          }
        }
      }
    }
  }
}
