/* Convolutions and pools run in bands of output rows, each band one call of the layer's own
 * kernel on a copy of its parameters narrowed to the band's rows (input and output offsets,
 * heights, top padding). Two uses, both decided and proven safe by the converter
 * (tools/compiler/strips.py, tools/compiler/fusion.py):
 *   - strips: the output overlaps the input in the arena, shifted by whole rows, so that no band
 *     writes an input row it or a later band still reads;
 *   - fused: a convolution feeding a pool, run row by row so that only the few convolution rows
 *     the next pooled row needs exist (in the layer's scratch), never the whole tensor. */
#ifndef TINYML_STRIPS_H
#define TINYML_STRIPS_H

#include <stdint.h>

#include "tinyml/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TINYML_STRIPS_CONV2D = 0,           /* params: tinyml_conv2d_params */
  TINYML_STRIPS_DEPTHWISE_CONV2D = 1, /* params: tinyml_depthwise_conv2d_params */
  TINYML_STRIPS_POOL2D = 2            /* params: tinyml_pool2d_params */
} tinyml_strips_kind;

typedef struct {
  tinyml_kernel run;  /* the layer's kernel, e.g. tinyml_conv2d_s8 */
  const void *params; /* its parameters (batches 1) */
  int32_t kind;       /* tinyml_strips_kind: the type of params */
  int32_t rows;       /* output rows per band (the last may have fewer) */
  int32_t reverse;    /* 1: the bottom band first */
} tinyml_strips_params;

void tinyml_run_strips(const void *params, uint8_t *arena);

typedef struct {
  tinyml_kernel run;
  const void *params;
  int32_t kind; /* tinyml_strips_kind */
} tinyml_stage;

typedef struct {
  tinyml_stage first;  /* reads the layer's input; its own output offset is unused */
  tinyml_stage second; /* reads the first's rows; its own input offset is unused */
  uint32_t window;     /* arena offset of the first stage's rows the second still needs */
  int32_t window_rows; /* the most of them at once */
} tinyml_fused_params;

void tinyml_run_fused(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_STRIPS_H */
