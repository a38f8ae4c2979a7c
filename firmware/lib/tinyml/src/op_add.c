#include "tinyml/dsp.h"
#include "tinyml/fixedpoint.h"
#include "tinyml/op_elementwise.h"

TINYML_DEFINE_BROADCAST_ROWS(tinyml_broadcast_rows_s8, int8_t, tinyml_binary_row_s8)

/* ADD and SUB (AddFunc of TFLM's integer_ops/add.h, SubElementwise of its reference sub.h) move
 * both inputs to a common scale with 20 bits of headroom, combine them, then rescale the result
 * to the output. The first step depends on one int8 value only, so the converter tabulates it
 * (tinyml_add_params.input1_table, input2_table; SUB's second input negated, a - b and
 * a + (-b) being the same int32): per element two loads and an add, then the output rescale. */
static int8_t add_output(const tinyml_add_params *p, int32_t raw) {
  const int32_t result = tinyml_multiply_by_quantized_multiplier_smaller_than_one(
                             raw, p->output_multiplier, p->output_shift) +
                         p->output_offset;
  return (int8_t)tinyml_clamp_i32(result, p->act_min, p->act_max);
}

static void add_row_general(const tinyml_add_params *p, const int8_t *input1, int32_t step1,
                            const int8_t *input2, int32_t step2, int8_t *output,
                            int32_t count) {
  const int32_t *table1 = p->input1_table + 128, *table2 = p->input2_table + 128;
  int8_t *const end = output + count;
  for (; output != end; ++output, input1 += step1, input2 += step2) {
    *output = add_output(p, tinyml_add_wrap(table1[*input1], table2[*input2]));
  }
}

#if defined(TINYML_USE_DSP)
/* The output rescale with SMMLAR (op_conv.h's tinyml_output_stage_fast, the converter having
 * checked it exact for every sum of two entries: add_output_stage in elementwise.py), the
 * activation clamp with SSAT alone when the range is int8's, else also a min and max. The
 * fields are copied into locals first: the output's int8 stores may alias the params, so GCC
 * would reload them for every element. */
typedef struct {
  const int32_t *table1, *table2; /* at entry 128, int8 0 */
  int32_t multiplier, rounding, shift, act_min, act_max;
} add_stage;

static inline __attribute__((always_inline)) int8_t add_output_fast(add_stage s, int32_t raw,
                                                                     int clamp) {
  const int32_t y = tinyml_smmlar(raw, s.multiplier, raw);
  int32_t value = tinyml_ssat8((y + s.rounding - (int32_t)((uint32_t)y >> 31)) >> s.shift);
  if (clamp) value = tinyml_clamp_i32(value, s.act_min, s.act_max);
  return (int8_t)value;
}

static inline __attribute__((always_inline)) void add_row_fast(
    add_stage s, const int8_t *input1, int32_t step1, const int8_t *input2, int32_t step2,
    int8_t *output, int32_t count, int clamp) {
  int8_t *const end = output + count;
  for (; output != end; ++output, input1 += step1, input2 += step2) {
    *output = add_output_fast(s, s.table1[*input1] + s.table2[*input2], clamp);
  }
}
#endif

static void add_row(const void *params, const int8_t *input1, int32_t step1,
                    const int8_t *input2, int32_t step2, int8_t *output, int32_t count) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
#if defined(TINYML_USE_DSP)
  if (p->stage_shift != 0) {
    const int clamp = p->act_min != -128 || p->act_max != 127;
    add_stage s;
    s.table1 = p->input1_table + 128;
    s.table2 = p->input2_table + 128;
    s.multiplier = p->stage_multiplier;
    s.rounding = p->stage_rounding;
    s.shift = p->stage_shift;
    s.act_min = p->act_min;
    s.act_max = p->act_max;
    /* Equal shapes (both steps 1) get a loop of their own, with no stride additions. */
    if (step1 == 1 && step2 == 1 && !clamp) {
      add_row_fast(s, input1, 1, input2, 1, output, count, 0);
    } else if (!clamp) {
      add_row_fast(s, input1, step1, input2, step2, output, count, 0);
    } else {
      add_row_fast(s, input1, step1, input2, step2, output, count, 1);
    }
    return;
  }
#endif
  add_row_general(p, input1, step1, input2, step2, output, count);
}

void tinyml_add_s8(const void *params, uint8_t *arena) {
  const tinyml_add_params *p = (const tinyml_add_params *)params;
  tinyml_broadcast_rows_s8(p->dims, p->input1_strides, p->input2_strides,
                           (const int8_t *)tinyml_operand_data(&p->input1, arena),
                           (const int8_t *)tinyml_operand_data(&p->input2, arena),
                           (int8_t *)(arena + p->output), add_row, p);
}
