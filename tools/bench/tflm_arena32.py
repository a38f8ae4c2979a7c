"""TFLite Micro's arena on the 32-bit board, by TFLM's own allocation arithmetic.

The figure is what `MicroInterpreter::arena_used_bytes()` returns after `AllocateTensors()` in
the TFLM that the board's firmware links: the Arduino library `platformio.ini` pins
(tensorflow/tflite-micro-arduino-examples at 7948b85, 2023), with its CMSIS-NN kernels for
CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, SOFTMAX, the pools, ADD and MUL (its reference
kernels for the other ops sized: QUANTIZE, DEQUANTIZE, PAD, PADV2, CONCATENATION, LOGISTIC,
TANH, RELU, RELU6, MEAN, RESHAPE, SQUEEZE, EXPAND_DIMS), built for a
Cortex-M4 with the DSP extension (ILP32: 4-byte pointers). TFLM's 64-bit host interpreter (pip
`tflite_micro`) cannot give it: its pointers are 8 bytes and its kernels are the reference ones,
whose scratch buffers differ.

That figure is head + tail of TFLM's single arena:
- head: the greedy memory planner's high-water mark over every activation tensor and every
  kernel scratch buffer, each rounded up to 16 bytes (`GreedyMemoryPlanner`, replayed below
  step for step: same order, same first fit);
- tail: the persistent allocations, in the order TFLM makes them, each aligned down from the
  arena's end to its type's alignment (16 for kernel data): the allocator objects, the
  TfLiteEvalTensor and NodeAndRegistration arrays, each operator's builtin parameters, each
  kernel's OpData and per-channel arrays, the scratch-buffer handles, and the input and output
  TfLiteTensors with their quantization.

Struct sizes are `sizeof` / `alignof` on arm-none-eabi-gcc 12 for the pinned library's headers.
The arithmetic is exact for the operators and types sized below, for a model with one subgraph,
no offline memory plan, and an arena whose end is 16-byte aligned: a 16-aligned arena of a
multiple of 16 bytes, as the firmware's is (firmware/src/tflm_backend.cpp; the converter rounds
its size to 16). Any other model raises NotSized rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import OperatorInfo, TFLiteModel

LIBRARY = ("TFLM Arduino library 7948b85 (the board's pinned TFLM, CMSIS-NN kernels, "
           "Cortex-M4 with DSP, 4-byte pointers)")
ALIGNMENT = 16  # MicroArenaBufferAlignment(): head buffers and kernel persistent data

# (sizeof, alignof) on the 32-bit target.
SINGLE_ARENA_ALLOCATOR = (36, 4)   # two vtable pointers, five pointers, two counters
GREEDY_PLANNER = (44, 4)
MICRO_ALLOCATOR = (36, 4)
BUILTIN_DATA_ALLOCATOR = (8, 4)     # vtable pointer + the persistent allocator
SUBGRAPH_ALLOCATIONS = (8, 4)       # node_and_registrations, tensors
EVAL_TENSOR = (12, 4)               # data, dims, type
NODE_AND_REGISTRATION = (44, 4)     # TfLiteNode 40 (with user_data) + registration pointer
SCRATCH_HANDLE = (4, 4)
TFLITE_TENSOR = (64, 4)
AFFINE_QUANTIZATION = (12, 4)       # scale, zero_point, quantized_dimension
POINTER = 4

# Builtin parameter structs the op's parser allocates, whatever the options say; None: its
# parser allocates nothing.
BUILTIN_DATA = {
    "CONV_2D": (24, 4),                 # TfLiteConvParams
    "DEPTHWISE_CONV_2D": (28, 4),       # TfLiteDepthwiseConvParams
    "FULLY_CONNECTED": (4, 1),          # TfLiteFullyConnectedParams
    "SOFTMAX": (4, 4),                  # TfLiteSoftmaxParams
    "MAX_POOL_2D": (40, 4),             # TfLitePoolParams (with the computed padding)
    "AVERAGE_POOL_2D": (40, 4),
    "ADD": (2, 1),                      # TfLiteAddParams
    "MUL": (1, 1),                      # TfLiteMulParams
    "RESHAPE": (36, 4),                 # TfLiteReshapeParams (8 dims inline)
    "SQUEEZE": (36, 4),                 # TfLiteSqueezeParams
    "CONCATENATION": (8, 4),            # TfLiteConcatenationParams
    "MEAN": (1, 1),                     # TfLiteReducerParams
    "QUANTIZE": None, "DEQUANTIZE": None, "PAD": None, "PADV2": None, "LOGISTIC": None,
    "TANH": None, "RELU": None, "RELU6": None, "EXPAND_DIMS": None,
}
# The OpData each kernel's Init asks for (16-aligned); 0: the kernel has no Init.
OP_DATA = {
    "CONV_2D": 60,            # cmsis_nn/conv.cpp: OpDataConv 56 + buffer_idx
    "DEPTHWISE_CONV_2D": 60,  # cmsis_nn/depthwise_conv.cpp: the same shape
    "FULLY_CONNECTED": 60,    # OpDataFullyConnected 36 + two pointers + four ints
    "SOFTMAX": 64,            # CMSISNNSoftmaxParams: SoftmaxParams 56 + two ints
    "MAX_POOL_2D": 36,        # OpDataPooling 32 + buffer_idx
    "AVERAGE_POOL_2D": 36,
    "ADD": 60,                # cmsis_nn/add.cpp's OpData
    "MUL": 36,                # OpDataMul
    "RESHAPE": 0,
    "SQUEEZE": 0,
    "EXPAND_DIMS": 0,
    "QUANTIZE": 32,           # OpDataQuantizeReference
    "DEQUANTIZE": 32,         # DequantizeOpData
    "PAD": 56,                # pad.cpp's OpData: PadParams + output zero point
    "PADV2": 56,
    "CONCATENATION": 24,      # concatenation.cpp's OpData: ConcatenationParams
    "LOGISTIC": 16,           # OpDataLogistic
    "TANH": 16,               # tanh.cpp's OpData
    "RELU": 28,               # ReluOpData
    "RELU6": 2,               # Relu6OpData
    "MEAN": 40,               # OpDataReduce
}
TYPE_BYTES = {"FLOAT32": 4, "INT32": 4, "UINT32": 4, "INT8": 1, "UINT8": 1, "BOOL": 1,
              "INT16": 2, "UINT16": 2, "FLOAT16": 2, "INT64": 8, "UINT64": 8, "FLOAT64": 8}


class NotSized(InputError):
    """The model holds something this arithmetic does not size exactly."""


@dataclass
class Arena32:
    head: int                       # the memory planner's activations and scratch buffers
    tail: int                       # persistent: interpreter state and kernel data
    tail_parts: dict[str, int] = field(default_factory=dict)  # bytes, padding included
    scratch: list[int] = field(default_factory=list)         # kernel scratch requests

    @property
    def total(self) -> int:
        return self.head + self.tail


def _round_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class _Tail:
    """TFLM's persistent allocator: each allocation moves the tail down by its size, then down
    to its alignment. Addresses count from the arena's (16-aligned) end, so they are <= 0."""

    def __init__(self):
        self.pointer = 0
        self.parts: dict[str, int] = {}

    def allocate(self, part: str, size: int, alignment: int) -> None:
        before = self.pointer
        self.pointer = (self.pointer - size) // alignment * alignment
        self.parts[part] = self.parts.get(part, 0) + before - self.pointer

    @property
    def used(self) -> int:
        return -self.pointer


