/* The per-layer profiler: see layer_profile.h for what it measures and why the figures add up. */
#include "layer_profile.h"

#include <stddef.h>
#include <string.h>

#include "board.h"
#include "tinyml/builtin_backend.h"
#include "tinyml/runtime.h"

/* The empty kernel that stands in for every layer: compiled to a lone return. */
static void empty_kernel(const void *params, uint8_t *arena) {
  (void)params;
  (void)arena;
}

/* Static, not on the stack: on QEMU the stand-ins must not deepen the stack that batch mode
 * measures around the invoke. */
static struct {
  tinyml_layer empty_layers[TINYML_PROFILE_MAX_LAYERS];
  tinyml_plan empty_plan; /* the model's plan with every layer's kernel the empty one */
  const tinyml_plan *empty_plans[1];
  tinyml_builtin_context empty_context;
  tinyml_backend empty_backend;
  uint32_t baseline; /* the empty kernel's span, taken by tinyml_profile_start */
} profile;

/* Both ports run the built-in backend, whose context holds the registry's plans and the arena. */
static const tinyml_builtin_context *builtin_context(const tinyml_device *device) {
  return (const tinyml_builtin_context *)device->backend->context;
}

uint16_t tinyml_profile_layer_count(const tinyml_device *device, uint16_t model) {
  return builtin_context(device)->plans[model]->layer_count;
}

int tinyml_profile_prepare(const tinyml_device *device, uint16_t model) {
  const tinyml_plan *plan = builtin_context(device)->plans[model];
  uint16_t layer;
  if (plan->layer_count > TINYML_PROFILE_MAX_LAYERS) return -1;
  for (layer = 0; layer < plan->layer_count; ++layer) {
    profile.empty_layers[layer].op = plan->layers[layer].op;
    profile.empty_layers[layer].run = empty_kernel;
    profile.empty_layers[layer].params = NULL;
  }
  profile.empty_plan = *plan;
  profile.empty_plan.layers = profile.empty_layers;
  profile.empty_plans[0] = &profile.empty_plan;
  return 0;
}

/* Through a stand-in backend over the device's own arena, so that the invoke's checks and
 * copies are the real invoke's. */
int tinyml_profile_empty_invoke(tinyml_device *device, const void *input, void *output,
                                uint32_t *cost) {
  const tinyml_builtin_context *context = builtin_context(device);
  const tinyml_backend *real = device->backend;
  uint32_t micros;
  int status;
  if (tinyml_builtin_backend_init(&profile.empty_backend, &profile.empty_context,
                                  profile.empty_plans, 1, context->arena,
                                  context->arena_bytes) != 0) {
    return -1;
  }
  device->backend = &profile.empty_backend;
  status = tinyml_device_invoke(device, 0, input, output, cost, &micros);
  device->backend = real;
  return status;
}

/* The counts of one call running one layer: the two readings, the call, one pass of the layer
 * loop, the kernel. Not inlined: the baseline and every layer must be measured by the same
 * instructions, not by copies that the compiler may schedule differently. */
static uint32_t __attribute__((noinline)) one_layer_span(const tinyml_plan *plan, uint8_t *arena,
                                                         uint16_t layer) {
  const uint32_t start = board_cycles();
  tinyml_plan_run_layers(plan, arena, layer, (uint16_t)(layer + 1u));
  return board_cycles() - start;
}

void tinyml_profile_start(const tinyml_device *device, uint16_t model, const void *input) {
  const tinyml_builtin_context *context = builtin_context(device);
  const tinyml_plan *plan = context->plans[model];
  profile.baseline = one_layer_span(&profile.empty_plan, context->arena, 0);
  memcpy(context->arena + plan->input_offset, input, plan->info->input.bytes);
}

uint32_t tinyml_profile_layer(const tinyml_device *device, uint16_t model, uint16_t layer) {
  const tinyml_builtin_context *context = builtin_context(device);
  const uint32_t span = one_layer_span(context->plans[model], context->arena, layer);
  /* Never below on QEMU; nanoseconds jitter, and a negative cost would wrap to 4 billion. */
  return span > profile.baseline ? span - profile.baseline : 0u;
}
