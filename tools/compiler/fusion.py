"""Layers fused into one that runs them depth first, row by row (firmware/lib/tinyml/src/
strips.c, tinyml_run_fused): of the tensors between them only the rows the next stage still
needs exist, in the fused layer's scratch, never the whole tensors. Two shapes:

- a convolution and the pool that reads it (digits: the first convolution's 26x26x8 output
  alone is 60 % of TFLM's arena);
- a residual block: one or two convolutions from X and the ADD of their result and X, whose
  output may then be written over X (ResNet-8's first block: X, the first convolution's output
  and the second's would otherwise all be alive at once).

The planner fuses only where that lowers the arena (every row is a kernel call). The runtime's
schedule is mirrored here (`schedule`), to size the windows and to show that an output written
over X never overwrites a row of X a later stage-0 row still reads.
"""

from __future__ import annotations

import dataclasses

from tinyml_pipeline.tools.compiler.layers import Layer, Scratch, Stage, Streamed
from tinyml_pipeline.tools.compiler.strips import MAX_ROW_TAPS, Geometry, rows_of

POOLS = {"tinyml_max_pool2d_s8": "MAX_POOL_2D", "tinyml_average_pool2d_s8": "AVERAGE_POOL_2D"}
CONVS = ("CONV_2D", "DEPTHWISE_CONV_2D")
KINDS = {"CONV_2D": "TINYML_STRIPS_CONV2D", "DEPTHWISE_CONV_2D": "TINYML_STRIPS_DEPTHWISE_CONV2D",
         "MAX_POOL_2D": "TINYML_STRIPS_POOL2D", "AVERAGE_POOL_2D": "TINYML_STRIPS_POOL2D"}
ADD_KINDS = ("TINYML_STRIPS_ADD_INPUT1", "TINYML_STRIPS_ADD_INPUT2")
HEADER = "tinyml/strips.h"
MAX_STAGES = 3  # TINYML_MAX_STAGES
ALIGNMENT = 16
# What tinyml_run_fused adds to the invoke's deepest stack on the Cortex-M4 (a parameter copy
# per stage; measured 784 to 848 bytes by tinyml bench): a fusion must save more arena.
STACK_BYTES = 848


