"""PAD, PADV2 and CONCATENATION (int8): bytes moved, never rescaled, as in TFLM."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView, Tensor
from tinyml_pipeline.tools.compiler.layers import Layer, Offset, Operand
from tinyml_pipeline.tools.compiler.ops import lowering
from tinyml_pipeline.tools.compiler.ops.common import (
    require_int8_activation,
    require_int8_tensor,
    require_same_quantization,
    require_shape,
)
from tinyml_pipeline.tools.compiler.quantization import ACTIVATION_NAMES, ACTIVATION_NONE

HEADER = "tinyml/op_data_movement.h"
PAD_DIMS = 5  # TFLM's PadKernelMaxDimensionCount; the C kernel extends shapes to this rank
CONCAT_MAX_INPUTS = 10  # TFLM's kMaxInputNum for CONCATENATION
MAX_RANK = 6  # RuntimeShape::kMaxSmallSize, TFLM's limit for CONCATENATION


def _paddings(op: OpView, rank: int) -> np.ndarray:
    """The constant [rank, 2] paddings; TFLM reads them as int32 at Prepare."""
    paddings = op.input(1)
    op.require(paddings is not None and paddings.is_constant, "the paddings must be constant")
    op.require_types(paddings, "INT32")
    require_shape(op, paddings, "paddings", rank=2)
    op.require(paddings.size == 2 * rank,
               f"{paddings.size} padding values for a rank-{rank} tensor (expected {2 * rank})")
    values = paddings.data.reshape(rank, 2).astype(np.int64)
    op.require(bool((values >= 0).all()), f"negative paddings {values.tolist()} are not "
                                          f"supported")
    return values


def _pad_value(op: OpView, output: Tensor) -> int:
    """PAD pads with the output zero point; PADV2 with its constant, which TFLM requires to be
    quantized like the output."""
    if op.input_count < 3:
        return output.zero_point
    constant = op.input(2)
    op.require(constant is not None and constant.is_constant,
               "the PADV2 pad value must be constant")
    op.require_types(constant, "INT8")
    op.require(constant.size == 1, f"the pad value must be a scalar, got {constant.size} values")
    require_same_quantization(op, constant, output, "pad value",
                              "TFLM requires the pad value quantized like the output")
    return int(constant.data.reshape(-1)[0])


@lowering("PAD", "PADV2")
def lower_pad(op: OpView) -> Layer:
    op.options_of("PadOptionsT" if op.name == "PAD" else "PadV2OptionsT", required=False)
    op.require(op.input_count in ((2,) if op.name == "PAD" else (2, 3)),
               f"input count {op.input_count} is not what {op.name} takes")
    source, output = op.input(0), op.output()
    require_int8_activation(op, source, "input")
    require_int8_activation(op, output, "output")
    # TFLM's PAD copies bytes: the output must be quantized like the input.
    require_same_quantization(op, source, output, "input", "PAD does not rescale")
    rank = len(source.shape)
    op.require(rank <= PAD_DIMS, f"rank {rank} input; TFLM pads at most {PAD_DIMS} dimensions")
    op.require(len(output.shape) == rank, f"output rank {len(output.shape)} differs from the "
                                          f"input rank {rank}")
    paddings = _paddings(op, rank)
    expected = [int(d + before + after)
                for d, (before, after) in zip(source.shape, paddings, strict=True)]
    op.require(list(output.shape) == expected,
               f"output shape {list(output.shape)} is not the padded input shape {expected}")
    lead = PAD_DIMS - rank  # leading dimensions of 1, unpadded
    return Layer(
        op=op.name, op_index=op.index, kernel="tinyml_pad_s8", params_type="tinyml_pad_params",
        header=HEADER,
        fields=[("input", Offset(source.index)), ("output", Offset(output.index)),
                ("input_shape", [1] * lead + [int(d) for d in source.shape]),
                ("pad_before", [0] * lead + [int(p) for p in paddings[:, 0]]),
                ("pad_after", [0] * lead + [int(p) for p in paddings[:, 1]]),
                ("pad_value", _pad_value(op, output))],
        reads=(source.index,), writes=(output.index,))


def _concat_input(op: OpView, position: int, output: Tensor) -> Tensor:
    tensor = require_int8_tensor(op, op.input(position), f"input {position}")
    # TFLM's int8 kernel copies bytes and refuses inputs that would need rescaling.
    require_same_quantization(op, tensor, output, f"input {position}",
                              "TFLM requires equal scales and zero points")
    op.require(len(tensor.shape) == len(output.shape),
               f"input '{tensor.info.name}' has rank {len(tensor.shape)}, the output "
               f"{len(output.shape)}")
    return tensor


@lowering("CONCATENATION")
def lower_concatenation(op: OpView) -> Layer:
    output = op.output()
    options = op.options_of("ConcatenationOptionsT")
    require_int8_activation(op, output, "output")
    activation = options.fusedActivationFunction
    op.require(activation == ACTIVATION_NONE, f"fused activation "
               f"{ACTIVATION_NAMES.get(activation, activation)} is not supported (TFLM refuses it)")
    count = op.input_count
    op.require(1 <= count <= CONCAT_MAX_INPUTS, f"{count} inputs; TFLM concatenates at most "
                                                f"{CONCAT_MAX_INPUTS}")
    rank = len(output.shape)
    op.require(1 <= rank <= MAX_RANK, f"rank {rank} output is not supported (1 to {MAX_RANK})")
    axis = options.axis
    op.require(-rank <= axis < rank, f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    inputs = [_concat_input(op, position, output) for position in range(count)]
    for tensor in inputs:
        others = [d for i, d in enumerate(tensor.shape) if i != axis]
        op.require(others == [d for i, d in enumerate(output.shape) if i != axis],
                   f"input shape {list(tensor.shape)} does not fit the output "
                   f"{list(output.shape)} on axis {axis}")
    op.require(sum(t.shape[axis] for t in inputs) == output.shape[axis],
               f"input sizes on axis {axis} do not add up to {output.shape[axis]}")
    inner = int(np.prod(output.shape[axis + 1:], dtype=np.int64))
    return Layer(
        op="CONCATENATION", op_index=op.index, kernel="tinyml_concatenation_s8",
        params_type="tinyml_concatenation_params", header=HEADER,
        fields=[("output", Offset(output.index)), ("input_count", count),
                ("outer_size", int(np.prod(output.shape[:axis], dtype=np.int64))),
                ("copy_bytes", [int(t.shape[axis]) * inner for t in inputs]),
                ("inputs", [Operand(t.index) for t in inputs])],
        reads=tuple(dict.fromkeys(t.index for t in inputs if not t.is_constant)),
        writes=(output.index,))
