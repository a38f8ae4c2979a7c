"""Row strips: a convolution run as a few calls, each on a band of output rows, so that its
output can overlap its input in the arena (firmware/lib/tinyml/src/strips.c runs them).

A strip computes output rows [y0, y1) from input rows [lo, hi) only, and the kernel may read and
write inside those in any order. Run top to bottom, the input rows above the current strip's
window are dead, so the output can start `shift` bytes *before* the input: each strip's output
rows must end at or before the first input row that this or a later strip still reads. Run bottom
to top, the output can start after the input's start, each strip's rows beginning at or after the
end of the input rows this or an earlier strip reads. Which side a layer takes is the planner's
choice (it keeps a chain of such layers from drifting one way).
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyml_pipeline.tools.compiler.layers import Layer

# The int8 kernels, whose parameter structs tinyml_run_strips knows how to narrow (the 16x8
# kernels take other structs).
STRIP_KERNELS = {"tinyml_conv2d_s8": "CONV_2D", "tinyml_depthwise_conv2d_s8": "DEPTHWISE_CONV_2D"}
# Output pixels a strip holds at least: each strip is a kernel call, and the DSP convolution
# sets up per call and computes pixels in pairs, so one-pixel strips of a 1-D convolution
# (activity's) would more than double its instructions.
MIN_STRIP_PIXELS = 16
# What tinyml_run_strips adds to the invoke's deepest stack on the Cortex-M4 (its narrowed
# parameter copy; measured 136 to 264 bytes by tinyml bench): strips that save less arena
# than this save no RAM.
STACK_BYTES = 256
MAX_ROW_TAPS = 1 << 16  # output rows x filter rows of a layer strips may run
ALIGNMENT = 16  # memory.ALIGNMENT: a shift keeps both tensors aligned


@dataclass(frozen=True)
class Geometry:
    """A window layer along the height axis: its output row y reads input rows
    y * stride - pad_top + k * dilation, k < filter_h, inside [0, in_h). Fused stages
    (fusion.py) need no more."""

    in_h: int
    out_h: int
    stride: int
    pad_top: int
    filter_h: int
    dilation: int
    out_row: int  # bytes


@dataclass(frozen=True)
class Rows(Geometry):
    """A layer's geometry along the height axis (batch 1), in rows and bytes per row."""

    in_row: int  # bytes
    out_w: int

    @property
    def in_bytes(self) -> int:
        return self.in_h * self.in_row

    @property
    def out_bytes(self) -> int:
        return self.out_h * self.out_row


def rows_of(layer: Layer) -> Rows | None:
    """The layer's row geometry when strips can run it, else None."""
    if layer.kernel not in STRIP_KERNELS or len(layer.reads) != 1 or len(layer.writes) != 1:
        return None
    f = dict(layer.fields)
    if f["batches"] != 1:
        return None
    rows = Rows(in_h=f["input_h"], out_h=f["output_h"], stride=f["stride_h"],
                pad_top=f["pad_top"], filter_h=f["filter_h"], dilation=f["dilation_h"],
                in_row=f["input_w"] * f["input_c"], out_row=f["output_w"] * f["output_c"],
                out_w=f["output_w"])
    # The planner walks every output row's taps: bounded, for any model it is given.
    if rows.out_h * rows.filter_h > MAX_ROW_TAPS:
        return None
    # The runtime starts each strip's input at its first window row (or the tensor's first),
    # and keeps at least one row in it; TFLite's SAME and VALID paddings always allow that.
    if any(y * rows.stride - rows.pad_top >= rows.in_h for y in range(rows.out_h)):
        return None
    return rows


def shortest(rows: Rows) -> int:
    """The fewest output rows a strip holds: MIN_STRIP_PIXELS pixels, an even number."""
    height = max(1, -(-MIN_STRIP_PIXELS // rows.out_w))
    return height + (height * rows.out_w) % 2


def window(rows: Rows, y0: int, y1: int) -> tuple[int, int] | None:
    """Input rows [lo, hi) that output rows [y0, y1) read (their taps inside the tensor), or
    None when every tap falls in the padding (dilated filters on small inputs)."""
    read = [row for y in range(y0, y1) for tap in range(rows.filter_h)
            if 0 <= (row := y * rows.stride - rows.pad_top + tap * rows.dilation) < rows.in_h]
    return (min(read), max(read) + 1) if read else None


def strips(rows: Rows, height: int, reverse: bool) -> list[tuple[int, int]]:
    """Output row bands [y0, y1) of `height` rows (the last may be shorter), in run order."""
    bands = [(y0, min(y0 + height, rows.out_h)) for y0 in range(0, rows.out_h, height)]
    return bands[::-1] if reverse else bands


def _align_up(value: int) -> int:
    return -(-value // ALIGNMENT) * ALIGNMENT


def output_shift(rows: Rows, height: int, reverse: bool) -> int:
    """Where the output starts relative to the input's start (bytes, a multiple of 16): the
    closest the strips allow. Negative: before the input (top to bottom)."""
    bands = strips(rows, height, reverse)
    windows = [window(rows, y0, y1) for y0, y1 in bands]
    needs = []
    if not reverse:
        # Output rows [y0, y1) end at or before the first input row this strip or a later
        # one reads: shift + y1 * out_row <= lo * in_row.
        lo = rows.in_h
        for (_, y1), rows_read in reversed(list(zip(bands, windows, strict=True))):
            lo = min(lo, rows_read[0]) if rows_read else lo
            needs.append(y1 * rows.out_row - lo * rows.in_row)
        return -_align_up(max(needs))
    # Bottom to top: rows [y0, y1) start at or after the end of the input this strip or a
    # later one (above it) reads: shift + y0 * out_row >= hi * in_row.
    hi = 0
    for (y0, _), rows_read in reversed(list(zip(bands, windows, strict=True))):
        hi = max(hi, rows_read[1]) if rows_read else hi
        needs.append(hi * rows.in_row - y0 * rows.out_row)
    return _align_up(max(needs))
