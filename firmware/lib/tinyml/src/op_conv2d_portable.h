/* CONV_2D, the portable variant: TFLM's reference loops, skipping the taps that fall in the
 * zero padding (they contribute nothing). Included by op_conv2d.c only (kernel_variant.h). */
#ifndef TINYML_OP_CONV2D_PORTABLE_H
#define TINYML_OP_CONV2D_PORTABLE_H

#include <string.h>

#include "tinyml/fixedpoint.h"
#include "tinyml/op_conv.h"

/* Requantizes one accumulator to the output's int8 range. */
static int8_t conv_output(const tinyml_conv2d_params *p, int32_t acc, int32_t channel) {
  return tinyml_conv_output(acc, p->bias, p->multiplier, p->shift, channel, p->output_offset,
                            p->act_min, p->act_max);
}

/* Taps [*first, *end) of one axis whose input coordinate origin + dilation * tap is inside
 * [0, size): the reference skips the others (zero padding contributes nothing). */
static void conv_taps(int32_t origin, int32_t dilation, int32_t taps, int32_t size,
                      int32_t *first, int32_t *end) {
  *first = origin < 0 ? (-origin + dilation - 1) / dilation : 0;
  *end = size > origin ? tinyml_min_i32(taps, (size - origin + dilation - 1) / dilation) : 0;
  if (*end < *first) *end = *first;
}

/* A pixel against the widened filter (op_conv.h's filter_wide), group by group: the group's
 * patch is laid out first in the layer's scratch (filter_depth int32s, reserved for every
 * build) in the widened filter's order, value k of the filter's layout at position k with its
 * two low bits swapped, padding taps and gaps 0; then each filter is one straight dot product
 * with it. Taps fy0 .. fy1-1 and fx0 .. fx1-1 are inside the image, `origin` the first's input
 * at channel 0. */
static void conv_wide_pixel(const tinyml_conv2d_params *p, const int8_t *origin, int32_t fy0,
                            int32_t fy1, int32_t fx0, int32_t fx1, uint8_t *scratch,
                            int8_t *out) {
  const int32_t groups = p->input_c / p->filter_c, filters = p->output_c / groups;
  const int32_t tap_step = p->dilation_w * p->input_c;
  const int32_t row_step = p->dilation_h * p->input_w * p->input_c;
  const int32_t zero = 0;
  int32_t group, oc, j, fy, fx, ic;
  for (group = 0; group < groups; ++group) {
    const int8_t *row = origin + group * p->filter_c;
    for (j = 0; j < p->filter_depth; ++j) memcpy(scratch + 4 * j, &zero, 4);
    for (fy = fy0; fy < fy1; ++fy, row += row_step) {
      const int8_t *pixel = row;
      for (fx = fx0; fx < fx1; ++fx, pixel += tap_step) {
        const int32_t k0 = fy * p->filter_row_stride + fx * p->filter_tap_stride;
        for (ic = 0; ic < p->filter_c; ++ic) {
          const int32_t k = k0 + ic, value = pixel[ic] + p->input_offset;
          memcpy(scratch + 4 * ((k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1)), &value, 4);
        }
      }
    }
    for (oc = group * filters; oc < (group + 1) * filters; ++oc) {
      const int32_t *words = p->filter_wide + oc * p->filter_depth / 2;
      int32_t acc = 0;
      for (j = 0; j < p->filter_depth; j += 2) {
        int32_t x0, x1;
        const int32_t word = words[j / 2];
        memcpy(&x0, scratch + 4 * j, 4);
        memcpy(&x1, scratch + 4 * j + 4, 4);
        acc += (int32_t)(int16_t)(word & 0xFFFF) * x0 + (word >> 16) * x1;
      }
      out[oc] = conv_output(p, acc, oc);
    }
  }
}

void tinyml_conv2d_s8(const void *params, uint8_t *arena) {
  const tinyml_conv2d_params *p = (const tinyml_conv2d_params *)params;
  const int8_t *input = (const int8_t *)(arena + p->input);
  int8_t *output = (int8_t *)(arena + p->output);
  const int32_t filters_per_group = p->output_c / (p->input_c / p->filter_c);
  const int32_t filter_c = p->filter_c, offset = p->input_offset;
  const int32_t tap_step = p->dilation_w * p->input_c;
  const int32_t row_step = p->dilation_h * p->input_w * p->input_c;
  int32_t batch, out_y, out_x, oc, fy, fx, ic;
  for (batch = 0; batch < p->batches; ++batch) {
    for (out_y = 0; out_y < p->output_h; ++out_y) {
      const int32_t in_y0 = out_y * p->stride_h - p->pad_top;
      int32_t fy0, fy1;
      conv_taps(in_y0, p->dilation_h, p->filter_h, p->input_h, &fy0, &fy1);
      for (out_x = 0; out_x < p->output_w; ++out_x) {
        const int32_t in_x0 = out_x * p->stride_w - p->pad_left;
        int8_t *out = output + ((batch * p->output_h + out_y) * p->output_w + out_x) * p->output_c;
        const int8_t *origin; /* the first visited tap's input, channel 0 */
        int32_t fx0, fx1;
        conv_taps(in_x0, p->dilation_w, p->filter_w, p->input_w, &fx0, &fx1);
        if (fy0 == fy1 || fx0 == fx1) { /* the window misses the image: the bias alone */
          for (oc = 0; oc < p->output_c; ++oc) out[oc] = conv_output(p, 0, oc);
          continue;
        }
        origin = input + ((batch * p->input_h + in_y0 + p->dilation_h * fy0) * p->input_w +
                          in_x0 + p->dilation_w * fx0) * p->input_c;
        if (p->filter == NULL) {
          conv_wide_pixel(p, origin, fy0, fy1, fx0, fx1, arena + p->scratch, out);
          continue;
        }
        for (oc = 0; oc < p->output_c; ++oc) {
          const int8_t *row = origin + (oc / filters_per_group) * filter_c;
          const int8_t *filter_row = p->filter + oc * p->filter_depth +
                                     fy0 * p->filter_row_stride + fx0 * p->filter_tap_stride;
          int32_t acc = 0;
          for (fy = fy0; fy < fy1; ++fy, row += row_step, filter_row += p->filter_row_stride) {
            const int8_t *pixel = row, *weights = filter_row;
            for (fx = fx0; fx < fx1; ++fx, pixel += tap_step, weights += p->filter_tap_stride) {
              for (ic = 0; ic < filter_c; ++ic) acc += weights[ic] * (pixel[ic] + offset);
            }
          }
          out[oc] = conv_output(p, acc, oc);
        }
      }
    }
  }
}


#endif /* TINYML_OP_CONV2D_PORTABLE_H */
