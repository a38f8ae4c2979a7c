// TensorFlow Lite Micro behind the tinyml_backend interface (firmware/lib/tinyml/include/tinyml/
// backend.h), running the generated tinyml_tflm_models[] with the generated op resolver.
#ifndef TINYML_NANO33BLE_TFLM_BACKEND_H
#define TINYML_NANO33BLE_TFLM_BACKEND_H

#include "tinyml/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// Fills `backend`. Loads every model once to check its schema version, that its ops are
// registered, that it fits the arena and that its tensors match the generated model info.
// Returns the number of models that failed; those answer invoke with an error, the others run.
// May be called again; it starts over.
int tinyml_tflm_backend_init(tinyml_backend *backend);

#ifdef __cplusplus
}
#endif

#endif
