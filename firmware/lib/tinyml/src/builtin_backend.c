/* The built-in runtime behind the backend interface. */
#include "tinyml/builtin_backend.h"

#include <stddef.h>
#include <stdint.h>

static const tinyml_plan *plan_at(const tinyml_backend *self, uint16_t index) {
  const tinyml_builtin_context *context = (const tinyml_builtin_context *)self->context;
  return context->plans[index];
}

static const tinyml_model_info *builtin_model_info(const tinyml_backend *self, uint16_t index) {
  return plan_at(self, index)->info;
}

static uint32_t builtin_ram_bytes(const tinyml_backend *self, uint16_t index) {
  return plan_at(self, index)->arena_bytes;
}

static int builtin_invoke(const tinyml_backend *self, uint16_t index, const void *input,
                          void *output) {
  const tinyml_builtin_context *context = (const tinyml_builtin_context *)self->context;
  return tinyml_plan_invoke(plan_at(self, index), context->arena, context->arena_bytes, input,
                            output) == TINYML_OK
             ? 0
             : -1;
}

static uint8_t *builtin_tensor_buffer(const tinyml_backend *self, uint16_t index, int output) {
  const tinyml_builtin_context *context = (const tinyml_builtin_context *)self->context;
  const tinyml_plan *plan = plan_at(self, index);
  return context->arena + (output ? plan->output_offset : plan->input_offset);
}

static int builtin_layer_output(const tinyml_backend *self, uint16_t index, uint16_t layer,
                                tinyml_layer_result *result) {
  const tinyml_builtin_context *context = (const tinyml_builtin_context *)self->context;
  const tinyml_plan *plan = plan_at(self, index);
  result->layer_count = plan->layer_count;
  if (layer >= plan->layer_count) return 1;
  tinyml_plan_run_layers(plan, context->arena, 0, (uint16_t)(layer + 1u));
  result->op = plan->layers[layer].op;
  result->data = context->arena + plan->layers[layer].output_offset;
  result->bytes = plan->layers[layer].output_bytes;
  return 0;
}

int tinyml_builtin_backend_init(tinyml_backend *backend, tinyml_builtin_context *context,
                                const tinyml_plan *const *plans, uint16_t count, uint8_t *arena,
                                size_t arena_bytes) {
  uint16_t index;
  if ((uintptr_t)arena % TINYML_ARENA_ALIGNMENT != 0) return -1;
  /* Once here, so that no invoke pays for it. */
  for (index = 0; index < count; ++index) {
    if (tinyml_plan_check(plans[index], arena_bytes) != TINYML_OK) return -1;
  }
  context->plans = plans;
  context->arena = arena;
  context->arena_bytes = arena_bytes;
  backend->name = "builtin";
  backend->model_count = count;
  backend->model_info = builtin_model_info;
  backend->ram_bytes = builtin_ram_bytes;
  backend->prepare = NULL; /* a plan is ready as it is */
  backend->invoke = builtin_invoke;
  backend->tensor_buffer = builtin_tensor_buffer;
  backend->layer_output = builtin_layer_output;
  backend->context = context;
  return 0;
}