def greedy_plan_size(buffers: list[tuple[int, int, int]]) -> int:
    """GreedyMemoryPlanner::GetMaximumMemorySize for (size, first use, last use) buffers, added
    in this order. The planner takes them largest first (a stable bubble sort of the list it
    filled back to front, so equal sizes go last-added first) and puts each at the lowest
    offset where it fits between the buffers live at the same time, in offset order."""
    if not buffers:
        return 0
    order = sorted(range(len(buffers))[::-1], key=lambda i: -buffers[i][0])
    placed: list[tuple[int, int]] = []  # (offset, buffer), kept sorted by offset (stable)
    for wanted in order:
        size, first, last = buffers[wanted]
        offset = 0
        for placed_offset, other in placed:
            _, other_first, other_last = buffers[other]
            if other_first > last or first > other_last:
                continue  # not live at the same time
            if placed_offset - offset >= size:
                break
            offset = max(offset, placed_offset + buffers[other][0])
        # after every entry at an offset <= its own, as the planner links its list
        index = next((i for i, (other_offset, _) in enumerate(placed) if other_offset > offset),
                     len(placed))
        placed.insert(index, (offset, wanted))
    return max(offset + buffers[index][0] for offset, index in placed)


def _tensor_bytes(model: TFLiteModel, index: int) -> int:
    tensor = model.tensor(index)
    if tensor.type_name not in TYPE_BYTES:
        raise NotSized(f"{model.source}: tensor {index} has type {tensor.type_name}, which "
                       f"the 32-bit TFLM arena arithmetic does not size")
    count = 1
    for dim in tensor.shape:
        count *= dim
    return count * TYPE_BYTES[tensor.type_name]


