"""The 256-entry Q0.16 sigmoid table that TFLM's int16 LOGISTIC and TANH interpolate (and its
integer LSTM with them), measured from the pinned reference runtime, `tflite_micro`.

The table's values are not a formula's (some differ by one from roundings of sigmoid(i / 24)), and
the bytes match TFLM's only with its exact numbers; the project may not copy them from TFLM's
source, so they are solved from TFLM's own outputs. An int16 TANH with the power-of-two input
scale 2^-12 computes, for a = 3 * x >= 0, uh = a >> 8 and ut = a & 0xFF,
    out = (256 * T[uh] + ut * (T[uh + 1] - T[uh]) - 2^23 + 128) >> 8
        = T[uh] - 32768 + floor((ut * d + 128) / 256),   d = T[uh + 1] - T[uh]
(reference_integer_ops::Tanh). x = 0 gives T[0]; then, entry by entry, the outputs at every ut
that a = 3x reaches bound d to an interval that must hold exactly one integer. Every output of
the sweep, negative inputs included, is then recomputed from the solved table; any difference
raises instead of guessing."""

from __future__ import annotations

import functools

import numpy as np

from tinyml_pipeline.tools.compiler.errors import CompileError

ENTRIES = 256
INPUT_SCALE = 2.0 ** -12  # TANH's power-of-two path: the input is multiplied by 3, no shift
OUTPUT_SCALE = 2.0 ** -15
ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def int16_activation_model(operator: str, size: int) -> bytes:
    """A one-op int16 LOGISTIC or TANH model over a [size] vector, with the scales that make
    TFLM's kernel take its power-of-two path (input 2^-12, output 2^-15, zero points 0)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    graph = schema.SubGraphT()
    graph.tensors = []
    for index, (name, scale) in enumerate((("input", INPUT_SCALE), ("output", OUTPUT_SCALE))):
        tensor = schema.TensorT()
        tensor.name, tensor.shape = name.encode(), [size]
        tensor.type = schema.TensorType.INT16
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [0]
        tensor.buffer = index + 1
        graph.tensors.append(tensor)
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, operator)
    code.deprecatedBuiltinCode = code.builtinCode
    code.version = 1
    model.operatorCodes = [code]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph.operators, graph.inputs, graph.outputs = [op], [0], [1]
    graph.name = b"main"
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def run_tflm_int16_activation(operator: str, inputs: np.ndarray) -> np.ndarray:
    """`inputs` (int16, 1-D) through tflite_micro's int16 LOGISTIC or TANH."""
    from tflite_micro.python.tflite_micro import runtime

    from tinyml_pipeline.tools.console import native_stderr_silenced

    inputs = np.ascontiguousarray(inputs, dtype=np.int16).reshape(-1)
    data = int16_activation_model(operator, inputs.size)
    try:
        with native_stderr_silenced():
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=4 * inputs.nbytes
                                                         + 16384)
            interpreter.set_input(inputs, 0)
            interpreter.invoke()
    except RuntimeError as error:
        raise CompileError(f"tflite_micro cannot run an int16 {operator} to measure the "
                           f"sigmoid table: {str(error).strip().splitlines()[0]}") from error
    return np.asarray(interpreter.get_output(0), dtype=np.int16).reshape(-1)


def _interpolated(table: np.ndarray, magnitude: np.ndarray, fraction_bits: int) -> np.ndarray:
    """(ua << bits) + ut * (ub - ua) as the kernels compute it: uint32 arithmetic, read back as
    the int32 it is stored in. Entries past the table are left 0 (the callers saturate them)."""
    table = table.astype(np.int64)
    high = magnitude >> fraction_bits
    inside = high < ENTRIES - 1
    index = np.where(inside, high, 0)
    low_value, high_value = table[index], table[index + 1]
    fraction = magnitude & ((1 << fraction_bits) - 1)
    value = ((low_value << fraction_bits) + fraction * (high_value - low_value)) & 0xFFFFFFFF
    value = np.where(value >= 1 << 31, value - (1 << 32), value)
    return np.where(inside, value, 0), inside


def logistic_int16(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Logistic on the power-of-two path: input 3x, index |3x| >> 9."""
    a = 3 * np.asarray(x, dtype=np.int64)
    value, inside = _interpolated(table, np.abs(a), 9)
    value = np.where(inside, value, 0x7FFF << 10) & 0xFFFFFFFF
    value = np.where(a >= 0, value + (1 << 9), (1 << 25) - value + (1 << 9) - 1) & 0xFFFFFFFF
    return (value >> 10).astype(np.int16)


def tanh_int16(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """reference_integer_ops::Tanh on the power-of-two path: input 3x, index |3x| >> 8."""
    a = 3 * np.asarray(x, dtype=np.int64)
    value, inside = _interpolated(table, np.abs(a), 8)
    value = np.where(inside, value, 0xFFFF << 8)
    value = np.where(a >= 0, value - (1 << 23) + (1 << 7), -value + (1 << 23) + (1 << 7) - 1)
    return (value >> 8).astype(np.int16)


def solve_table(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """The table from int16 TANH outputs at `inputs` (which must include 0 and the non-negative
    inputs up to 3x >= 255 * 256); raises CompileError where the outputs do not pin an entry."""
    x = np.asarray(inputs, dtype=np.int64)
    out = np.asarray(outputs, dtype=np.int64)
    zero = out[x == 0]
    if zero.size == 0:
        raise CompileError("the sigmoid table sweep has no input 0")
    table = np.zeros(ENTRIES, dtype=np.int64)
    table[0] = zero[0] + 32768
    a = 3 * x
    for entry in range(ENTRIES - 1):
        chosen = (a >= 0) & ((a >> 8) == entry)
        ut, step = a[chosen] & 0xFF, out[chosen] - table[entry] + 32768
        ut, step = ut[ut > 0], step[ut > 0]  # ut = 0 says nothing about d
        if ut.size == 0:
            raise CompileError(f"the sigmoid table sweep has no fractional input at entry {entry}")
        # floor((ut * d + 128) / 256) = step  <=>  256 * step - 128 <= ut * d < 256 * step + 128
        lowest = int(np.max(-((-(256 * step - 128)) // ut)))
        highest = int(np.min(-((-(256 * step + 128)) // ut))) - 1
        if lowest != highest:
            raise CompileError(f"TFLM's int16 TANH outputs leave sigmoid table entry {entry + 1} "
                               f"{'undetermined' if lowest < highest else 'contradictory'} "
                               f"(difference in [{lowest}, {highest}])")
        table[entry + 1] = table[entry] + lowest
    if table.min() < 0 or table.max() > 0xFFFF:
        raise CompileError("the sigmoid table solved from TFLM's TANH is outside uint16")
    return table.astype(np.uint16)


@functools.cache
def measured_sigmoid_table() -> np.ndarray:
    """TFLM's sigmoid_table_uint16 (read-only), solved from tflite_micro's int16 TANH over every
    int16 input and checked against every one of those outputs."""
    outputs = run_tflm_int16_activation("TANH", ALL_INT16)
    table = solve_table(ALL_INT16, outputs)
    differ = np.flatnonzero(tanh_int16(table, ALL_INT16) != outputs)
    if differ.size:
        raise CompileError(f"the sigmoid table solved from TFLM's int16 TANH does not reproduce "
                           f"{differ.size} of its outputs (first at input "
                           f"{int(ALL_INT16[differ[0]])})")
    table.flags.writeable = False
    return table
