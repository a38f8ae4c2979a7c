/* Runs the DSP (SIMD) CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D and
 * AVERAGE_POOL_2D kernels, and the one-pass CONV_2D + 2x2 MAX_POOL_2D, on a Cortex-M4
 * (QEMU mps2-an386) against the portable kernels, built from the same sources with
 * -DTINYML_DISABLE_DSP and renamed ref_*, on random parameters; compares every output byte.
 * The host tests prove the portable kernels equal TFLM and the DSP algorithms equal them under
 * emulated intrinsics; this proves the real instructions (and the inline asm) behave as the
 * emulation says. Built by firmware/CMakeLists.txt (TINYML_KERNEL_CHECK) on the QEMU port's
 * start-up, which passes main's return value to semihosting: exit status 0, all identical. */
#include <stdint.h>
#include <string.h>

#include "semihosting.h" /* the QEMU port's: the text goes to QEMU's stderr */
#include "tinyml/op_conv.h"
#include "tinyml/op_pooling.h"

void ref_conv2d_s8(const void *params, uint8_t *arena);
void ref_depthwise_conv2d_s8(const void *params, uint8_t *arena);
void ref_fully_connected_s8(const void *params, uint8_t *arena);
void ref_max_pool2d_s8(const void *params, uint8_t *arena);
void ref_average_pool2d_s8(const void *params, uint8_t *arena);

#define ITERATIONS 1000
#define ARENA_BYTES 131072
#define MAX_CHANNELS 256
#define MAX_FILTER 8192