def _padding(in_size: int, filter_size: int, stride: int, dilation: int, out_size: int) -> int:
    """TFLM's ComputePaddingWithOffset: the leading padding of one spatial dimension."""
    effective = (filter_size - 1) * dilation + 1
    return max((out_size - 1) * stride + effective - in_size, 0) // 2


def _kernel_needs(model: TFLiteModel, op: OperatorInfo) -> tuple[list[int], list[int]]:
    """The persistent buffers (bytes, 16-aligned) an op's Prepare allocates after its OpData,
    and the scratch buffers it requests, for the pinned library's kernels on a DSP core."""
    name = op.name
    shape = {"input": model.tensor(op.inputs[0]).shape}
    if len(op.inputs) > 1 and op.inputs[1] >= 0:
        shape["filter"] = model.tensor(op.inputs[1]).shape
    input_type = model.tensor(op.inputs[0]).type_name
    output = model.tensor(op.outputs[0]).shape
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "ADD", "MUL",
                "AVERAGE_POOL_2D", "MAX_POOL_2D") and input_type != "INT8":
        raise NotSized(f"{model.source}: operator {op.index} ({name}) has {input_type} "
                       "input; only int8 kernels are sized")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and "filter" not in shape:
        raise NotSized(f"{model.source}: operator {op.index} ({name}) has no weights")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        filter_tensor = model.tensor(op.inputs[1])
        if filter_tensor.type_name != "INT8":
            raise NotSized(f"{model.source}: operator {op.index} ({name}) has "
                           f"{filter_tensor.type_name} weights; only int8 weights are sized")
        options = op.options
        if options is None or len(shape["input"]) != 4 or len(filter_tensor.shape) != 4:
            raise NotSized(f"{model.source}: operator {op.index} ({name}) without options or "
                           "with a rank other than 4, which TFLM's Prepare rejects")
        _, in_h, in_w, in_c = shape["input"]
        _, k_h, k_w, _ = shape["filter"]
        dilation = (options.dilationHFactor, options.dilationWFactor)
        # per-channel multipliers and shifts, one int32 per output channel each
        channels = filter_tensor.shape[3 if name == "DEPTHWISE_CONV_2D" else 0]
        persistent = [4 * channels, 4 * channels]
        if name == "CONV_2D":
            pad_h = _padding(in_h, k_h, options.strideH, dilation[0], output[1])
            pad_w = _padding(in_w, k_w, options.strideW, dilation[1], output[2])
            fast_1x1 = (pad_h == pad_w == 0 and options.strideH == options.strideW == 1
                        and k_h == k_w == 1 and dilation == (1, 1))
            # arm_convolve_1x1_s8_fast needs none; arm_convolve_s8 and _1_x_n_s8 an im2col
            # of two columns of int16
            scratch = 0 if fast_1x1 else 2 * in_c * k_w * k_h * 2
        else:
            # arm_depthwise_conv_s8_opt (multiplier 1, no dilation) with ARM_MATH_DSP: one
            # int16 column; the generic arm_depthwise_conv_s8 needs none
            opt = in_c == output[3] and shape["input"][0] == 1 and dilation == (1, 1)
            scratch = in_c * k_w * k_h * 2 if opt else 0
        return persistent, [scratch] if scratch else []
    if name == "FULLY_CONNECTED":
        if model.tensor(op.inputs[1]).type_name != "INT8":
            raise NotSized(f"{model.source}: operator {op.index} (FULLY_CONNECTED) has "
                           "non-int8 weights; only int8 weights are sized")
        accum_depth = shape["filter"][-1]
        # a rank > 2 output with accum_depth % 4 == 0 goes through the 1x1 convolution,
        # which keeps per-channel arrays; neither path asks for scratch
        if len(output) > 2 and accum_depth % 4 == 0:
            return [4 * output[-1], 4 * output[-1]], []
        return [], []
    if name == "AVERAGE_POOL_2D":
        if len(output) != 4:
            raise NotSized(f"{model.source}: operator {op.index} (AVERAGE_POOL_2D) with a rank "
                           "other than 4, which TFLM's Prepare rejects")
        return [], [4 * output[3]]  # arm_avgpool_s8 with ARM_MATH_DSP: one int32 per channel
    if name == "CONCATENATION":
        # int8 keeps each input's scale and zero point
        count = len(op.inputs)
        return ([4 * count, 4 * count] if model.tensor(op.outputs[0]).type_name == "INT8"
                else []), []
    if name == "MEAN":
        if input_type in ("INT8", "INT16"):  # an int32 accumulator per output element
            elements = 1
            for dim in output:
                elements *= dim
            return [], [4 * elements]
        if input_type != "FLOAT32":
            raise NotSized(f"{model.source}: operator {op.index} (MEAN) has {input_type} "
                           "input; int8, int16 and float32 are sized")
        return [], []
    if name in OP_DATA:  # the rest allocate nothing beyond their OpData
        return [], []
    raise NotSized(f"{model.source}: operator {op.index} is {name}, which the 32-bit TFLM "
                   f"arena arithmetic does not size (it sizes {', '.join(OP_DATA)})")


