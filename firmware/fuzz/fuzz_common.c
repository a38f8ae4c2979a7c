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

tinyml_device *fuzz_device_fresh(const fuzz_board_config *config) {
  fuzz_board_reset(config);
  /* Stale activations must not make one input's result depend on the previous one. */
  memset(arena, 0, sizeof arena);
  if (tinyml_builtin_backend_init(&backend, &context, tinyml_builtin_models, TINYML_MODEL_COUNT,
                                  arena, sizeof arena) != 0) {
    fuzz_fail("harness: the committed models do not fit their own arena");
  }
  board_init();
  tinyml_device_init(&device, &backend, "fuzz");
  return &device;
}
