/* A test double of the built-in runtime for the host port: it perturbs one layer's output of
 * one model (each value by 64 LSB), so that a test can check that `tinyml validate` names exactly that
 * layer as the first to differ from TFLM. Chosen at start-up by TINYML_TAMPER_LAYER=MODEL:LAYER
 * (model index, layer index); never built into the board or QEMU images. */
#ifndef TINYML_TAMPERING_BACKEND_H
#define TINYML_TAMPERING_BACKEND_H

#include <stdint.h>

#include "tinyml/builtin_backend.h"

typedef struct {
  tinyml_backend inner; /* the built-in backend it wraps */
  const tinyml_builtin_context *builtin;
  uint16_t model;
  uint16_t layer;
} tampering_context;

/* Makes `backend` the tampering wrapper of `inner` (a built-in backend over `builtin`) when
 * `setting` ("MODEL:LAYER") is valid; returns 0, or -1 for a malformed setting. */
int tampering_backend_init(tinyml_backend *backend, tampering_context *context,
                           const tinyml_backend *inner, const tinyml_builtin_context *builtin,
                           const char *setting);

#endif /* TINYML_TAMPERING_BACKEND_H */
