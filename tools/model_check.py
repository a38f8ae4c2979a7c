"""Structural checks of a parsed .tflite, run before anything lowers it or allocates its arrays.

A model the converter accepts becomes a plan the firmware trusts, so every index, shape, buffer,
quantization field and options table is checked here against what the schema and TFLM's parsing
(flatbuffer_conversions, the allocator's tensor set-up) allow. Op semantics (each op's output
shape, its quantization rules) are the lowerings' checks, not this module's.

Sizes: a tensor may hold at most MAX_TENSOR_ELEMENTS elements and a model MAX_MODEL_ELEMENTS in
all; both are checked with Python ints before any array exists, so a dimension of 2^31 - 1 is a
refusal, not an allocation. They are far above what a microcontroller's RAM or flash holds (the
boards have at most a few hundred KiB), so no model that could run is refused by them.
"""

from __future__ import annotations

import math

from tinyml_pipeline.tools.errors import ModelError

MAX_TENSOR_ELEMENTS = 1 << 24
MAX_MODEL_ELEMENTS = 1 << 26
MAX_RANK = 8  # TFLite's kernels stop at 5 or 6; more is a corrupt shape vector

# Bits per element of the schema's types; the variable-length ones (STRING, RESOURCE, VARIANT)
# are absent, and their constant buffers are not size-checked.
ELEMENT_BITS = {
    "FLOAT32": 32, "FLOAT16": 16, "INT32": 32, "UINT8": 8, "INT64": 64, "BOOL": 8,
    "INT16": 16, "COMPLEX64": 64, "INT8": 8, "FLOAT64": 64, "COMPLEX128": 128, "UINT64": 64,
    "UINT32": 32, "UINT16": 16, "INT4": 4, "BFLOAT16": 16, "INT2": 2, "UINT4": 4,
    "FLOAT8_E4M3FN": 8, "FLOAT8_E5M2": 8,
}

# The zero points each integer type can hold; other types keep the schema's int64 range.
ZERO_POINT_RANGE = {
    "INT8": (-(1 << 7), (1 << 7) - 1), "UINT8": (0, (1 << 8) - 1),
    "INT16": (-(1 << 15), (1 << 15) - 1), "UINT16": (0, (1 << 16) - 1),
    "INT32": (-(1 << 31), (1 << 31) - 1), "UINT32": (0, (1 << 32) - 1),
    "INT4": (-8, 7), "UINT4": (0, 15), "INT2": (-2, 1),
}
INT64_RANGE = (-(1 << 63), (1 << 63) - 1)
# Types whose values mean nothing without a scale and zero point: every TFLM kernel for them
# reads both, and a missing pair becomes a division by a zero scale.
QUANTIZED_TYPES = frozenset({"INT8", "UINT8", "INT16"})

# The options table each op's parser reads (schema BuiltinOptions names), and whether TFLM's
# parser needs it (a missing optional table means its defaults). Ops absent here and from
# NO_OPTIONS are not checked: no lowering runs them, so they are refused as unsupported later.
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", True),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", True),
    "FULLY_CONNECTED": ("FullyConnectedOptions", True),
    "MAX_POOL_2D": ("Pool2DOptions", True),
    "AVERAGE_POOL_2D": ("Pool2DOptions", True),
    "L2_POOL_2D": ("Pool2DOptions", True),
    "SOFTMAX": ("SoftmaxOptions", True),
    "CONCATENATION": ("ConcatenationOptions", True),
    "TRANSPOSE_CONV": ("TransposeConvOptions", True),
    "ADD": ("AddOptions", False),
    "SUB": ("SubOptions", False),
    "MUL": ("MulOptions", False),
    "DIV": ("DivOptions", False),
    "MEAN": ("ReducerOptions", False),
    "SUM": ("ReducerOptions", False),
    "REDUCE_MAX": ("ReducerOptions", False),
    "REDUCE_MIN": ("ReducerOptions", False),
    "REDUCE_PROD": ("ReducerOptions", False),
    "RESHAPE": ("ReshapeOptions", False),
    "SQUEEZE": ("SqueezeOptions", False),
    "EXPAND_DIMS": ("ExpandDimsOptions", False),
    "PAD": ("PadOptions", False),
    "PADV2": ("PadV2Options", False),
    "QUANTIZE": ("QuantizeOptions", False),
    "DEQUANTIZE": ("DequantizeOptions", False),
    "LEAKY_RELU": ("LeakyReluOptions", False),
    "HARD_SWISH": ("HardSwishOptions", False),
    "TRANSPOSE": ("TransposeOptions", False),
    "STRIDED_SLICE": ("StridedSliceOptions", False),
    "SPLIT": ("SplitOptions", False),
    "PACK": ("PackOptions", False),
    "UNPACK": ("UnpackOptions", False),
    "GATHER": ("GatherOptions", False),
    "ARG_MAX": ("ArgMaxOptions", False),
    "ARG_MIN": ("ArgMinOptions", False),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", False),
    "MAXIMUM": ("MaximumMinimumOptions", False),
    "MINIMUM": ("MaximumMinimumOptions", False),
}
NO_OPTIONS = frozenset({"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC", "TANH",
                        "FLOOR", "ELU", "PRELU"})

