"""Which layers store their int8 weights widened to int16 for the DSP kernels, under one flash
budget for the whole model.

Widened weights save the kernels the sign extension in their inner loops (a CONV_2D block's
filter words come with one LDRD instead of a load and two SXTB16; FULLY_CONNECTED's packed rows
also interleave four rows), at about twice the weights' flash. The model's constant data plus
what widening adds stays within BUDGET_BYTES: half the Nano 33 BLE's 1 MB flash, which leaves
the firmware and the rest of the model room. Layers take the budget in the .tflite's order, a
layer that does not fit is skipped and later, smaller ones may still fit, so the decision
depends only on the model."""

from __future__ import annotations

import math

import numpy as np

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.ops.conv_filter import conv_filter_layout
from tinyml_pipeline.tools.compiler.ops.fully_connected_packed import MIN_DEPTH, packed_words
from tinyml_pipeline.tools.tflite_model import OperatorInfo, TFLiteModel

BUDGET_BYTES = 512 * 1024
# CONV_2D filters this small are widened whatever the budget says: first layers with few input
# channels (digits 96 bytes, DS-CNN 2,560, ResNet-8 448), where the inner loop is shortest and
# the widening matters most.
ALWAYS_WIDENED_CONV_BYTES = 4096


def _constant_bytes(model: TFLiteModel) -> int:
    total = 0
    for index in range(model.tensor_count):
        info = model.tensor(index)
        if info.is_constant and info.dtype is not None:
            total += math.prod(info.shape) * np.dtype(info.dtype).itemsize
    return total


def _int8_weights(model: TFLiteModel, info: OperatorInfo, rank: int):
    if len(info.inputs) < 2 or min(info.inputs[:2]) < 0:
        return None
    source, weights = model.tensor(info.inputs[0]), model.tensor(info.inputs[1])
    if (source.type_name != "INT8" or not weights.is_constant or weights.type_name != "INT8"
            or len(weights.shape) != rank):
        return None
    return source, weights


def conv_growth(model: TFLiteModel, info: OperatorInfo) -> int:
    """The bytes widening adds to an int8 CONV_2D's filter as the plan lays it out (its
    conv_filter_layout depth, gaps included), 0 for any other operator."""
    operands = _int8_weights(model, info, 4) if info.name == "CONV_2D" else None
    if operands is None or len(operands[0].shape) != 4:
        return 0
    source, weights = operands
    out_c, filter_h, filter_w, filter_c = weights.shape
    options = info.options
    dilations = ((options.dilationHFactor, options.dilationWFactor) if options is not None
                 else (1, 1))
    depth, _, _ = conv_filter_layout(filter_h, filter_w, filter_c, source.shape[3],
                                     source.shape[2], *dilations)
    return out_c * depth


def fully_connected_growth(model: TFLiteModel, info: OperatorInfo) -> int:
    """The bytes packing adds to an int8 FULLY_CONNECTED's rows, 0 for any other operator or
    for rows too short to pack. Counted whether or not the layer then has the fast output stage
    packing also needs, which errs on the side of the budget."""
    operands = _int8_weights(model, info, 2) if info.name == "FULLY_CONNECTED" else None
    if operands is None:
        return 0
    units, depth = operands[1].shape
    return 4 * packed_words(units, depth) - units * depth if depth >= MIN_DEPTH else 0


def _widened(model: TFLiteModel) -> set[int]:
    """The indices of the operators whose weights are widened, in the module's order."""
    room = BUDGET_BYTES - _constant_bytes(model)
    chosen = set()
    for info in model.operators:
        conv = conv_growth(model, info)
        growth = conv or fully_connected_growth(model, info)
        if growth and (growth <= room or 0 < conv <= ALWAYS_WIDENED_CONV_BYTES):
            chosen.add(info.index)
            room -= growth
    return chosen


def conv_filter_widened(op: OpView, filter_bytes: int) -> bool:
    """Whether this CONV_2D (int8 filter of `filter_bytes` as laid out) stores it widened."""
    return filter_bytes <= ALWAYS_WIDENED_CONV_BYTES or op.index in _widened(op.model)


def packed_fits(op: OpView, depth: int) -> bool:
    """Whether this FULLY_CONNECTED layer, rows of `depth` values, stores its weights packed."""
    return depth >= MIN_DEPTH and op.index in _widened(op.model)