static uint8_t arena_dsp[ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t arena_ref[ARENA_BYTES] __attribute__((aligned(16)));
static int8_t filter[MAX_FILTER];
static int32_t filter_wide[MAX_FILTER / 2];
static int32_t bias[MAX_CHANNELS], multiplier[MAX_CHANNELS];
static int8_t shift[MAX_CHANNELS];
static int32_t output_stage[4 * MAX_CHANNELS];
static int32_t conv_packed[8 * MAX_CHANNELS];
static uint32_t rng_state = 0x2545F491u;

static uint32_t next_random(void) { /* xorshift32 */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static int32_t random_in(int32_t low, int32_t high) {
  return low + (int32_t)(next_random() % (uint32_t)(high - low + 1));
}

static int32_t align16(int32_t bytes) { return (bytes + 15) & ~15; }

/* One spatial axis, SAME or VALID, with TFLM's output size and leading padding. */
static void pick_axis(int32_t kernel, int32_t stride, int32_t dilation, int32_t *in,
                      int32_t *out, int32_t *pad) {
  const int32_t effective = (kernel - 1) * dilation + 1;
  if (next_random() & 1) {
    int32_t total;
    *in = random_in(1, 10);
    *out = (*in + stride - 1) / stride;
    total = (*out - 1) * stride + effective - *in;
    *pad = total > 0 ? total / 2 : 0;
  } else {
    *in = random_in(effective, effective + 8);
    *out = (*in - effective) / stride + 1;
    *pad = 0;
  }
}

/* Filter values, bias and requantization for `channels` outputs; the output offset and
 * activation range through the pointers. */
static void pick_quantization(int32_t filter_values, int32_t channels, int32_t *output_offset,
                              int32_t *act_min, int32_t *act_max, const int32_t **bias_out) {
  int32_t i;
  for (i = 0; i < filter_values; ++i) filter[i] = (int8_t)random_in(-127, 127);
  const int right_shifts_only = (next_random() & 1) != 0; /* what the output_stage needs */
  for (i = 0; i < channels; ++i) {
    bias[i] = random_in(-60000, 60000);
    multiplier[i] = random_in(1 << 30, INT32_MAX);
    shift[i] = (int8_t)random_in(-16, right_shifts_only ? -1 : 1);
  }
  *output_offset = random_in(-128, 127);
  *act_min = -128;
  *act_max = 127;
  if (next_random() & 1) {
    *act_min = random_in(-128, 0);
    *act_max = random_in(*act_min, 127);
  }
  *bias_out = (next_random() & 3) ? bias : NULL;
}

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

/* The DSP kernels' output_stage table as tools/compiler/ops/conv.py's output_stage_table builds
 * it, from channel c's weights weights[c * stride + i * step], i < count; NULL where the
 * converter would not emit one. fold: FULLY_CONNECTED's start value takes the input offset. */
static const int32_t *make_output_stage(const int8_t *weights, int32_t channels, int32_t stride,
                                        int32_t count, int32_t step, const int32_t *bias_or_null,
                                        int32_t output_offset, int32_t input_offset, int fold) {
  const int64_t limit = (int64_t)1 << 31;
  int32_t c, i;
  for (c = 0; c < channels; ++c) {
    const int32_t right = -shift[c];
    const int64_t b = bias_or_null != NULL ? bias_or_null[c] : 0;
    int64_t sum = 0, magnitude = 0, bound, rounding;
    if (multiplier[c] < (1 << 30) || right < 1) return NULL;
    rounding = ((int64_t)1 << (right - 1)) + (int64_t)output_offset * ((int64_t)1 << right);
    for (i = 0; i < count; ++i) {
      sum += weights[c * stride + i * step];
      magnitude += abs64(weights[c * stride + i * step]);
    }
    bound = abs64(b) + 255 * magnitude;
    if (bound >= limit || bound * multiplier[c] / limit + 1 + abs64(rounding) + 1 >= limit) {
      return NULL;
    }
    output_stage[4 * c] = (int32_t)(b + (fold ? (int64_t)input_offset * sum : 0));
    output_stage[4 * c + 1] = (int32_t)(uint32_t)(2 * (int64_t)multiplier[c] - ((int64_t)1 << 32));
    output_stage[4 * c + 2] = (int32_t)rounding;
    output_stage[4 * c + 3] = right;
  }
  return output_stage;
}

/* Same random bytes in both arenas below junk_from, same junk from there (outputs and scratch);
 * runs both kernels and compares the output bytes. */
static int run_both_junk_from(const char *name, void (*dsp)(const void *, uint8_t *),
                              void (*ref)(const void *, uint8_t *), const void *params,
                              int32_t junk_from, int32_t output_offset, int32_t output_bytes) {
  int32_t i;
  for (i = 0; i < ARENA_BYTES; ++i) arena_ref[i] = (uint8_t)next_random();
  for (i = junk_from; i < ARENA_BYTES; ++i) arena_ref[i] = 0xA5;
  memcpy(arena_dsp, arena_ref, ARENA_BYTES);
  dsp(params, arena_dsp);
  ref(params, arena_ref);
  if (memcmp(arena_dsp + output_offset, arena_ref + output_offset, (size_t)output_bytes) != 0) {
    semihost_write0(name);
    semihost_write0(": DSP output differs from the portable kernel\n");
    return 1;
  }
  return 0;
}

static int run_both(const char *name, void (*dsp)(const void *, uint8_t *),
                    void (*ref)(const void *, uint8_t *), const void *params,
                    int32_t output_offset, int32_t output_bytes) {
  return run_both_junk_from(name, dsp, ref, params, output_offset, output_offset, output_bytes);
}

/* A filter layout as conv_filter_layout (tools/compiler/ops/conv.py) may pick: dense, rows or
 * taps starting on a block of 4; gaps zero. 0 when the filter does not fit. */
static int pick_conv_layout(tinyml_conv2d_params *p) {
  const int32_t kind = random_in(0, 2);
  const int32_t values = p->filter_h * p->filter_w * p->filter_c;
  int32_t oc, fy, fx, ic;
  p->filter_tap_stride = p->filter_c;
  p->filter_row_stride = p->filter_w * p->filter_c;
  p->filter_depth = (values + 3) & ~3;
  if (kind == 1) {
    p->filter_row_stride = (p->filter_w * p->filter_c + 3) & ~3;
    p->filter_depth = p->filter_h * p->filter_row_stride;
  } else if (kind == 2) {
    p->filter_tap_stride = (p->filter_c + 3) & ~3;
    p->filter_row_stride = p->filter_w * p->filter_tap_stride;
    p->filter_depth = p->filter_h * p->filter_row_stride;
  }
  if (p->output_c * p->filter_depth > MAX_FILTER) return 0;
  /* Spread the dense values pick_quantization drew to their places, last first. */
  for (oc = p->output_c - 1; oc >= 0; --oc) {
    for (fy = p->filter_h - 1; fy >= 0; --fy) {
      for (fx = p->filter_w - 1; fx >= 0; --fx) {
        for (ic = p->filter_c - 1; ic >= 0; --ic) {
          filter[oc * p->filter_depth + fy * p->filter_row_stride + fx * p->filter_tap_stride +
                 ic] = filter[oc * values + (fy * p->filter_w + fx) * p->filter_c + ic];
        }
      }
    }
  }
  for (oc = 0; oc < p->output_c; ++oc) { /* zero the gaps */
    int8_t *f = filter + oc * p->filter_depth;
    int32_t k;
    for (k = 0; k < p->filter_depth; ++k) {
      const int32_t row = k / p->filter_row_stride, in_row = k % p->filter_row_stride;
      const int32_t tap = in_row / p->filter_tap_stride, in_tap = in_row % p->filter_tap_stride;
      if (row >= p->filter_h || tap >= p->filter_w || in_tap >= p->filter_c) f[k] = 0;
    }
  }
  return 1;
}

/* Random CONV_2D parameters (groups too when `grouped`) with its input, output and a scratch of
 * `columns` im2col columns laid out in the arena from 0; 0 when they do not fit. */
static int pick_conv2d(tinyml_conv2d_params *p, int grouped, int32_t batches, int32_t columns) {
  int32_t groups, in_bytes, out_bytes;
  memset(p, 0, sizeof *p);
  p->batches = batches;
  p->filter_h = random_in(1, 5);
  p->filter_w = random_in(1, 5);
  p->filter_c = random_in(1, 12);
  groups = grouped && (next_random() % 6 == 0) ? random_in(2, 3) : 1;
  p->input_c = p->filter_c * groups;
  p->output_c = groups * random_in(1, groups > 1 ? 5 : 17);
  p->stride_h = random_in(1, 3), p->stride_w = random_in(1, 3);
  p->dilation_h = random_in(1, 3), p->dilation_w = random_in(1, 3);
  if (next_random() % 4 == 0) { /* MobileNet's first layers, which the draws above rarely are */
    const int32_t pointwise = (int32_t)(next_random() % 3);
    groups = 1;
    p->filter_h = p->filter_w = pointwise ? 1 : 3;
    /* column_nines; conv_pointwise8_asm; conv_pointwise16_asm */
    p->filter_c = p->input_c = pointwise == 0 ? 3 : 8 * pointwise;
    p->output_c = pointwise && (next_random() & 1) ? 4 * random_in(1, 6) : random_in(1, 17);
    p->stride_h = p->stride_w = pointwise ? 1 : random_in(1, 2);
    p->dilation_h = p->dilation_w = 1;
  }
  pick_axis(p->filter_h, p->stride_h, p->dilation_h, &p->input_h, &p->output_h, &p->pad_top);
  pick_axis(p->filter_w, p->stride_w, p->dilation_w, &p->input_w, &p->output_w, &p->pad_left);
  p->input_offset = random_in(-127, 128);
  pick_quantization(p->output_c * p->filter_h * p->filter_w * p->filter_c, p->output_c,
                    &p->output_offset, &p->act_min, &p->act_max, &p->bias);
  if (!pick_conv_layout(p)) return 0;
  p->output_stage = make_output_stage(filter, p->output_c, p->filter_depth, p->filter_depth, 1,
                                      p->bias, p->output_offset, p->input_offset, 0);
  in_bytes = p->batches * p->input_h * p->input_w * p->input_c;
  out_bytes = p->batches * p->output_h * p->output_w * p->output_c;
  p->input = 0;
  p->output = (uint32_t)align16(in_bytes);
  p->scratch = (uint32_t)align16((int32_t)p->output + out_bytes);
  p->filter = filter, p->multiplier = multiplier, p->shift = shift;
  if (next_random() & 1) { /* the widened form (conv_filter_wide in tools/compiler/ops/conv.py) */
    int32_t block;
    for (block = 0; block < p->output_c * p->filter_depth / 4; ++block) {
      const int8_t *w = filter + 4 * block;
      filter_wide[2 * block] = (int32_t)((uint32_t)(uint16_t)w[0] | ((uint32_t)w[2] << 16));
      filter_wide[2 * block + 1] = (int32_t)((uint32_t)(uint16_t)w[1] | ((uint32_t)w[3] << 16));
    }
    p->filter = NULL;
    p->filter_wide = filter_wide;
    /* A 1x1 layer over 8 channels: the stream as conv_pointwise8_packed in
     * tools/compiler/ops/conv.py makes it where the converter would (the kernel checks the
     * geometry itself): per filter its 4 widened words and stage row, bit 8 of the last shift. */
    if (p->filter_h == 1 && p->filter_w == 1 && p->filter_c == 8 && groups == 1 &&
        p->stride_h == 1 && p->stride_w == 1 && p->output_stage != NULL && p->act_min == -128 &&
        p->act_max == 127 && p->output_c % 4 == 0) {
      int32_t oc, k;
      for (oc = 0; oc < p->output_c; ++oc) {
        for (k = 0; k < 4; ++k) {
          conv_packed[8 * oc + k] = filter_wide[4 * oc + k];
          conv_packed[8 * oc + 4 + k] = p->output_stage[4 * oc + k];
        }
      }
      conv_packed[8 * p->output_c - 1] |= 1 << 8;
      p->packed = conv_packed;
    }
  }
  return (int32_t)p->scratch + 2 * columns * p->filter_depth <= ARENA_BYTES;
}

static int check_conv2d(void) {
  tinyml_conv2d_params p;
  if (!pick_conv2d(&p, 1, random_in(1, 2), 2)) return 0;
  return run_both("CONV_2D", tinyml_conv2d_s8, ref_conv2d_s8, &p, (int32_t)p.output,
                  p.batches * p.output_h * p.output_w * p.output_c);
}

/* How many random convolutions the one-pass CONV_2D + 2x2 MAX_POOL_2D computed: the check
 * fails if that path never runs. */
static int32_t conv_pool_runs;

/* A convolution and a 2x2 stride-2 max pool of its output: tinyml_conv2d_pool_s8 in one pass
 * against the portable convolution and pool one after the other. Mostly the one pass's case
 * (both activation ranges full); otherwise it must decline. */
static int check_conv_pool(void) {
  tinyml_conv2d_params p;
  tinyml_pool2d_params q;
  int32_t i, pooled_bytes;
  if (!pick_conv2d(&p, 0, 1, 4) || p.output_h < 2 || p.output_w < 2) return 0;
  memset(&q, 0, sizeof q);
  q.batches = 1;
  q.input_h = p.output_h, q.input_w = p.output_w, q.channels = p.output_c;
  q.output_h = p.output_h / 2, q.output_w = p.output_w / 2;
  q.filter_h = q.filter_w = q.stride_h = q.stride_w = 2;
  q.act_min = -128, q.act_max = 127;
  if ((next_random() & 3) != 0) p.act_min = -128, p.act_max = 127;
  q.input = p.output;
  q.output = (uint32_t)align16((int32_t)p.scratch + 8 * p.filter_depth);
  pooled_bytes = q.output_h * q.output_w * q.channels;
  if ((int32_t)q.output + pooled_bytes > ARENA_BYTES) return 0;
  for (i = 0; i < ARENA_BYTES; ++i) arena_ref[i] = (uint8_t)next_random();
  memcpy(arena_dsp, arena_ref, ARENA_BYTES);
  if (!tinyml_conv2d_pool_s8(&p, &q, arena_dsp)) {
    if (p.output_stage != NULL && p.act_min == -128 && p.act_max == 127 && p.output_c % 2 == 0) {
      semihost_write0("CONV_2D + MAX_POOL_2D: the one pass declined a case of its own\n");
      return 1;
    }
    return 0;
  }
  ++conv_pool_runs;
  ref_conv2d_s8(&p, arena_ref);
  ref_max_pool2d_s8(&q, arena_ref);
  if (memcmp(arena_dsp + q.output, arena_ref + q.output, (size_t)pooled_bytes) != 0) {
    semihost_write0("CONV_2D + MAX_POOL_2D: the one pass differs from the portable kernels\n");
    return 1;
  }
  return 0;
}

/* The depthwise multiplier-1 packed filter as tools/compiler/ops/conv.py's
 * depthwise_packed_filter builds it from filter[(tap) * channels + c], everything the
 * accumulators sum doubled: per group of 4 channels the start values 2 * (bias + input_offset *
 * weight sum), the tap pairs' doubled weights per channel (low half the first tap's), an odd
 * last tap's as (c0, c2), (c1, c3), then the output stage rows without their start and with
 * the multiplier M in place of 2M - 2^32. 3x3 windows (`offsets`, else NULL: the taps' byte
 * offsets from the window's origin) have each pair's (and the last tap's) offsets plus
 * 4 * group in front of its weights, and bit 31 of the last group's last word set. NULL where
 * the converter emits none, as depthwise_packed_doubles judges: 2 * (|bias| + 255 * sum |w|)
 * must stay below 2^31. */
static int32_t packed[MAX_FILTER];

static const int32_t *make_packed(int32_t taps, int32_t channels, const int32_t *bias_or_null,
                                  int32_t input_offset, const int32_t *stage,
                                  const int32_t *offsets) {
  int32_t group, lane, t, n = 0, c;
  if (channels < 4 || taps < 2 || taps > 25) return NULL;
  for (c = 0; c < channels; ++c) {
    int64_t bound = bias_or_null != NULL ? (int64_t)bias_or_null[c] : 0;
    if (bound < 0) bound = -bound;
    for (t = 0; t < taps; ++t) {
      const int32_t w = filter[t * channels + c];
      bound += 255 * (int64_t)(w < 0 ? -w : w);
    }
    if (2 * bound >= ((int64_t)1 << 31)) return NULL;
  }
  for (group = 0; group < channels / 4; ++group) {
    for (lane = 0; lane < 4; ++lane) {
      uint32_t start;
      c = 4 * group + lane;
      start = bias_or_null != NULL ? (uint32_t)bias_or_null[c] : 0u;
      for (t = 0; t < taps; ++t) start += (uint32_t)(input_offset * filter[t * channels + c]);
      packed[n++] = (int32_t)(2u * start);
    }
    for (t = 0; t + 1 < taps; t += 2) {
      if (offsets != NULL) {
        packed[n++] = offsets[t] + 4 * group;
        packed[n++] = offsets[t + 1] + 4 * group;
      }
      for (lane = 0; lane < 4; ++lane) {
        c = 4 * group + lane;
        packed[n++] = (int32_t)(((uint32_t)(2 * filter[t * channels + c]) & 0xFFFFu) |
                                (uint32_t)(2 * filter[(t + 1) * channels + c]) << 16);
      }
    }
    if (taps & 1) {
      const int8_t *last = filter + (taps - 1) * channels + 4 * group;
      if (offsets != NULL) packed[n++] = offsets[taps - 1] + 4 * group;
      packed[n++] =
          (int32_t)(((uint32_t)(2 * last[0]) & 0xFFFFu) | (uint32_t)(2 * last[2]) << 16);
      packed[n++] =
          (int32_t)(((uint32_t)(2 * last[1]) & 0xFFFFu) | (uint32_t)(2 * last[3]) << 16);
    }
    for (lane = 0; lane < 4; ++lane) { /* the output stage rows without their start */
      const int32_t *row = stage + 4 * (4 * group + lane);
      packed[n++] = (int32_t)((uint32_t)row[1] >> 1); /* 2M - 2^32 back to M */
      packed[n++] = row[2];
      packed[n++] = row[3];
    }
  }
  if (offsets != NULL) packed[n - 1] = (int32_t)((uint32_t)packed[n - 1] | 0x80000000u);
  return packed;
}

/* How many random depthwise layers took the 3x3 runs (dw_run9), [clamped][with border pixels]:
 * a layer without border pixels runs dw_run9_asm or its clamping twin on every pixel, one with
 * them dw_run9_border_asm or its clamping twin on those. The check fails if one never runs. */
static int32_t dw_run9_layers[2][2];

/* Whether some window of the axis reaches past the input. */
static int window_leaves(int32_t in, int32_t out, int32_t stride, int32_t dilation,
                         int32_t kernel, int32_t pad) {
  return pad > 0 || (out - 1) * stride - pad + (kernel - 1) * dilation >= in;
}

static int check_depthwise(void) {
  static const int32_t multipliers[] = {1, 1, 1, 2, 3, 4, 5, 8};
  tinyml_depthwise_conv2d_params p;
  int32_t in_bytes, out_bytes;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 2);
  p.filter_h = random_in(1, 5);
  p.filter_w = random_in(1, 5);
  if ((next_random() & 3) == 0) p.filter_h = p.filter_w = 3; /* the unrolled 3x3 path */
  p.depth_multiplier = multipliers[next_random() % 8];
  /* Half the 3x3 draws as MobileNet's: multiplier 1 over whole groups of channels. */
  if (p.filter_h == 3 && p.filter_w == 3 && (next_random() & 1)) p.depth_multiplier = 1;
  p.input_c = p.depth_multiplier == 1 && (next_random() & 3) == 0 ? random_in(18, 70)
                                                                   : random_in(1, 17);
  p.output_c = p.input_c * p.depth_multiplier;
  p.stride_h = random_in(1, 3), p.stride_w = random_in(1, 3);
  p.dilation_h = random_in(1, 3), p.dilation_w = random_in(1, 3);
  pick_axis(p.filter_h, p.stride_h, p.dilation_h, &p.input_h, &p.output_h, &p.pad_top);
  pick_axis(p.filter_w, p.stride_w, p.dilation_w, &p.input_w, &p.output_w, &p.pad_left);
  p.input_offset = random_in(-127, 128);
  pick_quantization(p.filter_h * p.filter_w * p.output_c, p.output_c, &p.output_offset,
                    &p.act_min, &p.act_max, &p.bias);
  in_bytes = p.batches * p.input_h * p.input_w * p.input_c;
  out_bytes = p.batches * p.output_h * p.output_w * p.output_c;
  p.input = 0;
  p.output = (uint32_t)align16(in_bytes);
  p.filter = filter, p.multiplier = multiplier, p.shift = shift;
  p.output_stage = make_output_stage(filter, p.output_c, 1, p.filter_h * p.filter_w,
                                     p.output_c, p.bias, p.output_offset, p.input_offset, 0);
  if (p.depth_multiplier == 1 && p.output_stage != NULL) {
    static int8_t pad[MAX_CHANNELS];
    int32_t offsets[9], fy, fx;
    const int nine = p.filter_h == 3 && p.filter_w == 3;
    for (fy = 0; fy < 3; ++fy) {
      for (fx = 0; fx < 3; ++fx) {
        offsets[3 * fy + fx] = (fy * p.dilation_h * p.input_w + fx * p.dilation_w) * p.input_c;
      }
    }
    p.packed = make_packed(p.filter_h * p.filter_w, p.output_c, p.bias, p.input_offset,
                           p.output_stage, nine ? offsets : NULL);
    memset(pad, -p.input_offset, sizeof pad);
    /* Now and then none, though windows leave the input: those pixels take the other path. */
    p.pad_input = (next_random() & 7) ? pad : NULL;
    /* As the converter leaves it when the packed words cover every channel. */
    if (p.packed != NULL && p.output_c % 4 == 0 && (next_random() & 1)) p.output_stage = NULL;
    /* With pad_input every pixel of the layer goes through dw_run9. */
    if (p.packed != NULL && nine && p.pad_input != NULL &&
        (int32_t)p.output + out_bytes <= ARENA_BYTES) {
      ++dw_run9_layers[p.act_min > -128 || p.act_max < 127]
                      [window_leaves(p.input_h, p.output_h, p.stride_h, p.dilation_h, 3,
                                     p.pad_top) ||
                       window_leaves(p.input_w, p.output_w, p.stride_w, p.dilation_w, 3,
                                     p.pad_left)];
    }
  }
  if ((int32_t)p.output + out_bytes > ARENA_BYTES) return 0;
  return run_both("DEPTHWISE_CONV_2D", tinyml_depthwise_conv2d_s8, ref_depthwise_conv2d_s8, &p,
                  (int32_t)p.output, out_bytes);
}

/* FULLY_CONNECTED's packed weights as tools/compiler/ops/fully_connected_packed.py's
 * fully_connected_packed builds them from filter[row * depth + k] and the output_stage table:
 * per group of 4 rows (zero rows past the last) the starts, per block of 4 values per row the
 * words (w0, w2), (w1, w3) (zero weights past the depth), then per row the table's other three
 * values. NULL when they do not fit. */
static const int32_t *make_fc_packed(int32_t rows, int32_t depth, const int32_t *stage) {
  const int32_t groups = (rows + 3) / 4, blocks = (depth + 3) / 4;
  int32_t group, block, lane, t, n = 0;
  if (groups * (16 + 8 * blocks) > MAX_FILTER) return NULL;
  for (group = 0; group < groups; ++group) {
    for (lane = 0; lane < 4; ++lane) {
      const int32_t r = 4 * group + lane;
      packed[n++] = r < rows ? stage[4 * r] : 0;
    }
    for (block = 0; block < blocks; ++block) {
      for (lane = 0; lane < 4; ++lane) {
        const int32_t r = 4 * group + lane;
        int32_t w[4];
        for (t = 0; t < 4; ++t) {
          const int32_t k = 4 * block + t;
          w[t] = r < rows && k < depth ? filter[r * depth + k] : 0;
        }
        packed[n++] = (int32_t)(((uint32_t)w[0] & 0xFFFFu) | (uint32_t)w[2] << 16);
        packed[n++] = (int32_t)(((uint32_t)w[1] & 0xFFFFu) | (uint32_t)w[3] << 16);
      }
    }
    for (lane = 0; lane < 4; ++lane) {
      const int32_t r = 4 * group + lane;
      for (t = 1; t < 4; ++t) packed[n++] = r < rows ? stage[4 * r + t] : 0;
    }
  }
  return packed;
}

static int check_fully_connected(void) {
  tinyml_fully_connected_params p;
  int32_t in_bytes, out_bytes;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 4);
  /* Now and then deep rows: the assembly's loop runs long, two blocks an iteration. */
  p.accum_depth = (next_random() & 3) == 0 ? random_in(81, 300) : random_in(1, 80);
  p.output_depth = random_in(1, 20);
  p.input_offset = random_in(-127, 128);
  pick_quantization(p.output_depth * p.accum_depth, p.output_depth, &p.output_offset,
                    &p.act_min, &p.act_max, &p.bias);
  in_bytes = p.batches * p.accum_depth;
  out_bytes = p.batches * p.output_depth;
  p.input = 0;
  p.output = (uint32_t)align16(in_bytes);
  p.filter = filter, p.multiplier = multiplier, p.shift = shift;
  p.output_stage = make_output_stage(filter, p.output_depth, p.accum_depth, p.accum_depth, 1,
                                     p.bias, p.output_offset, p.input_offset, 1);
  if (p.output_stage != NULL && (next_random() & 3) != 0) {
    /* Packed, as the converter emits it within its flash budget: filter and table NULL. */
    p.packed = make_fc_packed(p.output_depth, p.accum_depth, p.output_stage);
    if (p.packed != NULL) p.filter = NULL, p.output_stage = NULL;
  }
  return run_both("FULLY_CONNECTED", tinyml_fully_connected_s8, ref_fully_connected_s8, &p,
                  (int32_t)p.output, out_bytes);
}

