"""Read a .tflite flatbuffer: its operators, tensors and quantization, and the MACs it costs.

Uses the schema bindings that ship with the `tflite-micro` package, so reading a model does not
import TensorFlow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.errors import InputError, ModelError
from tinyml_pipeline.tools.model_check import check_model, decode_name, enum_names, indices, op_name

TFLITE_IDENTIFIER = b"TFL3"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


_NUMPY_TYPES = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32, "UINT8": np.uint8,
    "INT64": np.int64, "BOOL": np.bool_, "INT16": np.int16, "INT8": np.int8,
    "FLOAT64": np.float64, "UINT32": np.uint32, "UINT16": np.uint16, "UINT64": np.uint64,
}


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str  # schema name: INT8, INT32, FLOAT32, ...
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int
    is_constant: bool

    @property
    def dtype(self):
        return _NUMPY_TYPES.get(self.type_name)

    @property
    def scale(self) -> float | None:
        return self.scales[0] if self.scales else None

    @property
    def zero_point(self) -> int | None:
        return self.zero_points[0] if self.zero_points else None

    def describe(self) -> dict:
        """The card.json / report form of a model input or output."""
        return {"name": self.name, "shape": list(self.shape), "dtype": self.type_name.lower(),
                "scale": self.scale, "zero_point": self.zero_point}


@dataclass(frozen=True)
class OperatorInfo:
    index: int
    name: str  # builtin operator name, e.g. CONV_2D
    inputs: tuple[int, ...]  # tensor indices; -1 marks an omitted optional input
    outputs: tuple[int, ...]
    options: object  # the schema's *OptionsT object, or None


class TFLiteModel:
    """A parsed .tflite model (first subgraph, which is the one TFLM and LiteRT run).

    Construction checks the model's structure (tools/model_check.py) and raises ModelError on
    the first problem, so every reader (convert, run, card, evaluate, describe) gets in-range
    indices, positive bounded shapes, buffers of their shape's size and sane quantization.
    """

    def __init__(self, data: bytes, source: str = "<bytes>", check: bool = True):
        """Parses `data`; `check=False` skips the structural checks of tools/model_check.py,
        for tests of the compiler's own checks that stand behind them (a model that fails them
        may then raise anything)."""
        self.data = bytes(data)
        self.source = source
        if len(self.data) < 8 or self.data[4:8] != TFLITE_IDENTIFIER:
            hint = ("; for a Keras model, `tinyml quantize` makes one"
                    if str(source).endswith((".keras", ".h5")) else "")
            raise ModelError(f"{source}: not a .tflite model (no TFL3 flatbuffer identifier)"
                             f"{hint}")
        schema = _schema()
        try:
            root = schema.Model.GetRootAsModel(self.data, 0)
            self._model = schema.ModelT.InitFromObj(root)
        except Exception as error:  # flatbuffers raises assorted errors on corrupt input
            raise ModelError(f"{source}: corrupt .tflite model ({type(error).__name__})") from error
        if not self._model.subgraphs:
            raise ModelError(f"{source}: .tflite model has no subgraph")
        if check:
            check_model(self._model, schema, source)
        self._subgraph = self._model.subgraphs[0]
        self._tensors = self._subgraph.tensors or []
        self._buffers = self._model.buffers or []
        self._type_names = enum_names(schema.TensorType)
        op_names = enum_names(schema.BuiltinOperator)
        codes = self._model.operatorCodes or []
        # Checked above, so built once: lowering asks for the list once per op.
        self._operators = tuple(
            OperatorInfo(position, op_name(codes[op.opcodeIndex], op_names),
                         tuple(indices(op.inputs)), tuple(indices(op.outputs)), op.builtinOptions)
            for position, op in enumerate(self._subgraph.operators or []))

    @classmethod
    def from_file(cls, path: str | Path) -> TFLiteModel:
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"model not found: {path}") from None
        except OSError as error:
            raise InputError(f"cannot read model {path}: {error.strerror}") from None
        return cls(data, str(path))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def tensor(self, index: int) -> TensorInfo:
        raw = self._tensors[index]
        quant = raw.quantization
        scales = tuple(float(s) for s in quant.scale) if quant and quant.scale is not None else ()
        zeros = tuple(indices(quant.zeroPoint)) if quant else ()
        buffer = self._buffers[raw.buffer]
        is_constant = buffer.data is not None and len(buffer.data) > 0
        name = decode_name(raw.name)
        shape = tuple(indices(raw.shape))
        return TensorInfo(index, name, shape, self._type_names.get(raw.type, str(raw.type)),
                          scales, zeros, int(quant.quantizedDimension) if quant else 0,
                          is_constant)

    def tensor_data(self, index: int) -> np.ndarray | None:
        """A constant tensor's values in its shape, or None for an activation."""
        raw = self._tensors[index]
        info = self.tensor(index)
        buffer = self._buffers[raw.buffer]
        if not info.is_constant or info.dtype is None:
            return None
        values = np.frombuffer(bytes(bytearray(buffer.data)), dtype=info.dtype)
        return values.reshape(info.shape) if info.shape else values.reshape(())

    @property
    def input_indices(self) -> list[int]:
        return indices(self._subgraph.inputs)

    @property
    def output_indices(self) -> list[int]:
        return indices(self._subgraph.outputs)

    @property
    def tensor_count(self) -> int:
        return len(self._tensors)

    @property
    def has_variable_tensors(self) -> bool:
        """Whether a tensor carries state from one invoke to the next (an LSTM's, say)."""
        return any(tensor.isVariable for tensor in self._subgraph.tensors)

    @property
    def inputs(self) -> list[TensorInfo]:
        return [self.tensor(i) for i in self.input_indices]

    @property
    def outputs(self) -> list[TensorInfo]:
        return [self.tensor(i) for i in self.output_indices]

    @property
    def operators(self) -> list[OperatorInfo]:
        return list(self._operators)

    def op_names(self) -> list[str]:
        """Distinct operator names in order of first use."""
        return list(dict.fromkeys(op.name for op in self.operators))

    def op_macs(self, op: OperatorInfo) -> int:
        """Multiply-accumulates of one inference of `op`: one per weight use of a convolution
        or fully connected layer, 0 for every other op (a few operations per element, not per
        weight)."""
        if op.name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            return 0
        output = int(np.prod(self.tensor(op.outputs[0]).shape, dtype=np.int64))
        weights = self.tensor(op.inputs[1]).shape
        if op.name == "CONV_2D":  # weights [out_ch, kh, kw, in_ch per group]
            return output * int(np.prod(weights[1:], dtype=np.int64))
        if op.name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out_ch]
            return output * int(weights[1] * weights[2])
        return output * int(weights[1])  # weights [units, in_features]

    def macs(self) -> int:
        """Multiply-accumulates of one inference (convolutions and fully connected layers)."""
        return sum(self.op_macs(op) for op in self.operators)

    def require_integer_io(self) -> None:
        """Raise ModelError unless every model input and output is an int8 or int16 tensor
        (int16: 16x8 quantization, for the built-in runtime and the device)."""
        for role, tensors in (("input", self.inputs), ("output", self.outputs)):
            for tensor in tensors:
                if tensor.type_name not in ("INT8", "INT16"):
                    hint = ("; `tinyml quantize MODEL --calibration X.npz --out models/NAME` makes "
                            "a full-integer int8 model" if tensor.type_name == "FLOAT32" else "")
                    raise ModelError(f"{self.source}: {role} tensor '{tensor.name}' is "
                                     f"{tensor.type_name.lower()}, expected int8 or int16{hint}")

    def require_int8_io(self) -> None:
        """Raise ModelError unless every model input and output is an int8 tensor."""
        for role, tensors in (("input", self.inputs), ("output", self.outputs)):
            for tensor in tensors:
                if tensor.type_name != "INT8":
                    hint = ("; `tinyml quantize MODEL --calibration X.npz --out models/NAME` makes "
                            "a full-integer int8 model" if tensor.type_name == "FLOAT32" else "")
                    raise ModelError(f"{self.source}: {role} tensor '{tensor.name}' is "
                                     f"{tensor.type_name.lower()}, expected int8{hint}")
