"""FULLY_CONNECTED's packed weights: the int8 rows widened to int16 pairs, four rows
interleaved, with each group's start values and output stage, in the order the DSP kernel
reads them (op_fully_connected_dsp.h, op_fully_connected_asm.h)."""

from __future__ import annotations

import math

import numpy as np

# Rows per group: the assembly keeps four accumulators and loads a block's four rows with two
# LDMs of four registers.
ROWS = 4
# Rows of fewer values have no whole block for the assembly; packed, they would run in C at a
# higher cost than their int8 rows (the `linear` model's 1x1 layer: 103 instructions, 256
# packed), so they stay int8.
MIN_DEPTH = 4
# The packed words are about twice the int8 weights (4 bytes per 2 weights) plus 64 bytes per
# group of rows; widening_budget.py decides which layers carry them (the MLPerf autoencoder's
# 234 KB of weights become about 470 KB).


def packed_words(units: int, depth: int) -> int:
    """How many int32 words fully_connected_packed gives for a [units, depth] filter."""
    return math.ceil(units / ROWS) * (4 * ROWS + 2 * ROWS * math.ceil(depth / 4))


def fully_connected_packed(weights: np.ndarray, output_stage: np.ndarray) -> np.ndarray:
    """The [units, depth] int8 filter as int32 words, per group of 4 rows (a last group of
    fewer rows is completed with rows of zeros: zero weights, start and stage):
      4 starts: output_stage_table's, the bias plus input_offset * the row's weight sum (the
        kernel leaves the offset out of its products);
      per block of 4 values (w0, w1, w2, w3) of the rows, the last block completed with zero
        weights, per row the words (w0, w2) and (w1, w3): two int16 lanes, bits 0..15 the
        first, the pairs SXTB16 makes of an input word and of that word rotated by 8;
      per row the fast output stage's other three values (2M - 2^32, rounding, shift),
    so that one pointer walks the layer. `output_stage` is output_stage_table's flat table."""
    units, depth = weights.shape
    groups, blocks = math.ceil(units / ROWS), math.ceil(depth / 4)
    rows = np.zeros((groups * ROWS, blocks * 4), np.int64)
    rows[:units, :depth] = weights
    stage = np.zeros((groups * ROWS, 4), np.int64)
    stage[:units] = np.asarray(output_stage, np.int64).reshape(units, 4)
    # [group, block, row, pair]: pair 0 holds values 0 and 2 of the block, pair 1 values 1, 3.
    quads = rows.reshape(groups, ROWS, blocks, 4)[:, :, :, [0, 2, 1, 3]].reshape(
        groups, ROWS, blocks, 2, 2)
    pairs = (quads[..., 0] & 0xFFFF) | (quads[..., 1] << 16)
    body = pairs.transpose(0, 2, 1, 3).reshape(groups, -1)
    stage = stage.reshape(groups, ROWS, 4)
    words = np.concatenate([stage[:, :, 0], body, stage[:, :, 1:].reshape(groups, -1)], axis=1)
    flat = words.reshape(-1)
    return ((flat + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
