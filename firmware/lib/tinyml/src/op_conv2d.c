#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t conv_output(const tinyml_conv2d_params *p, int32_t acc, int32_t channel) {
  if (p->bias != NULL) acc += p->bias[channel];
  acc = tinyml_multiply_by_quantized_multiplier(acc, p->multiplier[channel], p->shift[channel]);
  acc += p->output_offset;
  return (int8_t)tinyml_clamp_i32(acc, p->act_min, p->act_max);
}

void tinyml_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_conv2d_params *p = (const tinyml_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t filters_per_group = p->output_c / (p->input_c / p->filter_c);
  int32_t batch, out_y, out_x, oc, fy, fx, ic;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
        for (oc = 0; oc < p->output_c; ++oc) {
          const int32_t channel0 = (oc / filters_per_group) * p->filter_c;
          int32_t acc = 0;
          for (fy = 0; fy < p->filter_h; ++fy) {
            const int32_t in_y = in_y0 + p->dilation_h * fy;
            if (in_y < 0 || in_y >= p->input_h) continue;
            for (fx = 0; fx < p->filter_w; ++fx) {
              const int32_t in_x = in_x0 + p->dilation_w * fx;
              const int8_t *pixel;
              const int8_t *weights;
              if (in_x < 0 || in_x >= p->input_w) continue; /* zero padding: no contribution */
              pixel = input + ((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c +
                      channel0;
              weights = p->filter + ((oc * p->filter_h + fy) * p->filter_w + fx) * p->filter_c;
              for (ic = 0; ic < p->filter_c; ++ic) {
                acc += weights[ic] * (pixel[ic] + p->input_offset);
              }
            }
          }
          output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c + oc] =
              conv_output(p, acc, oc);
        }
      }
    }
  }
}