/* Both pools, separate buffers and, where the output starts no later than the input's first
 * byte, in place (the converter's plan when its rule allows; either way the DSP kernel must
 * write what the portable one writes, which reads and writes in the same storage order). */
static int check_pooling(void) {
  tinyml_pool2d_params p;
  int32_t in_bytes, out_bytes, average;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 2);
  p.filter_h = random_in(1, 5);
  p.filter_w = random_in(1, 5);
  p.channels = random_in(1, 20);
  if ((next_random() & 3) == 0) { /* often the 2x2 fast path's shape: words of channels */
    p.filter_h = p.filter_w = 2;
    p.channels = 4 * random_in(1, 5);
  }
  p.stride_h = random_in(1, 3), p.stride_w = random_in(1, 3);
  pick_axis(p.filter_h, p.stride_h, 1, &p.input_h, &p.output_h, &p.pad_top);
  pick_axis(p.filter_w, p.stride_w, 1, &p.input_w, &p.output_w, &p.pad_left);
  p.act_min = -128;
  p.act_max = 127;
  if (next_random() & 1) {
    p.act_min = random_in(-128, 0);
    p.act_max = random_in(p.act_min, 127);
  }
  in_bytes = p.batches * p.input_h * p.input_w * p.channels;
  out_bytes = p.batches * p.output_h * p.output_w * p.channels;
  /* Odd offsets too: the DSP path loads and stores words wherever the channels start. */
  p.input = (uint32_t)random_in(0, 3);
  p.output = (next_random() & 3) == 0 ? p.input : (uint32_t)align16((int32_t)p.input + in_bytes)
                                                      + (uint32_t)random_in(0, 3);
  average = (int32_t)(next_random() & 1);
  if ((int32_t)p.output + out_bytes > ARENA_BYTES) return 0;
  return run_both_junk_from(average ? "AVERAGE_POOL_2D" : "MAX_POOL_2D",
                            average ? tinyml_average_pool2d_s8 : tinyml_max_pool2d_s8,
                            average ? ref_average_pool2d_s8 : ref_max_pool2d_s8, &p,
                            (int32_t)p.input + in_bytes, (int32_t)p.output, out_bytes);
}

