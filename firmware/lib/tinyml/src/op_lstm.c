#include "tinyml/fixedpoint.h"
#include "tinyml/op_lstm.h"

/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_eval.h, integer path), step for step: the
 * bytes match only if every intermediate is rounded and saturated where TFLM rounds it. */

#define Q3_12_MIN (-32768)
#define Q3_12_MAX 32767

/* x >> n on a negative int32 is implementation-defined in C99; this is the arithmetic shift
 * TFLM's targets perform. */
static int32_t shift_right(int32_t x, int n) {
  return x >= 0 ? (x >> n) : (int32_t)~(~(uint32_t)x >> n);
}

static int16_t saturate_s16(int32_t x) {
  return (int16_t)tinyml_clamp_i32(x, Q3_12_MIN, Q3_12_MAX);
}

/* reference_integer_ops::Logistic, int16, called with multiplier 0 and shift 0: the input is
 * Q3.12 times 3 (the table covers +-10.7 in steps of 2^-9). `table` is TFLM's sigmoid table,
 * which the converter measures from tflite_micro (tools/compiler/sigmoid_table.py). */
static int16_t sigmoid_q15(const uint16_t *table, int16_t value) {
  const int32_t input = (int32_t)value * 3;
  const uint32_t magnitude = (uint32_t)(input < 0 ? -input : input);
  const uint32_t index = magnitude >> 9;
  uint32_t result;
  if (index >= 255) {
    result = (uint32_t)0x7FFF << 10;
  } else {
    const uint32_t low = table[index];
    const uint32_t high = table[index + 1];
    result = (low << 9) + (magnitude & 0x1FF) * (high - low);
  }
  result = input >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
  return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh, int16: (value * multiplier + round) >> shift, then the sigmoid
 * table at twice the argument. */
static int16_t tanh_q15(const uint16_t *table, int16_t value, int32_t multiplier,
                        int32_t shift) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t input = shift_right((int32_t)value * multiplier + round, (int)shift);
  const uint32_t magnitude = (uint32_t)(input < 0 ? -input : input);
  const uint32_t index = magnitude >> 8;
  int32_t result;
  if (index >= 255) {
    result = (int32_t)0xFFFF << 8;
  } else {
    const uint32_t low = table[index];
    const uint32_t high = table[index + 1];
    result = (int32_t)((low << 8) + (magnitude & 0xFF) * (high - low));
  }
  result = input >= 0 ? result - (1 << 23) + (1 << 7) : -result + (1 << 23) + (1 << 7) - 1;
  return (int16_t)shift_right(result, 8);
}

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
    gate_out[i] = is_tanh ? tanh_q15(p->sigmoid_table, sum, 3, 0)
                         : sigmoid_q15(p->sigmoid_table, sum);
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
        const int16_t activated = tanh_q15(p->sigmoid_table, cell[i], p->tanh_multiplier,
                                            p->tanh_shift);
        hidden[i] = (int8_t)mul(activated, output_gate[i], p->output_multiplier, p->output_shift,
                                p->hidden_zero_point, -128, 127);
      }
      for (i = 0; i < units; ++i) out[i] = hidden[i];
    }
  }
}
