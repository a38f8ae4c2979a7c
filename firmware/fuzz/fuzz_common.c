/* See fuzz_common.h. */
#include "fuzz_board.h"
#include "fuzz_common.h"

#include <string.h>

#include "tinyml/builtin_backend.h"
#include "tinyml_models.h"

/* Exactly the largest plan's size, as the ports give it, so that ASan sees a write past it. */
static unsigned char arena[TINYML_BUILTIN_ARENA_BYTES]
    __attribute__((aligned(TINYML_ARENA_ALIGNMENT)));
static tinyml_builtin_context context;
static tinyml_backend backend;
static tinyml_device device;

static int failing_model;

static int prepare_failing(const tinyml_backend *self, uint16_t index) {
  (void)self;
  return index == failing_model ? -1 : 0;
}

tinyml_device *fuzz_device_fresh(const fuzz_board_config *config,
                                 const fuzz_backend_variant *variant) {
  fuzz_board_reset(config);
  /* Stale activations must not make one input's result depend on the previous one. */
  memset(arena, 0, sizeof arena);
  if (tinyml_builtin_backend_init(&backend, &context, tinyml_builtin_models, TINYML_MODEL_COUNT,
                                  arena, sizeof arena) != 0) {
    fuzz_fail("harness: the committed models do not fit their own arena");
  }
  /* The built-in functions read only self->context, so the changed copy still runs them. */
  if (variant->no_staging) {
    backend.tensor_buffer = NULL;
    backend.layer_output = NULL;
  }
  failing_model = variant->failing_model;
  if (failing_model >= 0) backend.prepare = prepare_failing;
  board_init();
  tinyml_device_init(&device, &backend, "fuzz");
  return &device;
}
