/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell state (TFLM's
 * 8x8->16 integer LSTM, no peephole, projection or layer norm).
 *
 * Per time step each gate is FC(x) + FC(h) in Q3.12 (int16, saturating add), then sigmoid (tanh
 * for the cell gate, the only cell activation a .tflite can name) into Q0.15; the cell state (int16, scale 2^cell_scale_power) and the int8 hidden state
 * are updated with TFLM's requantizing multiplies, and the hidden state is copied to the output.
 * The state lives in this layer's scratch and is reset on every invocation, the cell state to 0
 * and the hidden state to its zero point, as TFLM resets variable tensors; the TFLM backend and
 * the desktop references reset TFLM's before every invocation too (docs/compiler.md). */
#ifndef TINYML_OP_LSTM_H
#define TINYML_OP_LSTM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Gates in this order in every per-gate array: forget, input, cell, output. */
#define TINYML_LSTM_GATES 4

typedef struct {
  uint32_t input;   /* arena offsets: [batches][time_steps][input_size] int8 */
  uint32_t output;  /* [batches][time_steps][units] int8 */
  uint32_t scratch; /* 4 int16 gate buffers of units, int16 cell and int8 hidden state */
  int32_t batches, time_steps, input_size, units;
  int32_t input_offset;  /* -input zero point */
  int32_t hidden_offset; /* -hidden zero point, for the recurrent products */
  int32_t hidden_zero_point;
  const int8_t *input_weights;     /* [gate][units][input_size] */
  const int8_t *recurrent_weights; /* [gate][units][units] */
  const int32_t *bias;             /* [gate][units] */
  const int32_t *gate_multiplier;  /* [gate][input, recurrent]: into Q3.12 */
  const int32_t *gate_shift;
  int32_t forget_multiplier, forget_shift; /* forget x cell -> cell */
  int32_t input_multiplier, input_shift;   /* input x cell gate -> cell */
  int32_t output_multiplier, output_shift; /* output x tanh(cell) -> hidden */
  int32_t tanh_multiplier, tanh_shift;     /* the cell state into tanh's input format */
  int32_t cell_clip; /* 0: no clipping */
  const uint16_t *sigmoid_table; /* [256] TFLM's Q0.16 sigmoid(i / 24), measured at convert time */
} tinyml_lstm_params;

void tinyml_lstm_s8(const void *params, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_OP_LSTM_H */
