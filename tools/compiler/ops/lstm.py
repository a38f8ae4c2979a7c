"""UNIDIRECTIONAL_SEQUENCE_LSTM: int8 activations and weights, int16 cell state, int32 biases,
as TFLM's integer LSTM runs it (lstm_eval.h; no peephole, projection or layer norm).

The Prepare arithmetic of TFLM's lstm_eval_common.cc is mirrored: each gate's two FULLY_CONNECTED
requantize into Q3.12 (scale 2^-12), the products between gates are requantized from Q0.15 inputs
with scales multiplied in float64, and the cell state's scale is a power of two whose exponent sets
tanh's input shift. The sigmoid table both activations interpolate is TFLM's, measured from
tflite_micro (sigmoid_table.py) and emitted with the layer."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Const, Layer, Offset, Scratch
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import require_int8_activation, require_scale
from tinyml_pipeline.tools.compiler.quantization import (
    f32,
    fully_connected_tensor_multiplier,
    quantize_multiplier,
    round_half_away,
)

HEADER = "tinyml/op_lstm.h"

# Input positions (tensorflow/lite/kernels/lstm_shared.h).
INPUT = 0
INPUT_WEIGHTS = {"input": 1, "forget": 2, "cell": 3, "output": 4}
RECURRENT_WEIGHTS = {"input": 5, "forget": 6, "cell": 7, "output": 8}
BIASES = {"input": 12, "forget": 13, "cell": 14, "output": 15}
VARIANTS = {9: "cell-to-input (peephole) weights", 10: "cell-to-forget (peephole) weights",
            11: "cell-to-output (peephole) weights", 16: "projection weights",
            17: "projection bias", 20: "input layer-norm coefficients",
            21: "forget layer-norm coefficients", 22: "cell layer-norm coefficients",
            23: "output layer-norm coefficients"}
HIDDEN_STATE, CELL_STATE = 18, 19
GATE_ORDER = ("forget", "input", "cell", "output")  # the kernel's order (op_lstm.h)

# TFLM's fixed formats: gate pre-activations in Q3.12, gate outputs in Q0.15.
GATE_INPUT_SCALE = 2.0 ** -12
GATE_OUTPUT_SCALE = 2.0 ** -15
ACTIVATION_TANH = 4  # the schema's TANH


def inter_gate_multiplier(scale1: float, scale2: float, output_scale: float) -> tuple[int, int]:
    """CreateInterGateMulParams: float32 scales widened, multiplied and divided in double."""
    return quantize_multiplier(float(f32(scale1)) * float(f32(scale2)) / float(f32(output_scale)))


def checked_log2(value: float) -> tuple[int, bool]:
    """CheckedLog2: log(x) * (1 / log(2)) in float32, rounded half away; and whether that log2 is
    within 1e-3 of the integer (TFLM ignores this; the lowering refuses other scales, far from
    the .5 where a float32 logf differing from numpy's could round the other way)."""
    log2 = f32(np.log(f32(value))) * (f32(1.0) / f32(np.log(f32(2.0))))
    rounded = round_half_away(float(log2))
    return int(rounded), abs(float(log2) - rounded) < 1e-3


def tanh_input_scaling(cell_scale_power: int) -> tuple[int, int]:
    """lstm_internal::Tanh then reference Tanh: (multiplier, right shift) bringing the cell
    state into the 3/4-scaled Q3.12 that the table is indexed with."""
    shift = 15 + cell_scale_power - 3
    if shift < 0:
        return 3, -shift
    return 3 << shift, 0


def quantized_cell_clip(cell_clip: float, cell_scale: float) -> int:
    """CreateLstmCellStateInfo: clip / scale in double, clamped to int16, truncated."""
    value = min(max(float(f32(cell_clip)) / float(f32(cell_scale)), -32768.0), 32767.0)
    return int(value)


def _is_variable(op: OpView, tensor: Tensor) -> bool:
    # TensorInfo does not carry the schema's is_variable flag; read it from the parsed model.
    return bool(op._model._subgraph.tensors[tensor.index].isVariable)


def _weights(op: OpView, position: int, rows: int, columns: int, role: str) -> Tensor:
    weights = op.input(position)
    op.require(weights is not None, f"{role} are missing")
    op.require(weights.is_constant, f"{role} '{weights.info.name}' must be constant")
    op.require_types(weights, "INT8")
    op.require(len(weights.info.scales) == 1, f"{role} '{weights.info.name}' must have one "
                                              f"scale (per-tensor)")
    op.require(weights.zero_point == 0, f"{role} '{weights.info.name}' have zero point "
                                        f"{weights.zero_point}; only 0 is supported")
    require_scale(op, weights, role)
    op.require(tuple(weights.shape) == (rows, columns),
               f"{role} have shape {list(weights.shape)}, expected [{rows}, {columns}]")
    return weights


def _bias(op: OpView, position: int, units: int, role: str) -> np.ndarray:
    bias = op.input(position)
    op.require(bias is not None, f"{role} is missing")
    op.require(bias.is_constant, f"{role} '{bias.info.name}' must be constant")
    op.require_types(bias, "INT32")
    op.require(tuple(bias.shape) == (units,), f"{role} has shape {list(bias.shape)}, "
                                              f"expected [{units}]")
    return bias.data.reshape(-1).astype(np.int32)


def _state(op: OpView, position: int, type_name: str, units: int, batches: int,
           role: str) -> Tensor:
    state = op.input(position)
    op.require(state is not None, f"the {role} tensor is missing")
    op.require(not state.is_constant and _is_variable(op, state),
               f"the {role} tensor '{state.info.name}' is not a variable tensor")
    op.require_types(state, type_name)
    op.require(state.size == batches * units, f"the {role} tensor has {state.size} values, "
                                              f"expected {batches * units}")
    op.require(len(state.info.scales) == 1,
               f"the {role} tensor '{state.info.name}' has {len(state.info.scales)} scales")
    require_scale(op, state, f"the {role} tensor")
    return state


@lowering("UNIDIRECTIONAL_SEQUENCE_LSTM")
def lower_lstm(op: OpView) -> Layer:
    op.require(op.input_count == 24, f"{op.input_count} inputs, TFLM's LSTM takes 24")
    source, output = op.input(INPUT), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    options = op.options_of("UnidirectionalSequenceLSTMOptionsT")
    op.require(not options.timeMajor, "time-major input is not supported (batch-major only)")
    op.require(options.fusedActivationFunction == ACTIVATION_TANH,
               f"cell activation {options.fusedActivationFunction} is not supported (TANH only, "
               f"what TFLM's int8 kernel runs)")
    for position, name in VARIANTS.items():
        op.require(op.input(position) is None, f"{name} are not supported (TFLM's LSTM runs "
                                               f"none)")
    op.require(len(source.shape) == 3, f"input must be 3-D [batch, time, features], got "
                                       f"{list(source.shape)}")
    batches, steps, input_size = source.shape
    recurrent = op.input(RECURRENT_WEIGHTS["forget"])
    op.require(recurrent is not None and len(recurrent.shape) == 2,
               "recurrent-to-forget weights must be 2-D")
    units = recurrent.shape[1]
    op.require(min(batches, steps, input_size, units) > 0, "an LSTM dimension is zero")
    op.require(tuple(output.shape) == (batches, steps, units),
               f"output shape {list(output.shape)} is not [{batches}, {steps}, {units}]")
    hidden = _state(op, HIDDEN_STATE, "INT8", units, batches, "hidden state")
    cell = _state(op, CELL_STATE, "INT16", units, batches, "cell state")
    op.require(cell.zero_point == 0, f"cell state zero point {cell.zero_point} is not 0")
    power, exact = checked_log2(cell.scale)
    op.require(exact, f"cell state scale {cell.scale} is not a power of two")
    tanh_multiplier, tanh_shift = tanh_input_scaling(power)
    # |cell| * multiplier must stay inside int32, as TFLM's int32 product does for real models.
    op.require(tanh_shift > 0 or tanh_multiplier <= 3 << 14,
               f"cell state scale {cell.scale} is too large for the int16 tanh")

    input_weights, recurrent_weights, biases, multipliers, shifts = [], [], [], [], []
    for gate in GATE_ORDER:
        x_weights = _weights(op, INPUT_WEIGHTS[gate], units, input_size,
                             f"input-to-{gate} weights")
        h_weights = _weights(op, RECURRENT_WEIGHTS[gate], units, units,
                             f"recurrent-to-{gate} weights")
        input_weights.append(x_weights.data.reshape(-1))
        recurrent_weights.append(h_weights.data.reshape(-1))
        biases.append(_bias(op, BIASES[gate], units, f"{gate} gate bias"))
        for activation, weights in ((source, x_weights), (hidden, h_weights)):
            multiplier, shift = fully_connected_tensor_multiplier(
                activation.scale, weights.scale, GATE_INPUT_SCALE)
            multipliers.append(multiplier)
            shifts.append(shift)

    forget = inter_gate_multiplier(GATE_OUTPUT_SCALE, cell.scale, cell.scale)
    update = inter_gate_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, cell.scale)
    emitted = inter_gate_multiplier(GATE_OUTPUT_SCALE, GATE_OUTPUT_SCALE, hidden.scale)
    # Measured from tflite_micro on the first LSTM a process lowers (a fraction of a second).
    from tinyml_pipeline.tools.compiler.sigmoid_table import measured_sigmoid_table

    clip = quantized_cell_clip(options.cellClip, cell.scale) if options.cellClip > 0 else 0
    # Four int16 gate buffers, the int16 cell state and the int8 hidden state.
    scratch_bytes = 5 * 2 * units + units
    return Layer(
        op=op.name, op_index=op.index, kernel="tinyml_lstm_s8", params_type="tinyml_lstm_params",
        header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("scratch", Scratch()),
                ("batches", batches), ("time_steps", steps), ("input_size", input_size),
                ("units", units), ("input_offset", -source.zero_point),
                ("hidden_offset", -hidden.zero_point), ("hidden_zero_point", hidden.zero_point),
                ("input_weights", Const("int8_t", np.concatenate(input_weights), "input_weights")),
                ("recurrent_weights", Const("int8_t", np.concatenate(recurrent_weights),
                                            "recurrent_weights")),
                ("bias", Const("int32_t", np.concatenate(biases), "bias")),
                ("gate_multiplier", Const("int32_t", np.array(multipliers, np.int32),
                                          "gate_multiplier")),
                ("gate_shift", Const("int32_t", np.array(shifts, np.int32), "gate_shift")),
                ("forget_multiplier", forget[0]), ("forget_shift", forget[1]),
                ("input_multiplier", update[0]), ("input_shift", update[1]),
                ("output_multiplier", emitted[0]), ("output_shift", emitted[1]),
                ("tanh_multiplier", tanh_multiplier), ("tanh_shift", tanh_shift),
                ("cell_clip", clip),
                ("sigmoid_table", Const("uint16_t", measured_sigmoid_table(),
                                        "sigmoid_table"))],
        reads=(source.index,), writes=(output.index,), scratch_bytes=scratch_bytes)