static void print_number(int32_t value) {
  char text[12];
  int position = (int)sizeof text - 1;
  text[position] = '\0';
  do {
    text[--position] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0 && position > 0);
  semihost_write0(text + position);
}

/* Stops at the first mismatch, naming the kernel (run_both) and the iteration: the generator
 * is deterministic, so the case reproduces. */
int main(void) {
  int32_t i;
  for (i = 0; i < ITERATIONS; ++i) {
    if (check_conv2d() || check_conv_pool() || check_depthwise() || check_fully_connected() ||
        check_pooling()) {
      semihost_write0("first mismatch in iteration ");
      print_number(i);
      semihost_write0("\n");
      return 1;
    }
  }
  if (conv_pool_runs == 0) {
    semihost_write0("CONV_2D + MAX_POOL_2D: the one pass never ran\n");
    return 1;
  }
  if (dw_run9_layers[0][0] == 0 || dw_run9_layers[0][1] == 0 || dw_run9_layers[1][0] == 0 ||
      dw_run9_layers[1][1] == 0) {
    semihost_write0("DEPTHWISE_CONV_2D: a variant of the 3x3 runs never ran\n");
    return 1;
  }
  semihost_write0("all identical: ");
  print_number(ITERATIONS);
  semihost_write0(" random cases per kernel, ");
  print_number(conv_pool_runs);
  semihost_write0(" convolutions pooled in one pass, depthwise 3x3 runs: ");
  print_number(dw_run9_layers[0][0]);
  semihost_write0(" layers inside, ");
  print_number(dw_run9_layers[0][1]);
  semihost_write0(" with border pixels, ");
  print_number(dw_run9_layers[1][0]);
  semihost_write0(" and ");
  print_number(dw_run9_layers[1][1]);
  semihost_write0(" clamped\n");
  return 0;
}
