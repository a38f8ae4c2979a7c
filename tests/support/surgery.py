"""Small edits to converter-built models, for ops the converter never emits itself.

The TFLite converter lowers tf.squeeze and tf.expand_dims to RESHAPE; a model from another
exporter may still carry SQUEEZE or EXPAND_DIMS, so tests swap the RESHAPE for them.
"""

from __future__ import annotations

import numpy as np

from tests.support.modelgen import _schema, pack


def _load(model_bytes: bytes):
    schema = _schema()
    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))


def _reshape_ops(schema, model):
    graph = model.subgraphs[0]
    return [op for op in graph.operators
            if max(model.operatorCodes[op.opcodeIndex].builtinCode,
                   model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)
            == schema.BuiltinOperator.RESHAPE]


def _set_code(schema, model, op, builtin: int) -> None:
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes.append(code)
    op.opcodeIndex = len(model.operatorCodes) - 1


def reshape_to_squeeze(model_bytes: bytes, dims: list[int]) -> bytes:
    """Every RESHAPE becomes SQUEEZE of `dims` (the caller knows they are the size-1 ones)."""
    schema, model = _load(model_bytes)
    for op in _reshape_ops(schema, model):
        _set_code(schema, model, op, schema.BuiltinOperator.SQUEEZE)
        options = schema.SqueezeOptionsT()
        options.squeezeDims = dims
        op.builtinOptionsType = schema.BuiltinOptions.SqueezeOptions
        op.builtinOptions = options
        op.inputs = [op.inputs[0]]
    return pack(model)


def reshape_to_expand_dims(model_bytes: bytes, axis: int) -> bytes:
    """Every RESHAPE that inserts one size-1 dimension at `axis` becomes EXPAND_DIMS."""
    schema, model = _load(model_bytes)
    graph = model.subgraphs[0]
    for op in _reshape_ops(schema, model):
        buffer = schema.BufferT()
        buffer.data = np.array([axis], np.int32).tobytes()
        model.buffers.append(buffer)
        tensor = schema.TensorT()
        tensor.shape = [1]
        tensor.type = schema.TensorType.INT32
        tensor.buffer = len(model.buffers) - 1
        tensor.name = b"expand_axis"
        graph.tensors.append(tensor)
        _set_code(schema, model, op, schema.BuiltinOperator.EXPAND_DIMS)
        op.builtinOptionsType = schema.BuiltinOptions.ExpandDimsOptions
        op.builtinOptions = schema.ExpandDimsOptionsT()
        op.inputs = [op.inputs[0], len(graph.tensors) - 1]
    return pack(model)
