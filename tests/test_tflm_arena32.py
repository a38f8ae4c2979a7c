"""tools/bench/tflm_arena32.py: TFLite Micro's arena on the 32-bit board, by TFLM's arithmetic.

Every expected figure here was measured, not derived: the board's pinned TFLM (Arduino library
tensorflow/tflite-micro-arduino-examples at 7948b85, CMSIS-NN kernels, no
TF_LITE_STATIC_MEMORY, as platformio.ini builds it) compiled with arm-none-eabi-gcc 12.2 for
the Cortex-M4F, run on QEMU mps2-an386, `arena_used_bytes()` after `AllocateTensors()` with a
16-aligned arena of 1 MiB, for each model below. That build lives beside the repository, not
in it. The single-op models are rebuilt here with the shapes and options that were measured
(weights do not change the arena); together they reach each kernel's branch: the 1x1 fast
convolution without scratch, im2col scratch, depthwise with and without its scratch, fully
connected with and without its per-channel arrays, the average pool's scratch; and each op the
library runs with its reference kernels that the arithmetic sizes (MEAN's scratch,
CONCATENATION's per-input arrays, the OpData of the others).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tests.support.modelgen import _schema
from tests.support.opbuild import Operand, PerChannel, Quantization, single_op_model
from tinyml_pipeline.tools.bench import report
from tinyml_pipeline.tools.bench.bench import target_arena
from tinyml_pipeline.tools.bench.tflm_arena32 import NotSized, greedy_plan_size, tflm_arena32
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

# model: (arena_used_bytes on QEMU, head = the planner's, tail = the rest)
COMMITTED = {"linear": (516, 32), "digits": (9060, 6768), "activity": (3380, 1792)}

Q = Quantization(0.05, 3)


def _weights(shape) -> np.ndarray:
    return np.ones(shape, np.int8)


def _out_size(size: int, kernel: int, stride: int, same: bool, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    return -(-size // stride) if same else (size - effective) // stride + 1


def _conv(h, w, c, k, out, stride=1, same=True, dilation=1) -> bytes:
    schema = _schema()
    options = schema.Conv2DOptionsT()
    options.padding = 0 if same else 1
    options.strideH = options.strideW = stride
    options.dilationHFactor = options.dilationWFactor = dilation
    oh, ow = (_out_size(n, k, stride, same, dilation) for n in (h, w))
    return single_op_model("CONV_2D", [
        Operand((1, h, w, c), Q),
        Operand((out, k, k, c), PerChannel((0.01,) * out), _weights((out, k, k, c))),
        Operand((out,), None, np.zeros(out, np.int32))], (1, oh, ow, out), Q, options)


def _depthwise(h, w, c, k, multiplier=1, same=True, dilation=1) -> bytes:
    schema = _schema()
    options = schema.DepthwiseConv2DOptionsT()
    options.padding = 0 if same else 1
    options.strideH = options.strideW = 1
    options.depthMultiplier = multiplier
    options.dilationHFactor = options.dilationWFactor = dilation
    out = c * multiplier
    oh, ow = (_out_size(n, k, 1, same, dilation) for n in (h, w))
    return single_op_model("DEPTHWISE_CONV_2D", [
        Operand((1, h, w, c), Q),
        Operand((1, k, k, out), PerChannel((0.01,) * out, 3), _weights((1, k, k, out))),
        Operand((out,), None, np.zeros(out, np.int32))], (1, oh, ow, out), Q, options)


def _dense(input_shape, units, output_shape) -> bytes:
    options = _schema().FullyConnectedOptionsT()
    options.keepNumDims = len(output_shape) > 2
    depth = input_shape[-1]
    return single_op_model("FULLY_CONNECTED", [
        Operand(input_shape, Q), Operand((units, depth), Quantization(0.01, 0),
                                         _weights((units, depth))),
        Operand((units,), None, np.zeros(units, np.int32))], output_shape, Q, options)


def _pool(op: str) -> bytes:
    options = _schema().Pool2DOptionsT()
    options.padding = 1
    options.strideH = options.strideW = options.filterHeight = options.filterWidth = 2
    return single_op_model(op, [Operand((1, 6, 6, 10), Q)], (1, 3, 3, 10), Q, options)


def _elementwise(op: str, output: Quantization) -> bytes:
    options = getattr(_schema(), f"{op.title()}OptionsT")()
    shape = (1, 4, 4, 3)
    return single_op_model(op, [Operand(shape, Q), Operand(shape, Q, _weights(shape))], shape,
                           output, options)


def _softmax() -> bytes:
    options = _schema().SoftmaxOptionsT()
    options.beta = 1.0
    return single_op_model("SOFTMAX", [Operand((1, 13), Q)], (1, 13),
                           Quantization(1 / 256, -128), options)


def _reshape() -> bytes:
    options = _schema().ReshapeOptionsT()
    options.newShape = [1, 12]
    return single_op_model("RESHAPE", [Operand((1, 2, 2, 3), Q),
                                       Operand((2,), None, np.array([1, 12], np.int32))],
                           (1, 12), Q, options)


def _reference_op(op: str, options_name: str | None = None, **fields) -> bytes:
    """One of the ops the pinned library runs with its reference kernels, on (1, 4, 4, 3)."""
    shape = (1, 4, 4, 3)
    options = getattr(_schema(), options_name)() if options_name else None
    for name, value in fields.items():
        setattr(options, name, value)
    operands, output = [Operand(shape, Q)], shape
    if op in ("PAD", "PADV2"):
        operands.append(Operand((4, 2), None, np.array([[0, 0], [1, 1], [0, 2], [0, 0]],
                                                       np.int32)))
        output = (1, 6, 6, 3)
    elif op == "CONCATENATION":
        operands.append(Operand(shape, Q, _weights(shape)))
        output = (1, 4, 4, 6)
    elif op == "MEAN":
        operands.append(Operand((2,), None, np.array([1, 2], np.int32)))
        output = (1, 1, 1, 3)
    elif op == "SQUEEZE":
        operands, output = [Operand((1, 4, 1, 3), Q)], (1, 4, 3)
    elif op == "EXPAND_DIMS":
        operands.append(Operand((1,), None, np.array([1], np.int32)))
        output = (1, 1, 4, 4, 3)
    quantization = {"LOGISTIC": Quantization(1 / 256, -128),
                    "TANH": Quantization(1 / 128, 0)}.get(op, Q)
    return single_op_model(op, operands, output, quantization, options)


# name: (builder, arena_used_bytes measured on QEMU, scratch requests)
SINGLE_OPS = {
    "conv 3x3, im2col scratch": (lambda: _conv(8, 8, 3, 3, 5), 1204, [108]),
    "conv 1x1 stride 1, no scratch": (lambda: _conv(6, 6, 8, 1, 4), 980, []),
    "conv 1x1 stride 2, scratch": (lambda: _conv(6, 6, 8, 1, 4, stride=2), 916, [32]),
    "conv valid, dilated": (lambda: _conv(9, 9, 2, 3, 6, same=False, dilation=2), 996, [72]),
    "depthwise 3x3, scratch": (lambda: _depthwise(7, 7, 6, 3), 1300, [108]),
    "depthwise multiplier 2, none": (lambda: _depthwise(5, 5, 3, 3, multiplier=2), 820, []),
    "depthwise dilated, none": (lambda: _depthwise(9, 9, 4, 3, same=False, dilation=2), 996,
                                []),
    "dense, rank 2": (lambda: _dense((1, 20), 7, (1, 7)), 532, []),
    "dense, rank 3, depth % 4 == 0": (lambda: _dense((1, 3, 8), 5, (1, 3, 5)), 596, []),
    "dense, rank 3, odd depth": (lambda: _dense((1, 3, 6), 5, (1, 3, 5)), 532, []),
    "average pool": (lambda: _pool("AVERAGE_POOL_2D"), 996, [40]),
    "max pool": (lambda: _pool("MAX_POOL_2D"), 948, []),
    "add": (lambda: _elementwise("ADD", Q), 580, []),
    "mul": (lambda: _elementwise("MUL", Quantization(0.2, -1)), 548, []),
    "softmax": (_softmax, 500, []),
    "reshape": (_reshape, 468, []),
    "pad": (lambda: _reference_op("PAD"), 628, []),
    "padv2": (lambda: _reference_op("PADV2"), 628, []),
    "concatenation": (lambda: _reference_op("CONCATENATION", "ConcatenationOptionsT", axis=3),
                      628, []),
    "mean": (lambda: _reference_op("MEAN", "ReducerOptionsT", keepDims=True), 532, [12]),
    "quantize": (lambda: _reference_op("QUANTIZE"), 532, []),
    "relu": (lambda: _reference_op("RELU"), 532, []),
    "relu6": (lambda: _reference_op("RELU6"), 500, []),
    "logistic": (lambda: _reference_op("LOGISTIC"), 516, []),
    "tanh": (lambda: _reference_op("TANH"), 516, []),
    "squeeze": (lambda: _reference_op("SQUEEZE", "SqueezeOptionsT", squeezeDims=[2]), 452, []),
    "expand_dims": (lambda: _reference_op("EXPAND_DIMS"), 500, []),
}


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_models_match_the_board(name):
    total, head = COMMITTED[name]
    arena = tflm_arena32(TFLiteModel.from_file(MODELS_DIR / name / "model.tflite"))
    assert (arena.total, arena.head, arena.tail) == (total, head, total - head)
    assert sum(arena.tail_parts.values()) == arena.tail


@pytest.mark.parametrize("name", SINGLE_OPS)
def test_each_kernel_branch_matches_the_board(name):
    build, total, scratch = SINGLE_OPS[name]
    arena = tflm_arena32(TFLiteModel(build(), name))
    assert arena.total == total
    assert arena.scratch == scratch


def test_greedy_planner_reuses_a_dead_buffers_space():
    # the 64-byte buffer is dead from step 2: the 16-byte one takes its place, the 32-byte one,
    # live throughout, sits above it
    assert greedy_plan_size([(64, 0, 1), (16, 2, 3), (32, 0, 3)]) == 96
    # three buffers live at step 2 at once: stacked in size order
    assert greedy_plan_size([(32, 0, 2), (16, 1, 2), (48, 2, 3)]) == 96
    assert greedy_plan_size([(32, 0, 1), (16, 1, 2), (48, 2, 3)]) == 64
    assert greedy_plan_size([]) == 0


def test_an_op_it_does_not_size_is_named_not_guessed():
    data = single_op_model("HARD_SWISH", [Operand((1, 8), Q)], (1, 8), Q)
    with pytest.raises(NotSized, match="operator 0 is HARD_SWISH") as error:
        tflm_arena32(TFLiteModel(data, "swish.tflite"))
    assert isinstance(error.value, InputError)
    # the bench reports no figure and the reason, and still runs
    reason = target_arena(TFLiteModel(data, "swish.tflite"))
    assert isinstance(reason, str) and "HARD_SWISH" in reason
    figures = report.target_arena_figures(100, reason)
    assert figures["tflm_arena_32bit"] is None and figures["plan_over_tflm_32bit"] is None
    assert figures["tflm_arena_32bit_detail"]["not_sized"] == reason


def test_bench_figures_for_a_sized_model():
    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    figures = report.target_arena_figures(6240, target_arena(model))
    assert figures["tflm_arena_32bit"] == 9060
    assert figures["plan_over_tflm_32bit"] == 6240 / 9060
    detail = figures["tflm_arena_32bit_detail"]
    assert detail["head"] + detail["tail"] == 9060 and "7948b85" in detail["method"]
