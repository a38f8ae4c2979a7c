#include "tinyml/fixedpoint.h"
#include "tinyml/op_activations_s16.h"
#include "tinyml/op_lstm.h"

/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_eval.h, integer path), step for step: the
 * bytes match only if every intermediate is rounded and saturated where TFLM rounds it. */

#define Q3_12_MIN (-32768)
#define Q3_12_MAX 32767

static int16_t saturate_s16(int32_t x) {
  return (int16_t)tinyml_clamp_i32(x, Q3_12_MIN, Q3_12_MAX);
}

/* The gates' sigmoid and tanh are TFLM's int16 LOGISTIC and TANH steps (op_activations_s16.h)
 * on the Q3.12 sum times 3 (their power-of-two case); `table` is TFLM's sigmoid table, which the
 * converter measures from tflite_micro (tools/compiler/sigmoid_table.py). */

/* reference_integer_ops::FullyConnected, int8 x int8 -> int16, output offset 0; the int32
 * accumulator wraps as TFLM's does. */
static void fully_connected(const int8_t *input, int32_t input_offset, const int8_t *weights,
                            const int32_t *bias, int32_t rows, int32_t depth,
                            int32_t multiplier, int32_t shift, int16_t *output) {
  int32_t row, d;
  for (row = 0; row < rows; ++row) {
    uint32_t acc = 0;
    const int8_t *w = weights + row * depth;
    for (d = 0; d < depth; ++d) {
      acc += (uint32_t)((int32_t)w[d] * ((int32_t)input[d] + input_offset));
    }
    if (bias != 0) acc += (uint32_t)bias[row];
    output[row] = saturate_s16(tinyml_multiply_by_quantized_multiplier((int32_t)acc, multiplier,
                                                                       (int)shift));
  }
}

/* One gate: FC(x) + FC(h) saturated to int16, then its activation, into gate[units]. */
static void gate(const tinyml_lstm_params *p, int g, const int8_t *x, const int8_t *h,
                 int is_tanh, int16_t *gate_out, int16_t *recurrent) {
  const int32_t units = p->units;
  int32_t i;
  fully_connected(x, p->input_offset, p->input_weights + g * units * p->input_size,
                  p->bias + g * units, units, p->input_size, p->gate_multiplier[2 * g],
                  p->gate_shift[2 * g], gate_out);
  fully_connected(h, p->hidden_offset, p->recurrent_weights + g * units * units, 0, units, units,
                  p->gate_multiplier[2 * g + 1], p->gate_shift[2 * g + 1], recurrent);
  for (i = 0; i < units; ++i) {
    const int16_t sum = saturate_s16((int32_t)gate_out[i] + recurrent[i]);
    /* Gates are in Q3.12: TFLM's Tanh(-12) is shift 0, multiplier 3. */
    gate_out[i] = is_tanh ? tinyml_tanh_table_s16(p->sigmoid_table, (int32_t)sum * 3)
                         : tinyml_sigmoid_table_s16(p->sigmoid_table, (int32_t)sum * 3);
  }
}

/* MulElementwise with zero input offsets: the int16 product requantized, offset, clamped. */
static int32_t mul(int16_t a, int16_t b, int32_t multiplier, int32_t shift, int32_t offset,
                   int32_t lo, int32_t hi) {
  const int32_t product = (int32_t)a * (int32_t)b;
  return tinyml_clamp_i32(
      offset + tinyml_multiply_by_quantized_multiplier(product, multiplier, (int)shift), lo, hi);
}

void tinyml_lstm_s8(const void *params, uint8_t *arena) {
  const tinyml_lstm_params *p = (const tinyml_lstm_params *)params;
  const int32_t units = p->units;
  int16_t *forget = (int16_t *)(arena + p->scratch);
  int16_t *input_gate = forget + units;
  int16_t *cell_gate = input_gate + units;
  int16_t *recurrent = cell_gate + units;
  int16_t *cell = recurrent + units;
  int8_t *hidden = (int8_t *)(cell + units);
  int32_t b, t, i;
  for (b = 0; b < p->batches; ++b) {
    for (i = 0; i < units; ++i) {
      cell[i] = 0;
      hidden[i] = (int8_t)p->hidden_zero_point; /* TFLM resets int8 variables so */
    }
    for (t = 0; t < p->time_steps; ++t) {
      const int32_t step = b * p->time_steps + t;
      const int8_t *x = (const int8_t *)(arena + p->input) + step * p->input_size;
      int8_t *out = (int8_t *)(arena + p->output) + step * units;
      int16_t *output_gate;
      gate(p, 0, x, hidden, 0, forget, recurrent);
      gate(p, 1, x, hidden, 0, input_gate, recurrent);
      gate(p, 2, x, hidden, 1, cell_gate, recurrent);
      for (i = 0; i < units; ++i) {
        const int32_t kept = mul(forget[i], cell[i], p->forget_multiplier, p->forget_shift, 0,
                                 Q3_12_MIN, Q3_12_MAX);
        const int32_t added = mul(input_gate[i], cell_gate[i], p->input_multiplier,
                                  p->input_shift, 0, Q3_12_MIN, Q3_12_MAX);
        int32_t updated = tinyml_clamp_i32(kept + added, Q3_12_MIN, Q3_12_MAX);
        if (p->cell_clip > 0) updated = tinyml_clamp_i32(updated, -p->cell_clip, p->cell_clip);
        cell[i] = (int16_t)updated;
      }
      /* The output gate reuses the input gate's buffer, as TFLM's does (it is consumed). */
      output_gate = input_gate;
      gate(p, 3, x, hidden, 0, output_gate, recurrent);
      for (i = 0; i < units; ++i) {
        const int16_t activated = tinyml_tanh_table_s16(
            p->sigmoid_table,
            tinyml_sigmoid_input_s16(cell[i], p->tanh_multiplier, p->tanh_shift));
        hidden[i] = (int8_t)mul(activated, output_gate[i], p->output_multiplier, p->output_shift,
                                p->hidden_zero_point, -128, 127);
      }
      for (i = 0; i < units; ++i) out[i] = hidden[i];
    }
  }
}
