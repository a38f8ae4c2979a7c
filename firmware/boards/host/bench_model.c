/* The host's counterpart of the QEMU image's batch mode, for `tinyml bench --target host`: reads
 * DIR/batch_inputs.bin, runs every sample through the built-in runtime and writes
 * DIR/batch_outputs.bin in the QEMU image's format (boards/qemu_mps2_an386/batch.h), so one
 * reader serves both. Costs are wall-clock nanoseconds (CLOCK_MONOTONIC), not instructions: the
 * host has no deterministic counter, so the figures vary run to run.
 *
 *   tinyml-bench DIR
 *
 * With the profile flag, every layer is timed alone as on QEMU (its span minus the span of an
 * empty kernel), and the empty invoke is the invoke of the plan with every kernel empty. There
 * is no stack measurement here: both stack fields hold 0xFFFFFFFF. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime in strict C99 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinyml/little_endian.h"
#include "tinyml/runtime.h"
#include "tinyml_models.h"

#define PROFILE_LAYERS 0x0001u
#define NOT_MEASURED 0xFFFFFFFFu

static unsigned char arena[TINYML_BUILTIN_ARENA_BYTES + TINYML_ARENA_ALIGNMENT]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));

static uint32_t now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint32_t)((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec);
}

static void empty_kernel(const void *params, uint8_t *unused) {
  (void)params;
  (void)unused;
}

static void put_u32(FILE *stream, uint32_t value) {
  const unsigned char bytes[4] = {(unsigned char)value, (unsigned char)(value >> 8),
                                  (unsigned char)(value >> 16), (unsigned char)(value >> 24)};
  fwrite(bytes, 1, 4, stream);
}

static int fail(const char *message, const char *detail) {
  fprintf(stderr, "bench: %s%s\n", message, detail);
  return 2;
}

/* The span of one call running layer `layer` alone. */
static uint32_t __attribute__((noinline)) one_layer_span(const tinyml_plan *plan, uint16_t layer) {
  const uint32_t start = now_ns();
  tinyml_plan_run_layers(plan, arena, layer, (uint16_t)(layer + 1u));
  return now_ns() - start;
}

static int run(const tinyml_plan *plan, uint32_t count, int profiled, FILE *inputs,
               FILE *outputs) {
  const uint32_t input_bytes = plan->info->input.bytes, output_bytes = plan->info->output.bytes;
  const uint32_t layers = profiled ? plan->layer_count : 0u;
  unsigned char *input = malloc(input_bytes), *output = malloc(output_bytes);
  tinyml_layer *empty_layers = malloc(sizeof(tinyml_layer) * (plan->layer_count + 1u));
  tinyml_plan empty_plan = *plan;
  uint32_t index, start, cost, empty_cost = 0, layer;
  if (input == NULL || output == NULL || empty_layers == NULL) return fail("out of memory", "");
  for (layer = 0; layer < plan->layer_count; ++layer) {
    empty_layers[layer] = plan->layers[layer];
    empty_layers[layer].run = empty_kernel;
  }
  empty_plan.layers = empty_layers;
  fwrite("TMLOUT1", 1, 8, outputs);
  put_u32(outputs, count);
  put_u32(outputs, output_bytes);
  put_u32(outputs, output_bytes + 24u + 4u * layers);
  for (index = 0; index < count; ++index) {
    if (fread(input, 1, input_bytes, inputs) != input_bytes) return fail("short input file", "");
    if (profiled) {
      start = now_ns();
      (void)tinyml_plan_invoke(&empty_plan, arena, sizeof arena, input, output);
      empty_cost = now_ns() - start;
    }
    start = now_ns();
    if (tinyml_plan_invoke(plan, arena, sizeof arena, input, output) != TINYML_OK) {
      return fail("invoke failed", "");
    }
    cost = now_ns() - start;
    fwrite(output, 1, output_bytes, outputs);
    put_u32(outputs, cost);
    put_u32(outputs, cost / 1000u);
    put_u32(outputs, NOT_MEASURED);
    put_u32(outputs, NOT_MEASURED);
    put_u32(outputs, layers);
    put_u32(outputs, empty_cost);
    if (profiled) {
      const uint32_t baseline = one_layer_span(&empty_plan, 0);
      memcpy(arena + plan->input_offset, input, input_bytes);
      for (layer = 0; layer < layers; ++layer) {
        const uint32_t span = one_layer_span(plan, (uint16_t)layer);
        put_u32(outputs, span > baseline ? span - baseline : 0u);
      }
    }
  }
  free(input);
  free(output);
  free(empty_layers);
  return 0;
}

int main(int argc, char **argv) {
  char path[4096];
  uint8_t header[20];
  FILE *inputs, *outputs;
  uint32_t model, flags, count, sample_bytes;
  int status;
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR (holding batch_inputs.bin)\n", argv[0]);
    return 2;
  }
  snprintf(path, sizeof path, "%s/batch_inputs.bin", argv[1]);
  inputs = fopen(path, "rb");
  if (inputs == NULL) return fail("cannot open ", path);
  if (fread(header, 1, sizeof header, inputs) != sizeof header ||
      memcmp(header, "TMLBAT1", 8) != 0) {
    return fail("not a batch input file: ", path);
  }
  model = tinyml_get_u16le(header + 8);
  flags = tinyml_get_u16le(header + 10);
  count = tinyml_get_u32le(header + 12);
  sample_bytes = tinyml_get_u32le(header + 16);
  if (model >= TINYML_MODEL_COUNT) return fail("unknown model", "");
  if ((flags & ~PROFILE_LAYERS) != 0) return fail("unknown flags", "");
  if (sample_bytes != tinyml_builtin_models[model]->info->input.bytes) {
    return fail("wrong input size for model ", tinyml_builtin_models[model]->info->name);
  }
  snprintf(path, sizeof path, "%s/batch_outputs.bin", argv[1]);
  outputs = fopen(path, "wb");
  if (outputs == NULL) return fail("cannot create ", path);
  status = run(tinyml_builtin_models[model], count, (flags & PROFILE_LAYERS) != 0, inputs,
               outputs);
  fclose(inputs);
  if (fclose(outputs) != 0 && status == 0) status = fail("cannot write ", path);
  return status;
}