def _align(value: int) -> int:
    return -(-value // ALIGNMENT) * ALIGNMENT


def _geometry(layer: Layer, previous: Geometry | None) -> Geometry:
    f = dict(layer.fields)
    if layer.op == "ADD":
        return Geometry(previous.out_h, previous.out_h, 1, 0, 1, 1, previous.out_row)
    if layer.kernel in POOLS:
        return Geometry(f["input_h"], f["output_h"], f["stride_h"], f["pad_top"], f["filter_h"],
                        1, f["output_w"] * f["channels"])
    return Geometry(f["input_h"], f["output_h"], f["stride_h"], f["pad_top"], f["filter_h"],
                    f["dilation_h"], f["output_w"] * f["output_c"])


def needed(g: Geometry, y0: int, y1: int) -> tuple[int, int]:
    """Input rows [lo, hi) output rows [y0, y1) read, as the runtime's `needed` (clipped)."""
    top = y0 * g.stride - g.pad_top
    end = (y1 - 1) * g.stride - g.pad_top + (g.filter_h - 1) * g.dilation + 1
    return max(top, 0), min(end, g.in_h)


def schedule(stages: list[Geometry]) -> list[tuple[int, int, int]]:
    """The calls tinyml_run_fused makes, in order: (stage, y0, y1). Also what sizes the
    windows: see window_rows."""
    calls: list[tuple[int, int, int]] = []
    lo, hi = [0] * len(stages), [0] * len(stages)

    def run(i: int, y0: int, y1: int) -> None:
        if i > 0:
            need_lo, need_hi = needed(stages[i], y0, y1)
            if need_lo > lo[i - 1]:
                hi[i - 1] = max(hi[i - 1], need_lo)
                lo[i - 1] = need_lo
            if hi[i - 1] < need_hi:
                run(i - 1, hi[i - 1], need_hi)
                hi[i - 1] = need_hi
        calls.append((i, y0, y1))

    for y in range(stages[-1].out_h):
        run(len(stages) - 1, y, y + 1)
    return calls


def window_rows(stages: list[Geometry]) -> list[int]:
    """The most rows of each stage but the last that its window holds at once."""
    most = [0] * (len(stages) - 1)
    for i in range(1, len(stages)):
        for y in range(stages[i].out_h):
            lo, hi = needed(stages[i], y, y + 1)
            most[i - 1] = max(most[i - 1], hi - lo)
    return most


def residual_over_input_is_safe(stages: list[Geometry], in_row: int) -> bool:
    """Whether the last stage (an ADD of the chain's result and X, X the chain's input, equal
    shapes) may write output row y over row y of X: no stage-0 call after that reads row y."""
    written_at: dict[int, int] = {}
    last_read_at: dict[int, int] = {}
    first = stages[0]
    for time, (stage, y0, y1) in enumerate(schedule(stages)):
        if stage == 0:
            lo, hi = needed(first, y0, y1)
            for row in range(lo, hi):
                last_read_at[row] = time
        if stage == len(stages) - 1:
            written_at[y0] = time
    # Output row y covers bytes [y * out_row, (y + 1) * out_row) of X, which holds X's rows
    # whose bytes meet that range (out_row == in_row for equal shapes).
    out_row = stages[-1].out_row
    for y, time in written_at.items():
        for row in range(y * out_row // in_row, -(-(y + 1) * out_row // in_row)):
            if last_read_at.get(row, -1) > time:
                return False
    return True


def candidates(layers: list[Layer], step: int, readers, is_output, buffer_of) -> list[int]:
    """Lengths of the fusable runs starting at `step`: conv + pool; conv (+ conv) + ADD of the
    result and the first convolution's input. `readers(t)` counts the layers reading buffer
    t, `is_output(t)` says whether it is the model output."""
    first = layers[step]
    if rows_of(first) is None:
        return []
    found = []
    chain = [first]
    for length in range(2, MAX_STAGES + 1):
        if step + length > len(layers):
            break
        last = layers[step + length - 1]
        feed = buffer_of(chain[-1].writes[0])
        if readers(feed) != 1 or is_output(feed):
            break
        pool = dict(last.fields)
        if last.kernel in POOLS and pool["batches"] == 1 and length == 2 \
                and pool["output_h"] * pool["filter_h"] <= MAX_ROW_TAPS \
                and [buffer_of(t) for t in last.reads] == [feed]:
            found.append(length)
        if last.kernel == "tinyml_add_s8" and _residual_add(last, feed, buffer_of(first.reads[0]),
                                                            buffer_of):
            found.append(length)
        if last.op not in CONVS or rows_of(last) is None \
                or [buffer_of(t) for t in last.reads] != [feed]:
            break
        chain.append(last)
    return found


def _residual_add(add: Layer, feed: int, source: int, buffer_of) -> bool:
    """An ADD of the chain's rows and X, equal shapes (one flat loop), X read by nothing
    after it but this chain."""
    f = dict(add.fields)
    operands = [buffer_of(f["input1"].tensor), buffer_of(f["input2"].tensor)]
    flat = all(d == 1 for d in f["dims"][:-1])
    return flat and sorted(operands) == sorted([feed, source]) and feed != source


def _trim_columns(run: list[Layer]) -> list[Layer]:
    """A convolution and its pool with the columns no pool window reads dropped from both: a
    VALID 2x2 stride-2 pool of an odd width (digits' 11 -> 5) leaves the last one unread, and
    the convolution need not compute it. Only the width in the two layers' parameters changes;
    the rows the fused layer streams between them are that much shorter."""
    if len(run) != 2 or run[-1].kernel not in POOLS:
        return run
    conv, pool = dict(run[0].fields), dict(run[1].fields)
    read = (pool["output_w"] - 1) * pool["stride_w"] - pool["pad_left"] + pool["filter_w"]
    if pool["pad_left"] != 0 or read >= conv["output_w"]:
        return run
    return [dataclasses.replace(layer, fields=[(name, read if name == field else value)
                                               for name, value in layer.fields])
            for layer, field in zip(run, ("output_w", "input_w"), strict=True)]


def _pooled_in_one_pass(run: list[Layer]) -> bool:
    """A convolution into a 2x2 stride-2 max pool, which the DSP build may run as one pass
    (tinyml_conv2d_pool_s8) instead of row by row."""
    if len(run) != 2 or run[0].kernel != "tinyml_conv2d_s8" or \
            run[1].kernel != "tinyml_max_pool2d_s8":
        return False
    pool = dict(run[1].fields)
    return (pool["filter_h"], pool["filter_w"], pool["stride_h"], pool["stride_w"]) == (2, 2, 2, 2)


def fuse(run: list[Layer], buffer_of) -> Layer:
    """The run as one layer: reads the first's input, writes the last's output; its scratch
    holds each stage's own scratch, then each window."""
    run = _trim_columns(run)
    stages, geometry, offset, scratch_of = [], [], 0, []
    for layer in run:
        geometry.append(_geometry(layer, geometry[-1] if geometry else None))
        scratch_of.append(offset)
        offset += _align(layer.scratch_bytes)
    windows = []
    for rows, g in zip(window_rows(geometry), geometry, strict=False):
        windows.append(Scratch(offset))
        offset += _align(rows * g.out_row)
    if _pooled_in_one_pass(run):
        # The one pass keeps a pool window's four columns from the convolution's scratch on,
        # over the window it leaves unused: twice the convolution's own two.
        offset = max(offset, 2 * run[0].scratch_bytes)
    for index, layer in enumerate(run):
        # The runtime sets the offsets of the intermediate rows call by call; each stage's own
        # scratch lies at its place in the fused layer's.
        fields = []
        for name, value in layer.fields:
            if (name == "output" and index < len(run) - 1) or (name == "input" and index > 0):
                value = Streamed()
            elif isinstance(value, Scratch):
                value = Scratch(scratch_of[index])
            fields.append((name, value))
        if layer.op == "ADD":
            f = dict(layer.fields)
            streamed = 0 if buffer_of(f["input1"].tensor) == buffer_of(run[-2].writes[0]) else 1
            fields = [(name, Streamed(operand=True)
                       if (name, streamed) in (("input1", 0), ("input2", 1)) else value)
                      for name, value in fields]
            kind = ADD_KINDS[streamed]
        else:
            kind = KINDS[layer.op]
        stages.append(Stage(dataclasses.replace(layer, fields=fields), kind))
    first, last = run[0], run[-1]
    residual = last.op == "ADD"
    in_row = dict(first.fields)["input_w"] * dict(first.fields)["input_c"]
    return Layer(
        op="+".join(layer.op for layer in run), op_index=first.op_index,
        kernel="tinyml_run_fused", params_type="tinyml_fused_params", header=HEADER,
        fields=[("stages", stages), ("count", len(run)), ("windows", windows)],
        reads=first.reads, writes=last.writes, scratch_bytes=offset,
        # An ADD's output over X where the schedule allows; the planner decides.
        in_place_ok=residual and residual_over_input_is_safe(geometry, in_row),
        extra={"fused": tuple(run)})
