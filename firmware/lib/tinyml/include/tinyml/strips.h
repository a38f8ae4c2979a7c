/* Convolutions and pools run in bands of output rows, each band one call of the layer's own
 * kernel on a copy of its parameters narrowed to the band's rows (input and output offsets,
 * heights, top padding). Two uses, both decided and proven safe by the converter
 * (tools/compiler/strips.py, tools/compiler/fusion.py):
 *   - strips: the output overlaps the input in the arena, shifted by whole rows, so that no band
 *     writes an input row it or a later band still reads;
 *   - fused: a convolution feeding a pool, or two convolutions and the ADD of a residual
 *     block, run row by row so that of the tensors between them only the few rows the next
 *     stage needs exist (in the layer's scratch), never the whole tensors. */
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
  TINYML_STRIPS_POOL2D = 2,           /* params: tinyml_pool2d_params */
  /* tinyml_add_params of equal shapes (one flat loop): input1, or input2, is the previous
   * stage's rows, the other a whole tensor in the arena, row y beside row y. */
  TINYML_STRIPS_ADD_INPUT1 = 3,
  TINYML_STRIPS_ADD_INPUT2 = 4
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

#define TINYML_MAX_STAGES 3

/* Layers run as one, depth first: stage 0 reads the layer's input, stage i > 0 the rows of
 * stage i - 1 that it still needs, kept in window i - 1 (their own offsets for those are
 * unused); the last stage writes the layer's output, one row at a time. */
typedef struct {
  tinyml_stage stages[TINYML_MAX_STAGES];
  int32_t count;
  uint32_t windows[TINYML_MAX_STAGES - 1];
} tinyml_fused_params;

void tinyml_run_fused(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_STRIPS_H */