# Inputs an op may omit (index -1): the bias of a convolution or fully connected layer, the shape
# of a RESHAPE (which its options may carry instead). Ops in OPTIONS or NO_OPTIONS omit no others;
# ops unknown here are refused later as unsupported, so their inputs are only range-checked.
OPTIONAL_INPUTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2},
                   "TRANSPOSE_CONV": {3}, "RESHAPE": {1}}

# Option fields TFLM's parsers convert (stride, dilation and filter sizes must be at least 1;
# enums must name a value the schema defines).
AT_LEAST_ONE = ("strideH", "strideW", "strideD", "dilationHFactor", "dilationWFactor",
                "dilationDFactor", "filterHeight", "filterWidth")
ENUM_FIELDS = {"padding": "Padding", "fusedActivationFunction": "ActivationFunctionType",
               "weightsFormat": "FullyConnectedOptionsWeightsFormat"}
SUBGRAPH_FIELDS = ("thenSubgraphIndex", "elseSubgraphIndex", "condSubgraphIndex",
                   "bodySubgraphIndex", "initSubgraphIndex", "subgraph")


def decode_name(raw) -> str:
    """A schema string as text; bytes that are not UTF-8 are replaced, never an error."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def enum_names(enum_class) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def op_name(code, op_names: dict[int, str]) -> str:
    """The builtin name of an OperatorCode (CUSTOM:<code> for custom ops)."""
    builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    name = op_names.get(builtin, f"BUILTIN_{builtin}")
    if name == "CUSTOM":
        name = f"CUSTOM:{decode_name(code.customCode)}"
    return name


def indices(values) -> list[int]:
    """A schema int vector as a list; an absent vector is empty."""
    return [] if values is None else [int(v) for v in values]


class _Checker:
    def __init__(self, model, schema, source: str):
        self.model = model
        self.schema = schema
        self.source = source
        self.op_names = enum_names(schema.BuiltinOperator)
        self.type_names = enum_names(schema.TensorType)
        self.options_names = enum_names(schema.BuiltinOptions)
        self.graph = model.subgraphs[0]
        self.tensors = self.graph.tensors or []
        self.buffers = model.buffers or []
        self.codes = model.operatorCodes or []
        self.constant: set[int] = set()

    def fail(self, where: str, problem: str) -> ModelError:
        return ModelError(f"{self.source}: {where}: {problem}")

    def tensor_where(self, index: int) -> str:
        return f"tensor #{index} '{decode_name(self.tensors[index].name)}'"

    def placeholders(self) -> set[int]:
        """Tensors listed only as an op's intermediates: the converter gives an LSTM's gate
        scales such tensors, of shape [0] and without data; no kernel reads or writes them."""
        used = set(indices(self.graph.inputs)) | set(indices(self.graph.outputs))
        listed = set()
        for op in self.graph.operators or []:
            used |= set(indices(op.inputs)) | set(indices(op.outputs))
            listed |= set(indices(getattr(op, "intermediates", None)))
        return listed - used

    def run(self) -> None:
        total = 0
        empty_allowed = self.placeholders()
        for index, tensor in enumerate(self.tensors):
            total += self.check_tensor(index, tensor, index in empty_allowed)
            if total > MAX_MODEL_ELEMENTS:
                raise self.fail(self.tensor_where(index), f"the model's tensors hold more than "
                                f"{MAX_MODEL_ELEMENTS} elements in all")
        for role, values in (("input", self.graph.inputs), ("output", self.graph.outputs)):
            for position, value in enumerate(indices(values)):
                self.check_index(f"subgraph {role} {position}", value, optional=False)
                if role == "input" and value in self.constant:
                    raise self.fail(self.tensor_where(value), "a model input cannot be a constant "
                                    "(its buffer holds data)")
        for index, op in enumerate(self.graph.operators or []):
            self.check_op(index, op)

    def check_index(self, where: str, value: int, optional: bool) -> None:
        if optional and value == -1:
            return
        if not 0 <= value < len(self.tensors):
            raise self.fail(where, f"tensor index {value} is out of range (the subgraph has "
                            f"{len(self.tensors)} tensors)")

    def check_tensor(self, index: int, tensor, may_be_empty: bool = False) -> int:
        where = self.tensor_where(index)
        type_name = self.type_names.get(int(tensor.type))
        if type_name is None:
            raise self.fail(where, f"type {tensor.type} is not a TFLite tensor type")
        shape = indices(tensor.shape)
        if len(shape) > MAX_RANK:
            raise self.fail(where, f"rank {len(shape)} is above {MAX_RANK}")
        elements = 1
        for axis, dim in enumerate(shape):
            if dim == 0 and may_be_empty:
                elements = 0
                continue
            if dim < 1:
                raise self.fail(where, f"dimension {axis} is {dim} (shape {shape}); every "
                                f"dimension must be at least 1")
            elements *= dim
            if elements > MAX_TENSOR_ELEMENTS:
                raise self.fail(where, f"shape {shape} has more than {MAX_TENSOR_ELEMENTS} "
                                f"elements")
        if tensor.sparsity is not None:
            raise self.fail(where, "sparse tensors are not supported")
        self.check_buffer(index, tensor, type_name, elements)
        self.check_quantization(where, tensor.quantization, type_name, shape)
        return elements

    def check_buffer(self, index: int, tensor, type_name: str, elements: int) -> None:
        where = self.tensor_where(index)
        number = int(tensor.buffer)
        if not 0 <= number < len(self.buffers):
            raise self.fail(where, f"buffer index {number} is out of range (the model has "
                            f"{len(self.buffers)} buffers)")
        buffer = self.buffers[number]
        if int(buffer.offset) > 1 or int(buffer.size) > 0:
            raise self.fail(where, f"buffer #{number} is stored outside the flatbuffer "
                            f"(offset {buffer.offset}, size {buffer.size}), which is not "
                            f"supported")
        size = 0 if buffer.data is None else len(buffer.data)
        if size == 0:
            return  # an activation
        self.constant.add(index)
        bits = ELEMENT_BITS.get(type_name)
        if bits is None:
            return
        expected = (elements * bits + 7) // 8
        if size != expected:
            raise self.fail(where, f"buffer #{number} holds {size} bytes; {elements} "
                            f"{type_name.lower()} elements need {expected}")

    def check_quantization(self, where: str, quant, type_name: str, shape: list[int]) -> None:
        scales = [] if quant is None or quant.scale is None else [float(s) for s in quant.scale]
        zeros = [] if quant is None else indices(quant.zeroPoint)
        if type_name in QUANTIZED_TYPES and not (scales and zeros):
            raise self.fail(where, f"{type_name.lower()} tensor without a scale and zero point")
        for scale in scales:
            if not (math.isfinite(scale) and scale > 0):
                raise self.fail(where, f"scale {scale} is not finite and positive")
        low, high = ZERO_POINT_RANGE.get(type_name, INT64_RANGE)
        for zero in zeros:
            if not low <= zero <= high:
                raise self.fail(where, f"zero point {zero} is outside {type_name.lower()}'s "
                                f"range [{low}, {high}]")
        if not scales and not zeros:
            return
        if len(scales) != len(zeros):
            raise self.fail(where, f"{len(scales)} scales but {len(zeros)} zero points")
        dimension = int(quant.quantizedDimension)
        if dimension < 0 or (shape and dimension >= len(shape)) or (not shape and dimension):
            raise self.fail(where, f"quantized_dimension {dimension} is not an axis of shape "
                            f"{shape}")
        if len(scales) > 1 and (not shape or len(scales) != shape[dimension]):
            raise self.fail(where, f"{len(scales)} scales for quantized_dimension {dimension} "
                            f"of shape {shape}; expected 1 or one per channel")

    def check_op(self, index: int, op) -> None:
        code_index = int(op.opcodeIndex)
        if not 0 <= code_index < len(self.codes):
            raise self.fail(f"op #{index}", f"opcode index {code_index} is out of range (the "
                            f"model has {len(self.codes)} operator codes)")
        name = op_name(self.codes[code_index], self.op_names)
        where = f"op #{index} {name}"
        inputs, outputs = indices(op.inputs), indices(op.outputs)
        known = name in OPTIONS or name in NO_OPTIONS
        optional = OPTIONAL_INPUTS.get(name, set())
        for position, value in enumerate(inputs):
            self.check_index(f"{where}: input {position}", value,
                             optional=not known or position in optional)
        if not outputs:
            raise self.fail(where, "the op has no outputs")
        for position, value in enumerate(outputs):
            self.check_index(f"{where}: output {position}", value, optional=False)
            if value in self.constant:
                raise self.fail(f"{where}: output {position}", f"{self.tensor_where(value)} is a "
                                f"constant (its buffer holds data); an op cannot write it")
        for position, value in enumerate(indices(op.intermediates)):
            self.check_index(f"{where}: intermediate {position}", value, optional=False)
        self.check_options(where, name, op)

    def check_options(self, where: str, name: str, op) -> None:
        options = op.builtinOptions
        type_name = self.options_names.get(int(op.builtinOptionsType),
                                           f"options type {op.builtinOptionsType}")
        if options is None and int(op.builtinOptionsType) != 0:
            raise self.fail(where, f"builtin options of {type_name} are unreadable")
        if name in NO_OPTIONS:
            if options is not None:
                raise self.fail(where, f"{name} takes no options, the model gives {type_name}")
            return
        if name not in OPTIONS:
            return
        expected, required = OPTIONS[name]
        if options is None:
            if required:
                raise self.fail(where, f"the {expected} table is missing")
            return
        if type_name != expected:
            raise self.fail(where, f"options are {type_name}, {name} expects {expected}")
        self.check_option_fields(where, options)

    def check_option_fields(self, where: str, options) -> None:
        for field in AT_LEAST_ONE:
            value = getattr(options, field, None)
            if value is not None and value < 1:
                raise self.fail(where, f"{field} is {value}; it must be at least 1")
        for field, enum in ENUM_FIELDS.items():
            value = getattr(options, field, None)
            if value is not None and value not in enum_names(getattr(self.schema, enum)):
                raise self.fail(where, f"{field} {value} is not a {enum} value")
        for field in SUBGRAPH_FIELDS:
            value = getattr(options, field, None)
            if isinstance(value, int) and not 0 <= value < len(self.model.subgraphs):
                raise self.fail(where, f"{field} {value} is out of range (the model has "
                                f"{len(self.model.subgraphs)} subgraphs)")


def check_model(model, schema, source: str) -> None:
    """Raises ModelError naming the first structural problem of a parsed ModelT (schema object
    API) whose first subgraph exists; returns quietly for a well-formed model."""
    _Checker(model, schema, source).run()
