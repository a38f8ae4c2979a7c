/* The built-in runtime: a model compiled by `tinyml convert` into a plan of layers.
 *
 * A plan is all constant data (it lives in flash). Its activations live in one caller-provided
 * arena at offsets fixed by the converter's static memory plan, so there is no heap, no
 * flatbuffer parsing and no interpreter state on the device. */
#ifndef TINYML_RUNTIME_H
#define TINYML_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "tinyml/model_info.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every kernel reads its parameters and addresses its tensors relative to the arena. */
typedef void (*tinyml_kernel)(const void *params, uint8_t *arena);

typedef struct {
  const char *op;        /* TFLite builtin name, e.g. "CONV_2D", for profiles and errors */
  tinyml_kernel run;
  const void *params;
  /* Where the layer leaves its output in the arena, so that a host can read one layer's
   * result (protocol: LAYER_OUTPUT) to find where a device first departs from TFLM. */
  uint32_t output_offset;
  uint32_t output_bytes;
} tinyml_layer;

/* A tensor operand that the converter found to be either constant (in flash) or an
 * activation (in the arena). */
typedef struct {
  const void *constant; /* NULL when the tensor lives in the arena */
  uint32_t offset;      /* byte offset in the arena otherwise */
} tinyml_operand;

static inline const void *tinyml_operand_data(const tinyml_operand *operand,
                                              const uint8_t *arena) {
  return operand->constant != NULL ? operand->constant : (const void *)(arena + operand->offset);
}

typedef struct {
  const tinyml_model_info *info;
  const tinyml_layer *layers;
  uint16_t layer_count;
  uint32_t arena_bytes;   /* peak activation RAM, scratch included */
  uint32_t input_offset;  /* where invoke places the input in the arena */
  uint32_t output_offset; /* where the last layer leaves the output */
} tinyml_plan;

typedef enum {
  TINYML_OK = 0,
  TINYML_ERROR_ARENA_TOO_SMALL = 1,
  TINYML_ERROR_BAD_ARGUMENT = 2,
  TINYML_ERROR_BAD_PLAN = 3
} tinyml_status;

/* Alignment the converter gives every arena buffer; the arena itself must be this aligned. */
#define TINYML_ARENA_ALIGNMENT 16

/* Checks once what every invoke then trusts, so that a damaged or hand-made plan is refused
 * before it runs rather than writing past the arena: the plan's arena fits `arena_bytes`, its
 * input and output tensors are not empty and lie inside the plan's own arena, as does every
 * layer's output, and every layer has a kernel. TINYML_OK, TINYML_ERROR_ARENA_TOO_SMALL or
 * TINYML_ERROR_BAD_PLAN. A kernel's own operands are the converter's to check. */
tinyml_status tinyml_plan_check(const tinyml_plan *plan, size_t arena_bytes);

/* Copies `input` (info->input.bytes) into the arena, runs every layer and copies the output
 * (info->output.bytes) out. */
tinyml_status tinyml_plan_invoke(const tinyml_plan *plan, uint8_t *arena, size_t arena_bytes,
                                 const void *input, void *output);

/* Runs layers [first, last) only; lets a profiler time each layer. */
void tinyml_plan_run_layers(const tinyml_plan *plan, uint8_t *arena, uint16_t first,
                            uint16_t last);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_RUNTIME_H */