def _check_sizable(model: TFLiteModel) -> None:
    raw = model._model  # the schema's ModelT, for what TFLiteModel does not expose
    if len(raw.subgraphs) != 1:
        raise NotSized(f"{model.source}: {len(raw.subgraphs)} subgraphs; the 32-bit TFLM "
                       "arena arithmetic sizes one")
    for metadata in raw.metadata or []:
        name = metadata.name.decode() if isinstance(metadata.name, bytes) else metadata.name
        if name == "OfflineMemoryAllocation":
            raise NotSized(f"{model.source}: carries an offline memory plan, which the 32-bit "
                           "TFLM arena arithmetic does not replay")
    for op in model.operators:
        if op.name not in OP_DATA:
            raise NotSized(f"{model.source}: operator {op.index} is {op.name}, which the "
                           f"32-bit TFLM arena arithmetic does not size (it sizes "
                           f"{', '.join(OP_DATA)})")


def tflm_arena32(model: TFLiteModel) -> Arena32:
    """`arena_used_bytes()` of the pinned TFLM on the 32-bit board after AllocateTensors.
    NotSized (an InputError) for a model outside what the arithmetic covers exactly."""
    _check_sizable(model)
    operators = model.operators
    variables = [i for i in range(model.tensor_count)
                 if model._model.subgraphs[0].tensors[i].isVariable]
    tail = _Tail()
    # MicroInterpreter's constructor: MicroAllocator::Create puts the arena allocator, the
    # greedy planner and the MicroAllocator itself in the tail
    tail.allocate("allocator objects", *SINGLE_ARENA_ALLOCATOR)
    tail.allocate("allocator objects", *GREEDY_PLANNER)
    tail.allocate("allocator objects", *MICRO_ALLOCATOR)
    # AllocateTensors -> StartModelAllocation
    tail.allocate("allocator objects", *BUILTIN_DATA_ALLOCATOR)
    tail.allocate("subgraph arrays", *SUBGRAPH_ALLOCATIONS)
    tail.allocate("TfLiteEvalTensor", EVAL_TENSOR[0] * model.tensor_count, EVAL_TENSOR[1])
    tail.allocate("NodeAndRegistration", NODE_AND_REGISTRATION[0] * len(operators),
                  NODE_AND_REGISTRATION[1])
    for op in operators:  # the parsers' builtin data
        if BUILTIN_DATA[op.name]:
            tail.allocate("builtin data", *BUILTIN_DATA[op.name])
    for op in operators:  # each kernel's Init
        if OP_DATA[op.name]:
            tail.allocate("op data", OP_DATA[op.name], ALIGNMENT)
    scratch_requests: list[tuple[int, int]] = []  # (bytes, node)
    for op in operators:  # each kernel's Prepare
        persistent, scratch = _kernel_needs(model, op)
        for size in persistent:
            tail.allocate("op data", size, ALIGNMENT)
        scratch_requests += [(size, op.index) for size in scratch]
    # FinishModelAllocation: the scratch handles, then the variable tensors, then the plan
    if scratch_requests:
        tail.allocate("scratch handles", SCRATCH_HANDLE[0] * len(scratch_requests),
                      SCRATCH_HANDLE[1])
    for index in variables:
        tail.allocate("variable tensors", _tensor_bytes(model, index), ALIGNMENT)
    head = greedy_plan_size(_plan_buffers(model, scratch_requests, set(variables)))
    # the interpreter's input and output TfLiteTensors
    for indices in (model.input_indices, model.output_indices):
        tail.allocate("input/output TfLiteTensor", POINTER * len(indices), ALIGNMENT)
        for index in indices:
            tail.allocate("input/output TfLiteTensor", *TFLITE_TENSOR)
            tensor = model.tensor(index)
            if tensor.scales and tensor.zero_points:
                tail.allocate("input/output TfLiteTensor", *AFFINE_QUANTIZATION)
                tail.allocate("input/output TfLiteTensor", 4 + 4 * len(tensor.scales), 4)
    return Arena32(head=_round_up(head, ALIGNMENT), tail=tail.used, tail_parts=tail.parts,
                   scratch=[size for size, _ in scratch_requests])


