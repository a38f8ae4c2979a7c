// The Arduino sketch: bring the board up, pick the runtime, and hand every loop to the portable
// device (firmware/lib/tinyml), which owns the protocol and the IMU modes.
#include <Arduino.h>

#include "board.h"
#include "firmware_version.h"
#include "tinyml/device.h"
#include "tinyml_models.h"

#if defined(TINYML_BACKEND_TFLM)
#include "tflm_backend.h"
#else
#include "tinyml/builtin_backend.h"
#endif

namespace {

// Static, not on the stack: the device holds its frame buffers (several KB).
tinyml_device device;
tinyml_backend backend;

#if !defined(TINYML_BACKEND_TFLM)
tinyml_builtin_context builtin_context;
alignas(TINYML_ARENA_ALIGNMENT) uint8_t builtin_arena[TINYML_BUILTIN_ARENA_BYTES];
#endif

void backend_init() {
#if defined(TINYML_BACKEND_TFLM)
  // Models that fail to load stay listed and answer INFER with INVOKE_FAILED; the serial link is
  // the protocol's, so there is nowhere else to say so.
  tinyml_tflm_backend_init(&backend);
#else
  if (tinyml_builtin_backend_init(&backend, &builtin_context, tinyml_builtin_models,
                                  TINYML_MODEL_COUNT, builtin_arena,
                                  sizeof builtin_arena) != 0) {
    // The generated arena size is the largest plan's, so this means mismatched sources. Still
    // answer hello, with no models, rather than go silent.
    backend.name = "builtin";
    backend.model_count = 0;
  }
#endif
}

}  // namespace

void setup() {
  board_init();
  backend_init();
  tinyml_device_init(&device, &backend, TINYML_FIRMWARE_VERSION);
}

void loop() { tinyml_device_poll(&device); }
