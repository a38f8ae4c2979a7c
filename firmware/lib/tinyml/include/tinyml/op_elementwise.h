/* ADD, SUB, MUL, MAXIMUM and MINIMUM (int8, TFLM reference arithmetic), with broadcasting
 * between the two inputs.
 *
 * The converter turns the broadcast into a loop nest of TINYML_MAX_RANK output axes
 * (outermost first, padded with size-1 axes) and gives each input's element stride per axis:
 * 0 where that input is broadcast. Equal shapes arrive as one flat loop. */
#ifndef TINYML_OP_ELEMENTWISE_H
#define TINYML_OP_ELEMENTWISE_H

#include <stdint.h>

#include "tinyml/model_info.h"
#include "tinyml/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  tinyml_operand input1; /* either input may be a constant in flash */
  tinyml_operand input2;
  uint32_t output;
  int32_t dims[TINYML_MAX_RANK];
  int32_t input1_strides[TINYML_MAX_RANK];
  int32_t input2_strides[TINYML_MAX_RANK];
  /* TFLM's rescaling of each input, a function of its int8 value x, computed by the converter
   * (tools/compiler/ops/elementwise.py, add_input_table): input_table[x + 128], 256 entries
   * each; SUB's input2 table holds the negated values. */
  const int32_t *input1_table;
  const int32_t *input2_table;
  int32_t output_offset; /* the output zero point */
  int32_t output_multiplier, output_shift;
  /* The DSP output stage, {2M - 2^32, 2^(s-1) + output_offset * 2^s, s} as op_conv.h's
   * tinyml_output_stage_fast; stage_shift 0: not exact for this layer, the general path. */
  int32_t stage_multiplier, stage_rounding, stage_shift;
  int32_t act_min, act_max;
} tinyml_add_params;

typedef struct {
  tinyml_operand input1;
  tinyml_operand input2;
  uint32_t output;
  int32_t dims[TINYML_MAX_RANK];
  int32_t input1_strides[TINYML_MAX_RANK];
  int32_t input2_strides[TINYML_MAX_RANK];
  int32_t input1_offset, input2_offset, output_offset;
  int32_t output_multiplier, output_shift;
  int32_t act_min, act_max;
} tinyml_mul_params;

/* MAXIMUM and MINIMUM compare the stored bytes: no quantization parameters. */
typedef struct {
  tinyml_operand input1;
  tinyml_operand input2;
  uint32_t output;
  int32_t dims[TINYML_MAX_RANK];
  int32_t input1_strides[TINYML_MAX_RANK];
  int32_t input2_strides[TINYML_MAX_RANK];
} tinyml_maximum_minimum_params;

/* ADD and SUB (tinyml_add_params; SUB's negation is in its table). */
void tinyml_add_s8(const void *params, uint8_t *arena);
void tinyml_mul_s8(const void *params, uint8_t *arena);
void tinyml_maximum_s8(const void *params, uint8_t *arena);
void tinyml_minimum_s8(const void *params, uint8_t *arena);

/* One innermost run of a broadcast: count outputs, each input advancing by its step (0 or 1). */
typedef void (*tinyml_binary_row_s8)(const void *params, const int8_t *input1, int32_t step1,
                                     const int8_t *input2, int32_t step2, int8_t *output,
                                     int32_t count);

/* One innermost run of a broadcast walk, as element offsets into the two inputs and the
 * output, whatever the element type; `context` is the caller's. */
typedef void (*tinyml_broadcast_run)(const void *context, int32_t offset1, int32_t step1,
                                     int32_t offset2, int32_t step2, int32_t output_offset,
                                     int32_t count);

/* Walks the loop nest (dims and strides padded to TINYML_MAX_RANK), calling run for each run of
 * the innermost axis with the outputs in order: the odometer the int8 and int16 forms share.
 * Inline so that a caller passing a constant run gets a direct call. */
static inline void tinyml_broadcast_walk(const int32_t *dims, const int32_t *strides1,
                                         const int32_t *strides2, tinyml_broadcast_run run,
                                         const void *context) {
  enum { INNER = TINYML_MAX_RANK - 1 };
  int32_t index[INNER] = {0};
  int32_t offset1 = 0, offset2 = 0, output_offset = 0;
  int axis;
  for (;;) {
    run(context, offset1, strides1[INNER], offset2, strides2[INNER], output_offset,
        dims[INNER]);
    output_offset += dims[INNER];
    /* Odometer over the outer axes; an axis that wraps rewinds its offsets. */
    for (axis = INNER - 1; axis >= 0; --axis) {
      offset1 += strides1[axis];
      offset2 += strides2[axis];
      if (++index[axis] < dims[axis]) break;
      offset1 -= strides1[axis] * dims[axis];
      offset2 -= strides2[axis] * dims[axis];
      index[axis] = 0;
    }
    if (axis < 0) return;
  }
}

/* Defines `name`, tinyml_broadcast_walk handing each run to a `row_type` row as pointers to
 * `type` elements: the int8 form below (op_add.c) and the int16 one (op_add_s16.c). */
#define TINYML_DEFINE_BROADCAST_ROWS(name, type, row_type)                                    \
  typedef struct {                                                                            \
    row_type row;                                                                             \
    const void *params;                                                                       \
    const type *input1, *input2;                                                              \
    type *output;                                                                             \
  } name##_context;                                                                           \
  static void name##_run(const void *context, int32_t offset1, int32_t step1, int32_t offset2, \
                         int32_t step2, int32_t output_offset, int32_t count) {               \
    const name##_context *c = (const name##_context *)context;                                \
    c->row(c->params, c->input1 + offset1, step1, c->input2 + offset2, step2,                 \
           c->output + output_offset, count);                                                 \
  }                                                                                           \
  void name(const int32_t *dims, const int32_t *strides1, const int32_t *strides2,            \
            const type *input1, const type *input2, type *output, row_type row,               \
            const void *params) {                                                             \
    const name##_context context = {row, params, input1, input2, output};                     \
    tinyml_broadcast_walk(dims, strides1, strides2, name##_run, &context);                    \
  }

/* tinyml_broadcast_walk with int8 rows. Shared by every op here (defined in op_add.c). */
void tinyml_broadcast_rows_s8(const int32_t *dims, const int32_t *strides1,
                              const int32_t *strides2, const int8_t *input1,
                              const int8_t *input2, int8_t *output, tinyml_binary_row_s8 row,
                              const void *params);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_ELEMENTWISE_H */
