"""Multiply-accumulates per operator, counted as the model cards count them.

training/pipeline.py writes TFLiteModel.macs() into card.json: the products of CONV_2D,
DEPTHWISE_CONV_2D and FULLY_CONNECTED, one per weight use. Those are the ops whose inner loop is
a multiply-accumulate of an activation and a weight, and the ops with DSP paths. The other ops
the runtime has (ADD, MUL, pooling, MEAN, SOFTMAX, ...) do a few operations per element, not per
weight; they get 0 MACs here and show up in the per-layer costs on their own. Both come from
TFLiteModel.op_macs, so the bench and the cards agree.
"""

from __future__ import annotations

from tinyml_pipeline.tools.tflite_model import TFLiteModel

# A Cortex-M4's SMLAD multiplies two pairs of 16-bit halves and adds both products to an
# accumulator in one instruction: int8 MACs widened to 16 bits need at least MACs / 2 of them.
MACS_PER_INSTRUCTION = 2


def op_macs(model: TFLiteModel, op_index: int) -> int:
    """MACs of one inference of operator `op_index` (TFLiteModel.op_macs, which the cards'
    totals come from)."""
    return model.op_macs(model.operators[op_index])


def lower_bound_instructions(macs: int) -> float:
    """The fewest instructions that MACs need on a Cortex-M4 with dual 16-bit MACs."""
    return macs / MACS_PER_INSTRUCTION
