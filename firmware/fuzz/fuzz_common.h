/* What both device-core harnesses share: one device over the committed models' built-in plans,
 * made fresh for every input, so no run sees another's state. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include "fuzz_board.h"
#include "tinyml/device.h"

/* How the backend under the device differs from the built-in one, to reach the device's
 * paths for other runtimes: none, no tensors in place (INPUT_CHUNK, OUTPUT_READ and
 * LAYER_OUTPUT answer UNSUPPORTED, as a TFLM image's may), or one model that cannot be
 * prepared (as a TFLM model that fails to load: INVOKE_FAILED). */
typedef struct {
  int no_staging;
  int failing_model; /* -1: none */
} fuzz_backend_variant;

/* A freshly initialized device on the built-in backend, changed as `variant` says, the board
 * reset to `config`. */
tinyml_device *fuzz_device_fresh(const fuzz_board_config *config,
                                 const fuzz_backend_variant *variant);

#endif /* FUZZ_COMMON_H */
