"""Single-op int8 (and int16, 16x8) .tflite models written directly with the schema, no
converter.

The TFLite converter picks scales and zero points from calibration, so converter-built tests
see the quantizations a training run gives. Written by hand, a test reaches every scale ratio
and zero point the op may meet (TFLM only needs what its Prepare accepts), and a model costs
microseconds instead of a conversion. Tests use both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tests.support.modelgen import _schema, pack


@dataclass(frozen=True)
class Quantization:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class PerChannel:
    """Symmetric per-channel quantization of constant weights along `axis`."""

    scales: tuple[float, ...]
    axis: int = 0


@dataclass(frozen=True)
class Operand:
    """A model input (values None) or a constant operand: int8 with `quantization`, or int32
    (sizes, shapes, indices) without one. `dtype` names another schema type (INT16, INT64,
    FLOAT32) for 16x8 models; quantized when `quantization` is given."""

    shape: tuple[int, ...]
    quantization: Quantization | PerChannel | None
    values: np.ndarray | None = None
    dtype: str | None = None


_NUMPY = {"INT8": np.int8, "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FLOAT32": "<f4"}


def random_quantization(rng: np.random.Generator, low: float = 1e-3, high: float = 1.0
                        ) -> Quantization:
    """A scale spread log-uniformly over [low, high] and any int8 zero point."""
    scale = float(np.float32(np.exp(rng.uniform(np.log(low), np.log(high)))))
    return Quantization(scale, int(rng.integers(-128, 128)))


def single_op_model(op_name: str, operands: list[Operand | None], output_shape: tuple[int, ...],
                    output: Quantization | None, options=None, output_type: str = "INT8"
                    ) -> bytes:
    """One op of `op_name` reading `operands` in order (the one without values is the model's
    input, every other one a constant, None an omitted optional input) and writing the model's
    output (of `output_type`, quantized unless `output` is None). `options`: a schema *OptionsT
    object."""
    schema = _schema()
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]  # buffer 0 is the empty one, by convention
    code = schema.OperatorCodeT()
    builtin = getattr(schema.BuiltinOperator, op_name)
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes = [code]

    def tensor(name: str, shape, quantization: Quantization | None, values,
               dtype: str | None = None) -> int:
        item = schema.TensorT()
        item.name = name.encode()
        item.shape = list(shape)
        is_int32 = dtype is None and values is not None and np.asarray(values).dtype == np.int32
        type_name = dtype or ("INT32" if is_int32 else "INT8")
        item.type = getattr(schema.TensorType, type_name)
        if isinstance(quantization, PerChannel):
            params = schema.QuantizationParametersT()
            params.scale = list(quantization.scales)
            params.zeroPoint = [0] * len(quantization.scales)
            params.quantizedDimension = quantization.axis
            item.quantization = params
        elif not is_int32 and quantization is not None:
            params = schema.QuantizationParametersT()
            params.scale = [quantization.scale]
            params.zeroPoint = [quantization.zero_point]
            item.quantization = params
        if values is None:
            item.buffer = 0
        else:
            buffer = schema.BufferT()
            data = np.asarray(values).astype(_NUMPY[type_name])
            buffer.data = data.reshape(-1).view(np.uint8).tolist()
            model.buffers.append(buffer)
            item.buffer = len(model.buffers) - 1
        graph.tensors.append(item)
        return len(graph.tensors) - 1

    graph = schema.SubGraphT()
    graph.tensors = []
    inputs = [-1 if operand is None else
              tensor(f"operand{i}", operand.shape, operand.quantization, operand.values,
                     operand.dtype)
              for i, operand in enumerate(operands)]
    model_input = next(index for index, operand in zip(inputs, operands, strict=True)
                       if operand is not None and operand.values is None)
    output_index = tensor("output", output_shape, output, None, output_type)
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs = inputs
    op.outputs = [output_index]
    if options is not None:
        op.builtinOptionsType = getattr(schema.BuiltinOptions,
                                        type(options).__name__.removesuffix("T"))
        op.builtinOptions = options
    graph.operators = [op]
    graph.inputs = [model_input]
    graph.outputs = [output_index]
    graph.name = b"main"
    model.subgraphs = [graph]
    return pack(model)


def broadcast_pair(rng: np.random.Generator, max_rank: int = 4, largest: int = 5
                   ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast (the first with batch 1, the second of any rank up to the
    first's) and their broadcast shape, which keeps the batch of 1."""
    rank = int(rng.integers(1, max_rank + 1))
    first = [1] + [int(rng.integers(1, largest + 1)) for _ in range(rank - 1)]
    other_rank = int(rng.integers(1, rank + 1))
    second = []
    for axis in range(rank - other_rank, rank):
        roll = rng.random()
        second.append(1 if roll < 0.3 or axis == 0 else first[axis] if roll < 0.8
                      else int(rng.integers(1, largest + 1)))
    # An axis where the first input is 1 may take the second's size.
    broadcast = [max(a, b) if 1 in (a, b) or a == b else a
                 for a, b in zip(first, [1] * (rank - other_rank) + second, strict=True)]
    second = [b if b in (1, broadcast[rank - other_rank + i]) else 1
              for i, b in enumerate(second)]
    return tuple(first), tuple(second), tuple(broadcast)


def unary_chain_model(shape: tuple[int, ...], ops: list[str],
                      tensors: list[tuple[str, Quantization | None]]) -> bytes:
    """Ops without options applied in turn, op i reading tensors[i] and writing tensors[i + 1]
    (each a schema type name and its quantization, None for float32), all of `shape`: e.g.
    int16 -> DEQUANTIZE -> float32 -> QUANTIZE -> int8, whose middle is no model input or
    output."""
    schema = _schema()
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    model.operatorCodes = []
    graph = schema.SubGraphT()
    graph.tensors = []
    for index, (type_name, quantization) in enumerate(tensors):
        item = schema.TensorT()
        item.name = f"tensor{index}".encode()
        item.shape = list(shape)
        item.type = getattr(schema.TensorType, type_name)
        if quantization is not None:
            item.quantization = schema.QuantizationParametersT()
            item.quantization.scale = [quantization.scale]
            item.quantization.zeroPoint = [quantization.zero_point]
        item.buffer = 0
        graph.tensors.append(item)
    graph.operators = []
    for index, op_name in enumerate(ops):
        builtin = getattr(schema.BuiltinOperator, op_name)
        codes = [code.builtinCode for code in model.operatorCodes]
        if builtin not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = builtin
            code.deprecatedBuiltinCode = min(builtin, 127)
            code.version = 1
            model.operatorCodes.append(code)
            codes.append(builtin)
        op = schema.OperatorT()
        op.opcodeIndex = codes.index(builtin)
        op.inputs = [index]
        op.outputs = [index + 1]
        graph.operators.append(op)
    graph.inputs = [0]
    graph.outputs = [len(tensors) - 1]
    graph.name = b"main"
    model.subgraphs = [graph]
    return pack(model)
