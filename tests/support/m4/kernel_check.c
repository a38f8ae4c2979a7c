/* Runs the DSP (SIMD) CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels on a Cortex-M4
 * (QEMU mps2-an386) against the portable kernels, built from the same sources with
 * -DTINYML_DISABLE_DSP and renamed ref_*, on random parameters; compares every output byte.
 * The host tests prove the portable kernels equal TFLM and the DSP algorithms equal them under
 * emulated intrinsics; this proves the real instructions (and the inline asm) behave as the
 * emulation says. Exit status 0: all identical. */
#include <stdint.h>
#include <string.h>

#include "semihost.h"
#include "tinyml/op_conv.h"

void ref_conv2d_s8(const void *params, uint8_t *arena);
void ref_depthwise_conv2d_s8(const void *params, uint8_t *arena);
void ref_fully_connected_s8(const void *params, uint8_t *arena);

#define ITERATIONS 1000
#define ARENA_BYTES 131072
#define MAX_CHANNELS 256
#define MAX_FILTER 8192

static uint8_t arena_dsp[ARENA_BYTES] __attribute__((aligned(16)));
static uint8_t arena_ref[ARENA_BYTES] __attribute__((aligned(16)));
static int8_t filter[MAX_FILTER];
static int32_t bias[MAX_CHANNELS], multiplier[MAX_CHANNELS];
static int8_t shift[MAX_CHANNELS];
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
  for (i = 0; i < channels; ++i) {
    bias[i] = random_in(-60000, 60000);
    multiplier[i] = random_in(1 << 30, INT32_MAX);
    shift[i] = (int8_t)random_in(-16, 1);
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

/* Same random input in both arenas, same junk in outputs and scratch; runs both kernels and
 * compares the output bytes. */
static int run_both(const char *name, void (*dsp)(const void *, uint8_t *),
                    void (*ref)(const void *, uint8_t *), const void *params,
                    int32_t output_offset, int32_t output_bytes) {
  int32_t i;
  for (i = 0; i < ARENA_BYTES; ++i) arena_ref[i] = (uint8_t)next_random();
  for (i = output_offset; i < ARENA_BYTES; ++i) arena_ref[i] = 0xA5;
  memcpy(arena_dsp, arena_ref, ARENA_BYTES);
  dsp(params, arena_dsp);
  ref(params, arena_ref);
  if (memcmp(arena_dsp + output_offset, arena_ref + output_offset, (size_t)output_bytes) != 0) {
    semihost_print(name);
    semihost_print(": DSP output differs from the portable kernel\n");
    return 1;
  }
  return 0;
}

static int check_conv2d(void) {
  tinyml_conv2d_params p;
  int32_t groups, in_bytes, out_bytes;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 2);
  p.filter_h = random_in(1, 5);
  p.filter_w = random_in(1, 5);
  p.filter_c = random_in(1, 12);
  groups = (next_random() % 6 == 0) ? random_in(2, 3) : 1;
  p.input_c = p.filter_c * groups;
  p.output_c = groups * random_in(1, groups > 1 ? 5 : 17);
  p.stride_h = random_in(1, 3), p.stride_w = random_in(1, 3);
  p.dilation_h = random_in(1, 3), p.dilation_w = random_in(1, 3);
  pick_axis(p.filter_h, p.stride_h, p.dilation_h, &p.input_h, &p.output_h, &p.pad_top);
  pick_axis(p.filter_w, p.stride_w, p.dilation_w, &p.input_w, &p.output_w, &p.pad_left);
  p.input_offset = random_in(-127, 128);
  pick_quantization(p.output_c * p.filter_h * p.filter_w * p.filter_c, p.output_c,
                    &p.output_offset, &p.act_min, &p.act_max, &p.bias);
  in_bytes = p.batches * p.input_h * p.input_w * p.input_c;
  out_bytes = p.batches * p.output_h * p.output_w * p.output_c;
  p.input = 0;
  p.output = (uint32_t)align16(in_bytes);
  p.scratch = (uint32_t)align16((int32_t)p.output + out_bytes);
  p.filter = filter, p.multiplier = multiplier, p.shift = shift;
  if ((int32_t)p.scratch + 4 * (p.filter_h * p.filter_w * p.filter_c + 1) > ARENA_BYTES) {
    return 0;
  }
  return run_both("CONV_2D", tinyml_conv2d_s8, ref_conv2d_s8, &p, (int32_t)p.output, out_bytes);
}

static int check_depthwise(void) {
  static const int32_t multipliers[] = {1, 1, 1, 2, 3, 4, 5, 8};
  tinyml_depthwise_conv2d_params p;
  int32_t in_bytes, out_bytes;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 2);
  p.filter_h = random_in(1, 5);
  p.filter_w = random_in(1, 5);
  p.depth_multiplier = multipliers[next_random() % 8];
  p.input_c = random_in(1, 17);
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
  if ((int32_t)p.output + out_bytes > ARENA_BYTES) return 0;
  return run_both("DEPTHWISE_CONV_2D", tinyml_depthwise_conv2d_s8, ref_depthwise_conv2d_s8, &p,
                  (int32_t)p.output, out_bytes);
}

static int check_fully_connected(void) {
  tinyml_fully_connected_params p;
  int32_t in_bytes, out_bytes;
  memset(&p, 0, sizeof p);
  p.batches = random_in(1, 4);
  p.accum_depth = random_in(1, 80);
  p.output_depth = random_in(1, 20);
  p.input_offset = random_in(-127, 128);
  pick_quantization(p.output_depth * p.accum_depth, p.output_depth, &p.output_offset,
                    &p.act_min, &p.act_max, &p.bias);
  in_bytes = p.batches * p.accum_depth;
  out_bytes = p.batches * p.output_depth;
  p.input = 0;
  p.output = (uint32_t)align16(in_bytes);
  p.filter = filter, p.multiplier = multiplier, p.shift = shift;
  return run_both("FULLY_CONNECTED", tinyml_fully_connected_s8, ref_fully_connected_s8, &p,
                  (int32_t)p.output, out_bytes);
}

static void print_number(int32_t value) {
  char text[12];
  int position = (int)sizeof text - 1;
  text[position] = '\0';
  do {
    text[--position] = (char)('0' + value % 10);
    value /= 10;
  } while (value > 0 && position > 0);
  semihost_print(text + position);
}

/* Stops at the first mismatch, naming the kernel (run_both) and the iteration: the generator
 * is deterministic, so the case reproduces. */
int main(void) {
  int32_t i;
  for (i = 0; i < ITERATIONS; ++i) {
    if (check_conv2d() || check_depthwise() || check_fully_connected()) {
      semihost_print("first mismatch in iteration ");
      print_number(i);
      semihost_print("\n");
      return 1;
    }
  }
  semihost_print("all identical: ");
  print_number(ITERATIONS);
  semihost_print(" random cases per kernel\n");
  return 0;
}