def _plan_buffers(model: TFLiteModel, scratch_requests: list[tuple[int, int]],
                  variables: set[int]) -> list[tuple[int, int, int]]:
    """AllocationInfoBuilder's buffers: every tensor without data (not a variable, not empty)
    in index order, then the scratch requests; lifetimes in allocation scopes (0 = the
    inputs, op i = i + 1); a tensor nothing uses keeps the lifetime [-1, -1]."""
    first = [-1] * model.tensor_count
    last = [-1] * model.tensor_count

    def touch(index: int, scope: int, create: bool) -> None:
        if create and first[index] == -1:
            first[index] = scope
        last[index] = scope

    for index in model.input_indices:
        touch(index, 0, True)
    for op in model.operators:
        scope = op.index + 1
        for index in op.outputs:
            if first[index] == -1:
                first[index] = scope
        for index in op.inputs:
            if index >= 0:
                last[index] = scope
        for index in op.outputs:
            last[index] = scope
    end = len(model.operators)
    for index in model.output_indices:
        touch(index, end, True)
    buffers = []
    for index in range(model.tensor_count):
        size = _tensor_bytes(model, index)
        if model.tensor(index).is_constant or index in variables or size == 0:
            continue
        buffers.append((_round_up(size, ALIGNMENT), first[index], last[index]))
    for size, node in scratch_requests:
        buffers.append((_round_up(size, ALIGNMENT), node + 1, node + 1))
    return buffers
