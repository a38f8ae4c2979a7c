/* See tampering_backend.h. */
#include "tampering_backend.h"

#include <stdio.h>
#include <string.h>

static const tampering_context *context_of(const tinyml_backend *self) {
  return (const tampering_context *)self->context;
}

/* The untampered calls go to the built-in backend as it is (its functions read their own
 * context). */
static const tinyml_model_info *inner_model_info(const tinyml_backend *self, uint16_t index) {
  return context_of(self)->inner.model_info(&context_of(self)->inner, index);
}

static uint32_t inner_ram_bytes(const tinyml_backend *self, uint16_t index) {
  return context_of(self)->inner.ram_bytes(&context_of(self)->inner, index);
}

static uint8_t *inner_tensor_buffer(const tinyml_backend *self, uint16_t index, int output) {
  return context_of(self)->inner.tensor_buffer(&context_of(self)->inner, index, output);
}

/* Runs layers [0, last] of `plan`, changing the tampered layer's output values by 64. */
static void run_tampered(const tampering_context *context, const tinyml_plan *plan,
                         uint16_t last) {
  uint8_t *arena = context->builtin->arena;
  uint16_t layer = context->layer;
  if (layer > last) {
    tinyml_plan_run_layers(plan, arena, 0, (uint16_t)(last + 1u));
    return;
  }
  tinyml_plan_run_layers(plan, arena, 0, (uint16_t)(layer + 1u));
  {
    /* Every value by 64 LSB: a small change of one value often vanishes in the layers after
     * it (a saturated softmax), and the test needs outputs that differ. */
    uint8_t *output = arena + plan->layers[layer].output_offset;
    uint32_t index;
    for (index = 0; index < plan->layers[layer].output_bytes; ++index) output[index] ^= 0x40u;
  }
  tinyml_plan_run_layers(plan, arena, (uint16_t)(layer + 1u), (uint16_t)(last + 1u));
}

static int tampered_invoke(const tinyml_backend *self, uint16_t index, const void *input,
                           void *output) {
  const tampering_context *context = context_of(self);
  const tinyml_plan *plan = context->builtin->plans[index];
  uint8_t *arena = context->builtin->arena;
  if (index != context->model || plan->layer_count == 0) {
    return context->inner.invoke(&context->inner, index, input, output);
  }
  if (input != arena + plan->input_offset) {
    memcpy(arena + plan->input_offset, input, plan->info->input.bytes);
  }
  run_tampered(context, plan, (uint16_t)(plan->layer_count - 1u));
  if (output != arena + plan->output_offset) {
    memcpy(output, arena + plan->output_offset, plan->info->output.bytes);
  }
  return 0;
}

static int tampered_layer_output(const tinyml_backend *self, uint16_t index, uint16_t layer,
                                 tinyml_layer_result *result) {
  const tampering_context *context = context_of(self);
  const tinyml_plan *plan = context->builtin->plans[index];
  if (index != context->model) {
    return context->inner.layer_output(&context->inner, index, layer, result);
  }
  result->layer_count = plan->layer_count;
  if (layer >= plan->layer_count) return 1;
  run_tampered(context, plan, layer);
  result->op = plan->layers[layer].op;
  result->data = context->builtin->arena + plan->layers[layer].output_offset;
  result->bytes = plan->layers[layer].output_bytes;
  return 0;
}

int tampering_backend_init(tinyml_backend *backend, tampering_context *context,
                           const tinyml_backend *inner, const tinyml_builtin_context *builtin,
                           const char *setting) {
  unsigned model, layer;
  char end;
  if (sscanf(setting, "%u:%u%c", &model, &layer, &end) != 2 || model >= inner->model_count ||
      layer >= builtin->plans[model]->layer_count) {
    return -1;
  }
  context->inner = *inner;
  context->builtin = builtin;
  context->model = (uint16_t)model;
  context->layer = (uint16_t)layer;
  *backend = *inner;
  backend->name = "builtin";
  backend->model_info = inner_model_info;
  backend->ram_bytes = inner_ram_bytes;
  backend->tensor_buffer = inner_tensor_buffer;
  backend->prepare = NULL; /* a plan is ready as it is */
  backend->invoke = tampered_invoke;
  backend->layer_output = tampered_layer_output;
  backend->context = context;
  return 0;
}
