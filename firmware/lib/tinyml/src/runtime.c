#include "tinyml/runtime.h"

#include <string.h>

void tinyml_plan_run_layers(const tinyml_plan *plan, uint8_t *arena, uint16_t first,
                            uint16_t last) {
  uint16_t index;
  for (index = first; index < last && index < plan->layer_count; ++index) {
    plan->layers[index].run(plan->layers[index].params, arena);
  }
}

/* [offset, offset + bytes) inside [0, limit); 64-bit, so no sum wraps. */
static int inside(uint32_t offset, uint32_t bytes, uint32_t limit) {
  return (uint64_t)offset + bytes <= limit;
}

tinyml_status tinyml_plan_check(const tinyml_plan *plan, size_t arena_bytes) {
  uint16_t index;
  if (plan == NULL || plan->info == NULL || (plan->layers == NULL && plan->layer_count > 0)) {
    return TINYML_ERROR_BAD_PLAN;
  }
  if (arena_bytes < plan->arena_bytes) return TINYML_ERROR_ARENA_TOO_SMALL;
  if (plan->info->input.bytes == 0 || plan->info->output.bytes == 0 ||
      !inside(plan->input_offset, plan->info->input.bytes, plan->arena_bytes) ||
      !inside(plan->output_offset, plan->info->output.bytes, plan->arena_bytes)) {
    return TINYML_ERROR_BAD_PLAN;
  }
  for (index = 0; index < plan->layer_count; ++index) {
    const tinyml_layer *layer = &plan->layers[index];
    if (layer->run == NULL || !inside(layer->output_offset, layer->output_bytes,
                                      plan->arena_bytes)) {
      return TINYML_ERROR_BAD_PLAN;
    }
  }
  return TINYML_OK;
}

tinyml_status tinyml_plan_invoke(const tinyml_plan *plan, uint8_t *arena, size_t arena_bytes,
                                 const void *input, void *output) {
  if (plan == NULL || arena == NULL || input == NULL || output == NULL) {
    return TINYML_ERROR_BAD_ARGUMENT;
  }
  if (arena_bytes < plan->arena_bytes) return TINYML_ERROR_ARENA_TOO_SMALL;
  if (((uintptr_t)arena % TINYML_ARENA_ALIGNMENT) != 0) return TINYML_ERROR_BAD_ARGUMENT;
  /* An input or output already in place (a chunked transfer's) is not copied onto itself. */
  if (input != arena + plan->input_offset) {
    memcpy(arena + plan->input_offset, input, plan->info->input.bytes);
  }
  tinyml_plan_run_layers(plan, arena, 0, plan->layer_count);
  if (output != arena + plan->output_offset) {
    memcpy(output, arena + plan->output_offset, plan->info->output.bytes);
  }
  return TINYML_OK;
}
