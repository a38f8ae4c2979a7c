#include "tinyml/fixedpoint.h"
#include "tinyml/op_lstm.h"

/* TFLM's int8 UNIDIRECTIONAL_SEQUENCE_LSTM (lstm_eval.h, integer path), step for step: the
 * bytes match only if every intermediate is rounded and saturated where TFLM rounds it. */

#define Q3_12_MIN (-32768)
#define Q3_12_MAX 32767

/* TFLM's sigmoid_table_uint16 (tensorflow/lite/kernels/internal/common.h, Apache-2.0):
 * sigmoid(i / 24) in Q0.16, the table TFLM's int16 LOGISTIC and TANH interpolate. Its values
 * are not plain roundings of that formula (44 of them differ by one), so the integer results
 * are only TFLM's with these exact numbers. */
static const uint16_t sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149,
    40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369,
    47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169,
    53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370,
    60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302,
    62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786,
    64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079,
    65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498,
    65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522,
    65523, 65523, 65524, 65524, 65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528,
    65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531,
    65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535};

/* x >> n on a negative int32 is implementation-defined in C99; this is the arithmetic shift
 * TFLM's targets perform. */
static int32_t shift_right(int32_t x, int n) {
  return x >= 0 ? (x >> n) : (int32_t)~(~(uint32_t)x >> n);
}

static int16_t saturate_s16(int32_t x) {
  return (int16_t)tinyml_clamp_i32(x, Q3_12_MIN, Q3_12_MAX);
}

/* reference_integer_ops::Logistic, int16, called with multiplier 0 and shift 0: the input is
 * Q3.12 times 3 (the table covers +-10.7 in steps of 2^-9). */
static int16_t sigmoid_q15(int16_t value) {
  const int32_t input = (int32_t)value * 3;
  const uint32_t magnitude = (uint32_t)(input < 0 ? -input : input);
  const uint32_t index = magnitude >> 9;
  uint32_t result;
  if (index >= 255) {
    result = (uint32_t)0x7FFF << 10;
  } else {
    const uint32_t low = sigmoid_table[index];
    const uint32_t high = sigmoid_table[index + 1];
    result = (low << 9) + (magnitude & 0x1FF) * (high - low);
  }
  result = input >= 0 ? result + (1u << 9) : (1u << 25) - result + (1u << 9) - 1u;
  return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh, int16: (value * multiplier + round) >> shift, then the sigmoid
 * table at twice the argument. */
static int16_t tanh_q15(int16_t value, int32_t multiplier, int32_t shift) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t input = shift_right((int32_t)value * multiplier + round, (int)shift);
  const uint32_t magnitude = (uint32_t)(input < 0 ? -input : input);
  const uint32_t index = magnitude >> 8;
  int32_t result;
  if (index >= 255) {
    result = (int32_t)0xFFFF << 8;
  } else {
    const uint32_t low = sigmoid_table[index];
    const uint32_t high = sigmoid_table[index + 1];
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
    gate_out[i] = is_tanh ? tanh_q15(sum, 3, 0) : sigmoid_q15(sum);
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
        const int16_t activated = tanh_q15(cell[i], p->tanh_multiplier, p->tanh_shift);
        hidden[i] = (int8_t)mul(activated, output_gate[i], p->output_multiplier, p->output_shift,
                                p->hidden_zero_point, -128, 127);
      }
      for (i = 0; i < units; ++i) out[i] = hidden[i];
    }
  }
}
