/* The built-in runtime as a tinyml_backend: a table of compiled plans sharing one arena. */
#ifndef TINYML_BUILTIN_BACKEND_H
#define TINYML_BUILTIN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/backend.h"
#include "tinyml/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const tinyml_plan *const *plans;
  uint8_t *arena; /* TINYML_ARENA_ALIGNMENT-aligned, at least the largest plan's arena_bytes */
  size_t arena_bytes;
} tinyml_builtin_context;

/* Fills `backend` so that it runs `plans` (e.g. the generated tinyml_builtin_models) in `arena`.
 * `context` must outlive the backend. Returns 0, or -1 when the arena is too small or
 * misaligned for one of the plans, or a plan fails tinyml_plan_check. */
int tinyml_builtin_backend_init(tinyml_backend *backend, tinyml_builtin_context *context,
                                const tinyml_plan *const *plans, uint16_t count, uint8_t *arena,
                                size_t arena_bytes);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_BUILTIN_BACKEND_H */
