"""Randomized test models built with the TFLite converter.

Converting one model costs about as much as converting forty, so a batch of random cases is
traced as one tf.function with one independent branch per case (its own input and output),
converted to int8 once, and then split into one single-branch .tflite per case.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


@dataclass
class Case:
    """One random model: how to build its branch, and a description printed on failure."""

    description: str
    input_shape: tuple[int, ...]
    build: Callable  # tf tensor -> tf tensor, the branch's computation
    input_range: tuple[float, float] = (-1.0, 1.0)


def quantizing_converter(cases: list[Case], seed: int, calibration_samples: int = 16):
    """A TFLiteConverter for all cases as branches of one function, set for full-integer
    quantization with seeded random calibration data (each case's input_range)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    specs = [tf.TensorSpec([*case.input_shape], tf.float32) for case in cases]

    @tf.autograph.experimental.do_not_convert
    def branches(*inputs):
        return [case.build(x) for case, x in zip(cases, inputs, strict=True)]

    function = tf.function(branches, input_signature=specs)

    def representative():
        for _ in range(calibration_samples):
            yield [rng.uniform(*case.input_range, size=case.input_shape).astype(np.float32)
                   for case in cases]

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], function)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter


def convert_cases(cases: list[Case], seed: int, calibration_samples: int = 16) -> list[bytes]:
    """Converts the cases (int8 in and out, full-integer quantization) in one go; returns one
    .tflite per case, in order."""
    import tensorflow as tf

    converter = quantizing_converter(cases, seed, calibration_samples)
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # The model inputs are int8 by request; the converter warns that it has no float stats.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        converted = converter.convert()
    return split_branches(converted, len(cases))


def split_branches(model_bytes: bytes, expected: int) -> list[bytes]:
    """One .tflite per subgraph output, holding just the ops that output depends on."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    graph = model.subgraphs[0]
    producer = {t: op for op in graph.operators for t in op.outputs}
    graph_inputs = set(int(i) for i in graph.inputs)
    # The converter may order outputs differently from the function's; match by input name.
    branches = []
    for output in graph.outputs:
        ops, tensors, pending = [], set(), [int(output)]
        while pending:
            tensor = pending.pop()
            if tensor < 0 or tensor in tensors:
                continue
            tensors.add(tensor)
            op = producer.get(tensor)
            if op is not None and op not in ops:
                ops.append(op)
                pending.extend(int(i) for i in op.inputs)
        inputs = sorted(tensors & graph_inputs)
        order = [op for op in graph.operators if op in ops]
        branches.append((inputs, int(output), order, tensors))
    if len(branches) != expected:
        raise AssertionError(f"converter produced {len(branches)} outputs for {expected} cases")
    branches.sort(key=lambda branch: _input_position(graph, branch[0]))
    return [_extract(model, inputs, output, ops, tensors)
            for inputs, output, ops, tensors in branches]


def _input_position(graph, inputs: list[int]) -> int:
    """Branch order: by the index (args_N) of the function argument feeding it."""
    name = graph.tensors[inputs[0]].name
    name = name.decode() if isinstance(name, bytes) else name
    digits = "".join(ch for ch in name.split(":")[0].rsplit("_", 1)[-1] if ch.isdigit())
    return int(digits) if digits else 0


def _extract(model, inputs, output, ops, tensors) -> bytes:
    import copy

    schema = _schema()
    renumber = {old: new for new, old in enumerate(sorted(tensors))}
    new_model = schema.ModelT()
    new_model.version = model.version
    new_model.description = model.description
    new_model.buffers = [schema.BufferT()]  # buffer 0 is the empty one, by convention
    new_model.operatorCodes = []
    code_index = {}
    graph = schema.SubGraphT()
    graph.tensors = []
    for old in sorted(tensors):
        tensor = copy.copy(model.subgraphs[0].tensors[old])
        source = model.buffers[tensor.buffer]
        if source.data is not None:
            new_model.buffers.append(source)
            tensor.buffer = len(new_model.buffers) - 1
        else:
            tensor.buffer = 0
        graph.tensors.append(tensor)
    graph.operators = []
    for op in ops:
        new_op = copy.copy(op)
        if op.opcodeIndex not in code_index:
            code_index[op.opcodeIndex] = len(new_model.operatorCodes)
            new_model.operatorCodes.append(model.operatorCodes[op.opcodeIndex])
        new_op.opcodeIndex = code_index[op.opcodeIndex]
        new_op.inputs = [renumber[int(i)] if i >= 0 else -1 for i in op.inputs]
        new_op.outputs = [renumber[int(i)] for i in op.outputs]
        graph.operators.append(new_op)
    graph.inputs = [renumber[i] for i in inputs]
    graph.outputs = [renumber[output]]
    graph.name = b"main"
    new_model.subgraphs = [graph]
    return pack(new_model)


def pack(model) -> bytes:
    """Serializes a schema ModelT into .tflite bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
