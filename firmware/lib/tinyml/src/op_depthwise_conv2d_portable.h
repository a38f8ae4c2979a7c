/* DEPTHWISE_CONV_2D, the portable variant: TFLM's reference loops. Included by
 * op_depthwise_conv2d.c only (kernel_variant.h). */
#ifndef TINYML_OP_DEPTHWISE_CONV2D_PORTABLE_H
#define TINYML_OP_DEPTHWISE_CONV2D_PORTABLE_H

#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t dw_output(const tinyml_depthwise_conv2d_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

void tinyml_depthwise_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_depthwise_conv2d_params *p = (const tinyml_depthwise_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  int32_t batch, out_y, out_x, ic, m, fy, fx;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
        for (ic = 0; ic < p->input_c; ++ic) {
          for (m = 0; m < p->depth_multiplier; ++m) {
            const int32_t oc = ic * p->depth_multiplier + m;
            int32_t acc = 0;
            for (fy = 0; fy < p->filter_h; ++fy) {
              const int32_t in_y = in_y0 + p->dilation_h * fy;
              if (in_y < 0 || in_y >= p->input_h) continue;
              for (fx = 0; fx < p->filter_w; ++fx) {
                const int32_t in_x = in_x0 + p->dilation_w * fx;
                if (in_x < 0 || in_x >= p->input_w) continue;
                acc += p->filter[(fy * p->filter_w + fx) * p->output_c + oc] *
                       (input[((batch * p->input_h + in_y) * p->input_w + in_x) * p->input_c + ic] +
                        p->input_offset);
              }
            }
            output[((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c + oc] =
                dw_output(p, acc, oc);
          }
        }
      }
    }
  }
}

#endif /* TINYML_OP_DEPTHWISE_CONV2D_PORTABLE_H */
