"""Fusing a convolution with the pool that reads it (firmware/lib/tinyml/src/strips.c,
tinyml_run_fused): the pair runs as one layer, row by row, so the convolution's output never
exists whole; only the rows the next pooled row needs, in the fused layer's scratch. digits'
CONV_2D + MAX_POOL_2D pairs are the case: the first convolution's 26x26x8 output alone is 60 %
of TFLM's arena.

The planner fuses a pair only where that lowers the arena (each call costs a little)."""

from __future__ import annotations

import dataclasses

from tinyml_pipeline.tools.compiler.layers import Layer, Scratch, Stage
from tinyml_pipeline.tools.compiler.strips import rows_of

POOLS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
KINDS = {"CONV_2D": "TINYML_STRIPS_CONV2D", "DEPTHWISE_CONV_2D": "TINYML_STRIPS_DEPTHWISE_CONV2D",
         "MAX_POOL_2D": "TINYML_STRIPS_POOL2D", "AVERAGE_POOL_2D": "TINYML_STRIPS_POOL2D"}
HEADER = "tinyml/strips.h"
ALIGNMENT = 16


def _align(value: int) -> int:
    return -(-value // ALIGNMENT) * ALIGNMENT


def fusable(first: Layer, second: Layer, readers: int, is_output: bool, buffer_of) -> bool:
    """A batch-1 convolution whose output only the next layer, a batch-1 pool, reads."""
    if rows_of(first) is None or second.op not in POOLS or readers != 1 or is_output:
        return False
    pool = dict(second.fields)
    return (pool["batches"] == 1 and len(second.reads) == 1
            and buffer_of(second.reads[0]) == buffer_of(first.writes[0]))


def window_rows(second: Layer, rows_in: int) -> int:
    """The most first-stage rows one output row of the pool reads (clipped to the tensor)."""
    f = dict(second.fields)
    most = 0
    for y in range(f["output_h"]):
        top = y * f["stride_h"] - f["pad_top"]
        most = max(most, min(top + f["filter_h"], rows_in) - max(top, 0))
    return most


def fuse(first: Layer, second: Layer) -> Layer:
    """The pair as one layer: reads the convolution's input, writes the pool's output; its
    scratch holds the convolution's own scratch, then the window of its rows."""
    conv = dict(first.fields)
    # The runtime sets the offsets of the intermediate rows band by band.
    inner_first = dataclasses.replace(first, fields=[
        (name, 0 if name == "output" else value) for name, value in first.fields])
    inner_second = dataclasses.replace(second, fields=[
        (name, 0 if name == "input" else value) for name, value in second.fields])
    rows = window_rows(second, conv["output_h"])
    own_scratch = _align(first.scratch_bytes)
    window_bytes = rows * conv["output_w"] * conv["output_c"]
    return Layer(
        op=f"{first.op}+{second.op}", op_index=first.op_index, kernel="tinyml_run_fused",
        params_type="tinyml_fused_params", header=HEADER,
        fields=[("first", Stage(inner_first, KINDS[first.op])),
                ("second", Stage(inner_second, KINDS[second.op])),
                ("window", Scratch(own_scratch)), ("window_rows", rows)],
        reads=first.reads, writes=second.writes, scratch_bytes=own_scratch + window_bytes,
        extra={"fused": (first, second)})


