"""Why a layer costs more than the goal's instructions per MAC: one short reason per layer,
from the layer's shape (its plan parameters) and the path its kernel takes in the DSP build.

The paths are those of firmware/lib/tinyml/src/op_conv2d_dsp.h, op_depthwise_conv2d_dsp.h,
op_fully_connected_dsp.h and their _asm.h hot loops at this code, and of strips.c, which runs a
layer in row strips (one kernel call per band of output rows) or several layers fused (one row
at a time); a kernel change that moves a layer to another path must change `_conv`,
`_depthwise`, `_fully_connected` or `_fused` here too.

To name what dominates, each path's instructions are split into parts (the multiply-accumulates
themselves, the output stage, im2col, set-up per pixel, row or call) with per-part costs: the
counts the kernels' comments give for their assembly, and for the C around them, costs fitted
to the bench's per-layer figures of the committed and public models (`tinyml bench MODEL`). The
sum, `estimate`, is within 11 % of the measured instructions per MAC for every layer with MACs
of digits, activity, DS-CNN, ResNet-8, the autoencoder and the VWW MobileNet (0.90 to 1.11 of
it: two of the VWW MobileNet's pointwise convolutions and digits' second fused layer at the
ends; every packed fully connected layer within 0.95 to 1.01; the call around a kernel is
left out, so `linear`'s 1-MAC layer is far off). The reason names
the path and the largest overhead part (and the next one when it is close); it states shape
facts, not the estimate.
"""

from __future__ import annotations

import numbers

# The goal: instructions per MAC in the DSP build.
GOAL_PER_MAC = 1.25

# CONV_2D, op_conv2d_asm.h: conv_pairs_asm 16 instructions per block of 4 depth values x
# 2 filters x 2 pixels; conv_pairs_wide_asm (filters stored widened) 12.
CONV_ASM_PER_SLOT = 1.0
CONV_WIDE_PER_SLOT = 0.75
CONV_C_PER_SLOT = 1.4  # conv_columns/conv_dot in C: the loads and SXTB16 GCC schedules itself
# Per output: 6 (SMMLAR .. STRB) plus the pair loop's 20 shared by a pair's 4 outputs.
CONV_ASM_PER_OUTPUT = 11
# conv_pairs_wide_4_asm / _7_asm (widened filters of exactly 4 or 7 blocks, unrolled): 11 per
# block of 16 MACs, per pair 33 besides (the 4 outputs' 24 among them).
CONV_UNROLLED_BLOCKS = (4, 7)
CONV_UNROLLED_PER_SLOT = 11 / 16
CONV_UNROLLED_PER_OUTPUT = 33 / 4
# conv_pointwise8_asm (1x1 over 8 channels, the converter's packed stream): per filter 4 SMLAD
# for 8 MACs, its LDM, the output's 6 and half the loop's test and branch (four filters an
# iteration); per pixel 12 (its column widened into registers, the stream rewound).
CONV_POINTWISE8_PER_SLOT = 4 / 8
CONV_POINTWISE8_PER_OUTPUT = 7.5
CONV_POINTWISE8_PIXEL = 12
# conv_pointwise16_asm (1x1 over 16 channels, widened, stride 1, output_c even): the unrolled
# pairs' loop over every pixel pair in one call; per pixel pair 31 besides the pairs (both
# columns widened, the next pair set up), in place of the C loop's per-pixel im2col.
CONV_POINTWISE16_PIXEL = 31 / 2
CONV_FAST_C_PER_OUTPUT = 14  # conv_out with the table, plus the clamp
CONV_GENERAL_PER_OUTPUT = 40  # tinyml_conv_output: 64-bit multiply, rounding, shift, clamp
# im2col (fitted): per pixel and per 4-value word widened from word runs of the input.
CONV_PIXEL = 50
CONV_PER_WORD = 10
# Three rows of 9 values (3x3x3): the 7 words assembled from the rows in place (11 loads and
# merges, 14 SXTAB16, 7 STRD), through column_staged in the general loop (fitted, with
# CONV_PIXEL and CONV_STAGE_CALL), or per pixel everything in conv_run_nines' row loop, two
# columns a call (fitted; no padding before the image, an even output width).
CONV_NINES_PIXEL = 57
CONV_NINES_LOOP_PIXEL = 67
# column_staged (other rows not on blocks, e.g. 5x5x1): per row a whole-word copy to the stack.
CONV_STAGE_CALL = 25
CONV_COPY_ROW = 8
CONV_COPY_PER_WORD = 5
# A pixel whose window reaches the padding (fitted): conv_im2col_taps (filter_c a multiple of
# 4) zeroes the column and widens each inside tap; conv_im2col_staged fills the stage with the
# zero point and copies the inside rows first.
CONV_TAPS_PIXEL = 60
CONV_TAPS_PER_TAP = 10
CONV_STAGED_PIXEL = 120
CONV_STAGED_PER_VALUE = 1
CONV_STAGED_PER_ROW = 30
CONV_STAGE_BYTES = 128  # op_conv2d_dsp.h: deeper filters take conv_im2col_values instead
CONV_VALUES_PER_VALUE = 12  # conv_im2col_values: one store per in-image value
CONV_CALL = 150  # per kernel call (a strip's band, a fused row): layout, job, loop set-up

# DEPTHWISE_CONV_2D multiplier 1 with the converter's packed filter, op_depthwise_conv2d_asm.h.
# 3x3 windows: runs of pixels in dw_run9_asm, 84 instructions a group of 4 channels (36 MACs
# and 4 outputs) with its loop and store, the taps' offsets loaded with their weights, 21 of
# them the output stage (SMMLAR of the doubled accumulator with the rounding, the sign's
# correction, the shift, SSAT; an LDM per 2 channels; BFI x3). A pixel whose window leaves the
# input reads its own tap list (6 more a group: dw_run9_border_asm). Fitted on DS-CNN's and the
# VWW MobileNet's 3x3 layers: per pixel (the run's loop), per border pixel (its tap list and a
# run of its own), per output row and per call.
DW9_GROUP = 84
DW9_BORDER_GROUP = 6
DW9_REQUANTIZE = 21
DW9_PIXEL = 8
DW9_BORDER = 125
DW9_ROW = 82
DW9_CALL = 420
# Other windows: a pair of taps of 4 channels 15 instructions for 8 MACs (dw_pairs4).
DW_PAIR = 17  # dw_pairs4's 15 and its count
DW_SINGLE4 = 9  # dw_single4, an odd last tap
DW_REQUANTIZE4 = 27  # dw_requantize4
DW_GROUP = 12  # the starts, the group loop and the store, other windows
DW_CLAMP = 4  # a narrower activation range: bytewise max and min of the 4 outputs
DW_PACKED_PIXEL = 27
DW_BORDER_BASE = 40
DW_BORDER_PER_TAP = 12
DW_ROW = 137
DW_CALL = 170
DW_TAIL_PIXEL = 60  # channels past the last group of 4: the clipped window per pixel
# Without the packed filter (other multipliers, windows over 25 taps, no fast output table):
# dw_list4, 13 instructions per tap of 4 channels (4 MACs). Per 4-channel pass (fitted):
# seeding 4 accumulators, the loop's entry, requantizing and packing 4 outputs. Per pixel
# (fitted): the window clip, the tap list.
DW_PER_TAP4 = 13
DW_PASS = 85
DW_PIXEL = 280
DW_SINGLE_PER_TAP = 8  # dw_sum1, a channel past the last multiple of 4, in C
DW_SINGLE_OUTPUT = 40
DW_SHARED_PER_TAP4 = 12  # multiplier >= 4: dw_sum4_shared, one input byte for 4 outputs
DW_GENERAL_PER_OUTPUT = 40  # the general requantization, without the fast output table

# FULLY_CONNECTED over the converter's packed int16 weights (`packed`; op_fully_connected_dsp.h
# fc_row_packed, op_fully_connected_asm.h fc_groups_asm), per input row: 14 instructions per
# block of 4 values x 4 rows (13 and the loop's share), 35 per group of 4 rows (starts, loop
# entry, 7 per output), 13 more per group for a depth that is not a multiple of 4 (the tail
# block), about 82 per call; a short last group is one more fc_groups call (~45) over a
# padded group (whose zero rows' blocks are paid for too). A narrower activation range adds a
# C clamp pass over the outputs.
FC_PACKED_BLOCK = 14
FC_PACKED_GROUP = 35
FC_PACKED_TAIL = 13
FC_PACKED_CALL = 82
FC_PACKED_SHORT = 45
# Per output: load, clamp, store and the loop, counted from the C, not fitted: no benched
# model has a packed layer with a narrower range.
FC_PACKED_CLAMP = 6
# FULLY_CONNECTED with int8 rows (no packed weights: past the flash budget, rows of fewer than
# 4 values), op_fully_connected_asm.h: 25 instructions per 4 values x 4 rows.
FC_ASM_PER_MAC = 25 / 16
FC_ROWS4 = 140  # per 4 rows (fitted): the call, start values, requantizing 4 outputs
FC_SINGLE_PER_MAC = 2.5  # fc_dot in C, a row past the last multiple of 4
FC_SINGLE_ROW = 30
FC_GENERAL_PER_MAC = 2.0  # fc_dot_2: two rows share the widened input, offset by SXTAB16
FC_GENERAL_PER_OUTPUT = 40

# Fused layers (strips.c, tinyml_run_fused): the operators without MACs, per output value, and
# per output row of the fused layer and stage: the stage's call (its parameter copy narrowed)
# and the window's memmove of the rows kept (fitted on digits and ResNet-8).
POOL_PER_OUTPUT = 25
ADD_PER_OUTPUT = 13  # docs/compiler.md: the tabulated ADD, 13.0 an element
FUSED_STAGE_ROW = 150
# A convolution into a 2x2 stride-2 max pool in one pass (op_conv2d_asm.h, conv_pool_pairs_asm):
# per pooled output the pair loop's two entries, the maxima and one output stage (fitted on
# digits).
CONV_POOL_PER_OUTPUT = 20

NEXT_CLOSE = 0.6  # the second overhead is named too when at least this share of the first
MENTION_SHARE = 0.1  # an overhead below this share of the layer's estimate goes unnamed

# Fields that are a table or NULL in the plan: what matters is which (the path depends on it).
_PRESENT_FIELDS = ("output_stage", "filter_wide", "packed", "pad_input")


def layer_facts(op: str, fields: list[tuple[str, object]], outputs: int) -> dict:
    """What the reason needs of a plan layer: its op, its integer parameters, which of its
    tables are present (a Const rather than Null: the fast output stage, the widened or packed
    filter, the padding input), and its output's element count. JSON-ready. report.py adds
    `strip_rows` for a layer run in row strips and `stages` (each operator's facts and MACs)
    for a fused one."""
    facts = {"op": op, "outputs": int(outputs)}
    for name, value in fields:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            facts[name] = int(value)
        elif name in _PRESENT_FIELDS:
            facts[name] = type(value).__name__ == "Const"
    return facts


def reason(facts: dict, macs: int, cost: float) -> str | None:
    """The reason for a layer of `macs` MACs measured at `cost` instructions (DSP build), or
    None when it is within the goal."""
    if not macs:
        outputs = facts.get("outputs") or 0
        each = f", {cost / outputs:,.0f} instructions each" if outputs else ""
        return f"no MACs: {facts['op']} over {outputs:,} output values{each}"
    if cost / macs <= GOAL_PER_MAC:
        return None
    model = _model(facts)
    if model is None:
        return f"{facts['op']}: no DSP path"
    path, base, parts = model(facts)
    return _compose(path, base, parts)


def estimate(facts: dict) -> float | None:
    """The instructions per MAC the path's parts add up to, None for an op without MACs: the
    check that the parts are of the right size (tests/test_bench.py)."""
    model = _model(facts)
    if model is None:
        return None
    _, base, parts = model(facts)
    return base + sum(value for value, _ in parts.values())


def _model(facts: dict):
    if "stages" in facts:
        return _fused
    return _MODELS.get(facts["op"])


def _compose(path: str, base: float, parts: dict[str, tuple[float, str]]) -> str:
    """The path, then the largest overhead part, and the next one if it is close; a part that
    is a small share of the whole is left out: then the path's own loop is the reason."""
    total = base + sum(value for value, _ in parts.values())
    ranked = sorted((part for part in parts.values() if part[0] >= MENTION_SHARE * total),
                    key=lambda p: -p[0])
    said = [text for _, text in ranked[:1]]
    if len(ranked) > 1 and ranked[1][0] >= NEXT_CLOSE * ranked[0][0]:
        said.append(ranked[1][1])
    return "; ".join([path, *said])


def _per_output(macs: int) -> str:
    return f"{macs} MAC{'' if macs == 1 else 's'} per output"


def _stride(f: dict) -> str:
    if f["stride_h"] == f["stride_w"] == 1:
        return ""
    return (f", stride {f['stride_h']}" if f["stride_h"] == f["stride_w"]
            else f", stride {f['stride_h']}x{f['stride_w']}")


def _bands(f: dict) -> int:
    """The kernel calls of a layer run in row strips (strips.c), else 1."""
    rows = f.get("strip_rows")
    return -(-f["output_h"] // rows) if rows else 1


def _strips_part(f: dict, per_call: float, macs: int) -> dict:
    """Strips' cost: each band past the first is one more call of the kernel."""
    bands = _bands(f)
    if bands == 1:
        return {}
    return {"bands": ((bands - 1) * per_call / macs,
                      f"run in {bands} strips of {f['strip_rows']} rows: each band a kernel "
                      f"call (~{per_call} instructions of set-up)")}


# Each model: facts -> (the path in words, the MAC loop's instructions per MAC, the overhead
# parts {name: (instructions per MAC, what it is in words)}).

# ---- CONV_2D ---------------------------------------------------------------------------


def _conv_runs(f: dict) -> str:
    """Which word runs op_conv2d_dsp.h's conv_layout_of finds in a patch: patch, rows, taps,
    staged (rows copied to the stack first), nines (three rows of 9 values, assembled in place)
    or none (then every patch is gathered first)."""
    dense = (f["filter_tap_stride"] == f["filter_c"]
             and f["filter_row_stride"] == f["filter_w"] * f["filter_c"])
    rows_contiguous = (f["dilation_w"] == 1 and f["filter_c"] == f["input_c"]
                       and f["filter_tap_stride"] == f["filter_c"])
    if dense and rows_contiguous and (f["filter_h"] == 1 or (
            f["dilation_h"] == 1 and f["filter_w"] == f["input_w"])):
        return "patch"
    if rows_contiguous and f["filter_row_stride"] % 4 == 0:
        return "rows"
    if f["filter_tap_stride"] % 4 == 0 and f["filter_row_stride"] % 4 == 0:
        return "taps"
    if dense and rows_contiguous and f["filter_depth"] <= CONV_STAGE_BYTES:
        return "nines" if f["filter_h"] == 3 and f["filter_w"] * f["filter_c"] == 9 else "staged"
    return "none"


def _inside(origin: int, taps: int, dilation: int, size: int) -> bool:
    return origin >= 0 and origin + (taps - 1) * dilation < size


def _border_pixels(f: dict) -> int:
    """The output pixels (of one image) whose window reaches the padding."""
    rows = sum(_inside(y * f["stride_h"] - f["pad_top"], f["filter_h"], f["dilation_h"],
                       f["input_h"]) for y in range(f["output_h"]))
    cols = sum(_inside(x * f["stride_w"] - f["pad_left"], f["filter_w"], f["dilation_w"],
                       f["input_w"]) for x in range(f["output_w"]))
    return f["output_h"] * f["output_w"] - rows * cols


def _conv_padded_pixel(f: dict, values: int) -> tuple[float, str]:
    """A patch that reaches the padding (or has no runs): conv_im2col_general's path."""
    depth = f["filter_depth"]
    if f["filter_c"] % 4 == 0:
        taps = f["filter_h"] * f["filter_w"]
        return (CONV_TAPS_PIXEL + 3 * depth / 4 + CONV_TAPS_PER_TAP * taps
                + CONV_PER_WORD * depth / 4, "widened tap by tap into a zeroed column")
    if depth <= CONV_STAGE_BYTES:
        return (CONV_STAGED_PIXEL + CONV_STAGED_PER_VALUE * depth
                + CONV_STAGED_PER_ROW * f["filter_h"] + CONV_PER_WORD * depth / 4,
                "staged on the stack")
    return CONV_PIXEL + CONV_VALUES_PER_VALUE * values + depth, "gathered value by value"


def _conv(f: dict) -> tuple[str, float, dict]:
    full_range = f["act_min"] == -128 and f["act_max"] == 127
    groups = max(f["input_c"] // max(f["filter_c"], 1), 1)
    filters = f["output_c"] // groups
    stage = f.get("output_stage", False)
    wide = f.get("filter_wide", False)
    in_asm = stage and full_range and filters >= 2 and f["filter_depth"] > 0
    runs = _conv_runs(f)
    values = f["filter_h"] * f["filter_w"] * f["filter_c"]  # MACs per output
    depth = f["filter_depth"]
    macs = values * filters  # per output pixel and group
    pixels = f["batches"] * f["output_h"] * f["output_w"] * groups
    border = 1.0 if runs == "none" else _border_pixels(f) / (f["output_h"] * f["output_w"])
    if f.get("packed", False):
        return _conv_pointwise8(f, macs)
    unrolled = in_asm and wide and depth // 4 in CONV_UNROLLED_BLOCKS
    per_slot = ((CONV_UNROLLED_PER_SLOT if unrolled else
                 CONV_WIDE_PER_SLOT if wide else CONV_ASM_PER_SLOT) if in_asm
                else CONV_C_PER_SLOT)
    per_output = (CONV_UNROLLED_PER_OUTPUT if unrolled else CONV_ASM_PER_OUTPUT if in_asm else
                  CONV_FAST_C_PER_OUTPUT if stage else CONV_GENERAL_PER_OUTPUT)
    runs_pixel = CONV_PIXEL + CONV_PER_WORD * depth / 4
    pointwise16 = (unrolled and filters % 2 == 0 and groups == 1 and
                   (f["filter_h"], f["filter_w"], f["input_c"], depth) == (1, 1, 16, 16) and
                   (f["stride_h"], f["stride_w"]) == (1, 1))
    if pointwise16:
        runs_pixel = CONV_POINTWISE16_PIXEL
    elif runs == "nines" and in_asm and groups == 1 and f["output_w"] % 2 == 0 and \
            f["pad_top"] == 0 and f["pad_left"] == 0:
        runs_pixel = CONV_NINES_LOOP_PIXEL
    elif runs == "nines":
        runs_pixel = CONV_PIXEL + CONV_STAGE_CALL + CONV_NINES_PIXEL
    elif runs == "staged":
        words = -(-f["filter_w"] * f["filter_c"] // 4)
        runs_pixel += CONV_STAGE_CALL + f["filter_h"] * (CONV_COPY_ROW
                                                         + CONV_COPY_PER_WORD * words)
    padded, kind = _conv_padded_pixel(f, values)
    parts = {
        "zeros": ((depth - values) * filters * per_slot / macs,
                  f"the filter layout pads each output's {values} values to {depth} "
                  f"(whole words per run): {depth - values} MACs on zero weights"),
        "output": (per_output * filters / macs,
                   f"only {_per_output(values)} against ~{per_output} instructions of "
                   f"output stage each"),
        "im2col": (runs_pixel / macs,
                   f"each pixel's im2col ({depth} values widened to int16"
                   + (", its rows copied to the stack first" if runs == "staged" else
                      ", assembled from its three rows in place" if runs == "nines" else "")
                   + f") is shared by only {filters} filters"),
        **_strips_part(f, CONV_CALL, macs * pixels),
    }
    if runs == "none":
        parts["im2col"] = (padded / macs,
                           f"{f['filter_c']}-channel filter rows of "
                           f"{f['filter_w'] * f['filter_c']} values are no whole-word runs: "
                           f"every patch is {kind} first, for only {filters} filters")
    elif border > 0:
        parts["padding"] = (border * (padded - runs_pixel) / macs,
                            f"{100 * border:.0f} % of the pixels reach the padding: their "
                            f"patch is {kind}")
    shape = (f"conv {f['filter_h']}x{f['filter_w']}x{f['filter_c']} to {f['output_c']}"
             + _stride(f))
    if in_asm:
        where = ("assembly filter pairs" + (" over the widened filter" if wide else "")
                 + (f" (unrolled for its {depth // 4} blocks)" if unrolled else "")
                 + (", every pixel pair in one call" if pointwise16 else "")
                 + (" (the odd last filter in C)" if filters % 2 else ""))
    elif not stage:
        where = "C filter pairs, general requantization (no fast output table for this layer)"
    elif not full_range:
        where = (f"C filter pairs: the activation clamp [{f['act_min']}, {f['act_max']}] keeps "
                 "it off the assembly")
    else:
        where = "C, one filter per group"
    return f"{shape}, {where}", per_slot, parts


def _conv_pointwise8(f: dict, macs: int) -> tuple[str, float, dict]:
    """1x1 over 8 channels through the converter's packed stream: a pixel's column in
    registers while every filter passes (conv_pointwise8_asm)."""
    filters = f["output_c"]
    parts = {
        "output": (CONV_POINTWISE8_PER_OUTPUT * filters / macs,
                   f"only 8 MACs per output against ~{CONV_POINTWISE8_PER_OUTPUT:g} "
                   f"instructions of output stage and stream load each"),
        "pixel": (CONV_POINTWISE8_PIXEL / macs,
                  f"each pixel's 8 values widened into registers, shared by {filters} filters"),
        **_strips_part(f, CONV_CALL, macs * f["batches"] * f["output_h"] * f["output_w"]),
    }
    return (f"conv 1x1x8 to {filters}, assembly over the packed filter and output stage, the "
            f"pixel's column in registers", CONV_POINTWISE8_PER_SLOT, parts)


# ---- DEPTHWISE_CONV_2D ---------------------------------------------------------------------


def _taps_seen(step: int, pad: int, taps: int, dilation: int, size: int, count: int) -> float:
    """The mean number of a window axis's taps inside the image (padding taps are skipped)."""
    total = 0
    for index in range(count):
        origin = index * step - pad
        total += sum(0 <= origin + dilation * tap < size for tap in range(taps))
    return total / count


def _depthwise(f: dict) -> tuple[str, float, dict]:
    if f["depth_multiplier"] == 1 and f.get("packed", False):
        return _depthwise_packed(f)
    channels, multiplier = f["output_c"], f["depth_multiplier"]
    taps = f["filter_h"] * f["filter_w"]  # MACs per output, as counted
    seen = (_taps_seen(f["stride_h"], f["pad_top"], f["filter_h"], f["dilation_h"],
                       f["input_h"], f["output_h"])
            * _taps_seen(f["stride_w"], f["pad_left"], f["filter_w"], f["dilation_w"],
                         f["input_w"], f["output_w"]))
    macs = taps * channels  # per output pixel
    stage = f.get("output_stage", False)
    shape = f"depthwise {f['filter_h']}x{f['filter_w']} over {f['input_c']} channels" + _stride(f)
    if multiplier != 1:
        if multiplier >= 4:
            path = (f"{shape}, multiplier {multiplier}: one input value for 4 outputs, single "
                    f"MACs (SMLABB/SMLATB), each output requantized on its own")
            per_mac = DW_SHARED_PER_TAP4 / 4
        else:
            path = (f"{shape}, multiplier {multiplier}: every output alone in C, one MAC per "
                    f"tap")
            per_mac = DW_SINGLE_PER_TAP
        parts = {
            "output": (DW_SINGLE_OUTPUT * channels / macs,
                       f"{_per_output(taps)} against ~{DW_SINGLE_OUTPUT} instructions of "
                       f"output stage each"),
            "pixel": (DW_PIXEL / macs, f"the window per pixel serves only {channels} channels"),
        }
        return path, per_mac * seen / taps, parts
    quads, rest = divmod(channels, 4)
    why_not = ("no fast output table" if not stage else
               f"{taps} taps, more than the packed filter's 25" if taps > 25 else
               "fewer than 4 channels" if channels < 4 else "no packed filter")
    path = (f"{shape}, {why_not}: each input value feeds one MAC, no SMLAD pairing: per tap of 4 "
            f"channels 3 loads, 4 widenings and 4 single MACs (13 instructions)")
    pass_cost = DW_PASS if stage else DW_PASS + 4 * DW_GENERAL_PER_OUTPUT
    parts = {
        "pass": (quads * pass_cost / macs,
                 f"each 4-channel pass's set-up and output stage serve only {seen:.1f} taps "
                 f"on average"),
        "pixel": (DW_PIXEL / macs,
                  f"the window and tap list per pixel serve only {channels} channels"),
        "rest": (rest * (DW_SINGLE_PER_TAP * seen + DW_SINGLE_OUTPUT) / macs,
                 f"{rest} of {channels} channels one at a time in C"),
    }
    return path, quads * DW_PER_TAP4 * seen / macs, parts


def _depthwise_packed(f: dict) -> tuple[str, float, dict]:
    """Multiplier 1 over the converter's packed filter: taps paired for SMLAD."""
    channels = f["output_c"]
    taps = f["filter_h"] * f["filter_w"]
    quads, rest = divmod(channels, 4)
    clamp = DW_CLAMP if f["act_min"] > -128 or f["act_max"] < 127 else 0
    if (f["filter_h"], f["filter_w"]) == (3, 3):
        group, requantize = DW9_GROUP, DW9_REQUANTIZE
        pixel, row, call = DW9_PIXEL, DW9_ROW, DW9_CALL
        border_pixel = DW9_BORDER + DW9_BORDER_GROUP * quads
        kernel = "13 instructions per 8 MACs; the 3x3 group in assembly, 84 per 36 MACs"
    else:
        requantize = DW_REQUANTIZE4
        group = DW_GROUP + DW_PAIR * (taps // 2) + DW_SINGLE4 * (taps % 2) + requantize
        pixel, row, call = DW_PACKED_PIXEL, DW_ROW, DW_CALL
        border_pixel = DW_BORDER_BASE + DW_BORDER_PER_TAP * taps
        kernel = "15 instructions per 8 MACs"
    pixels = f["batches"] * f["output_h"] * f["output_w"]
    macs = pixels * taps * channels
    border = f["batches"] * _border_pixels(f) if f.get("pad_input", False) else 0
    seen = (_taps_seen(f["stride_h"], f["pad_top"], f["filter_h"], f["dilation_h"],
                       f["input_h"], f["output_h"])
            * _taps_seen(f["stride_w"], f["pad_left"], f["filter_w"], f["dilation_w"],
                         f["input_w"], f["output_w"]))
    rows = f["batches"] * f["output_h"]
    shape = f"depthwise {f['filter_h']}x{f['filter_w']} over {channels} channels" + _stride(f)
    path = (f"{shape}, packed filter: each input value feeds one MAC, so pairs of taps are "
            f"interleaved and widened for SMLAD ({kernel})")
    parts = {
        "output": (pixels * quads * (requantize + clamp) / macs,
                   f"only {_per_output(taps)} against ~{requantize / 4:.0f} instructions of "
                   f"output stage each"),
        "border": (border * border_pixel / macs,
                   f"{100 * border / pixels:.0f} % of the pixels' windows leave the input: "
                   f"each builds its own tap list"),
        "pixel": ((pixels * pixel + rows * row + call) / macs,
                  f"the set-up per pixel and row serves only {channels} channels"),
        "rest": (rest * pixels * (DW_TAIL_PIXEL + DW_SINGLE_PER_TAP * seen + DW_SINGLE_OUTPUT)
                 / macs, f"{rest} of {channels} channels one at a time in C"),
        **_strips_part(f, call, macs),
    }
    return path, pixels * quads * (group - requantize) / macs, parts


# ---- FULLY_CONNECTED -----------------------------------------------------------------------


def _fully_connected(f: dict) -> tuple[str, float, dict]:
    if f.get("packed", False):
        return _fully_connected_packed(f)
    depth, rows = f["accum_depth"], f["output_depth"]
    macs = depth * rows  # per input row
    if not f.get("output_stage", False):
        path = ("fully connected, general path (no fast output table): C, two rows share "
                "each widened input word, the input offset added by SXTAB16")
        parts = {"output": (FC_GENERAL_PER_OUTPUT / depth,
                            f"{_per_output(depth)} against ~{FC_GENERAL_PER_OUTPUT} "
                            f"instructions of requantization each")}
        return path, FC_GENERAL_PER_MAC, parts
    quads, rest = divmod(rows, 4)
    if quads == 0:
        path = ("fully connected: every weight is used once; fewer than 4 rows, so each row "
                f"is done alone in C (~{FC_SINGLE_PER_MAC} instructions per MAC)")
        parts = {"rows": (FC_SINGLE_ROW / depth,
                          f"only {_per_output(depth)} against ~{FC_SINGLE_ROW} instructions "
                          f"of set-up and output stage per row")}
        return path, FC_SINGLE_PER_MAC, parts
    path = ("fully connected: every weight is used once, so each 4 weights cost a load and "
            "2 SXTB16; 4 rows share each input word (assembly, 25 instructions per 16 MACs)")
    parts = {
        "rows": (quads * FC_ROWS4 / macs,
                 f"{_per_output(depth)} against the set-up and output stage of each 4 rows "
                 f"(~{FC_ROWS4} instructions)"),
        "rest": (rest * (FC_SINGLE_ROW + (FC_SINGLE_PER_MAC - FC_ASM_PER_MAC) * depth) / macs,
                 f"{rest} of {rows} rows one at a time in C (~{FC_SINGLE_PER_MAC} "
                 f"instructions per MAC)"),
    }
    return path, FC_ASM_PER_MAC, parts


def _fully_connected_packed(f: dict) -> tuple[str, float, dict]:
    """The packed weights: int16 pairs per group of 4 rows, the input offset in the starts."""
    depth, rows = f["accum_depth"], f["output_depth"]
    macs = depth * rows  # per input row
    blocks, tail = divmod(depth, 4)
    quads, rest = divmod(rows, 4)
    groups = quads + (rest > 0)  # a short last group is computed whole (zero rows)
    clamp = f["act_min"] > -128 or f["act_max"] < 127
    path = ("fully connected, packed weights: every weight is used once, stored widened to "
            "int16 pairs, so 4 rows share each widened input word (assembly, 14 instructions "
            "per 16 MACs)")
    parts = {
        "groups": (groups * FC_PACKED_GROUP / macs,
                   f"only {_per_output(depth)} against the starts and output stage of each "
                   f"4 rows (~{FC_PACKED_GROUP} instructions)"),
        "tail": (groups * FC_PACKED_TAIL * (tail > 0) / macs,
                 f"rows of {depth} values end in a part block: ~{FC_PACKED_TAIL} instructions "
                 f"more per 4 rows"),
        "call": (FC_PACKED_CALL / macs,
                 f"the layer has only {macs:,} MACs against ~{FC_PACKED_CALL} instructions of "
                 f"set-up per call"),
        "rest": ((FC_PACKED_SHORT + (4 - rest) * blocks * FC_PACKED_BLOCK / 4) * (rest > 0)
                 / macs,
                 f"{rows} rows end in a group of {rest}: one more call over a group padded "
                 f"with {4 - rest} zero rows"),
        "clamp": (FC_PACKED_CLAMP * rows * clamp / macs,
                  f"the activation clamp [{f['act_min']}, {f['act_max']}] is a second pass in "
                  f"C over the {rows} outputs"),
    }
    return path, rows * blocks * FC_PACKED_BLOCK / 4 / macs, parts


_MODELS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise,
           "FULLY_CONNECTED": _fully_connected}


# ---- fused layers (compiler/fusion.py, strips.c's tinyml_run_fused) ---------------------------


def _stage_name(f: dict) -> str:
    if f["op"] == "CONV_2D":
        return f"conv {f['filter_h']}x{f['filter_w']}x{f['filter_c']} to {f['output_c']}" \
            + _stride(f)
    if f["op"] == "DEPTHWISE_CONV_2D":
        return f"depthwise {f['filter_h']}x{f['filter_w']}" + _stride(f)
    if f["op"] in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        kind = "max" if f["op"] == "MAX_POOL_2D" else "average"
        return f"{kind} pool {f['filter_h']}x{f['filter_w']}" + _stride(f)
    return f["op"]


def _one_pass_pool(stages: list[dict]) -> bool:
    """Whether the DSP build runs a fused convolution + pool in one pass
    (tinyml_conv2d_pool_s8's conditions)."""
    if len(stages) != 2 or stages[0]["op"] != "CONV_2D" or stages[1]["op"] != "MAX_POOL_2D":
        return False
    conv, pool = stages
    return (conv.get("output_stage", False) and conv["act_min"] == -128
            and conv["act_max"] == 127 and pool["act_min"] == -128 and pool["act_max"] == 127
            and conv["batches"] == 1 and conv["filter_c"] == conv["input_c"]
            and conv["output_c"] % 2 == 0 and conv["filter_depth"] > 0
            and (pool["filter_h"], pool["filter_w"], pool["stride_h"], pool["stride_w"],
                 pool["pad_top"], pool["pad_left"]) == (2, 2, 2, 2, 0, 0))


def _conv_pool(stages: list[dict]) -> tuple[str, float, dict]:
    """A convolution and its 2x2 max pool in one pass: the convolution's path for the MACs of
    the pixels the pool reads, one output stage per pooled output, no pool pass, no rows."""
    conv, pool = stages
    shape, base, parts = _conv(conv)
    values = conv["filter_h"] * conv["filter_w"] * conv["filter_c"]
    computed = 4 * pool["output_h"] * pool["output_w"] * values * conv["output_c"]
    share = computed / conv["macs"]  # a VALID pool of an odd size leaves pixels uncomputed
    parts = {key: (value * share, text) for key, (value, text) in parts.items()}
    parts["output"] = (CONV_POOL_PER_OUTPUT * share / (4 * values),
                       f"only {4 * values} MACs per pooled output against ~"
                       f"{CONV_POOL_PER_OUTPUT} instructions of maxima and output stage each")
    where = shape.removeprefix(_stage_name(conv) + ", ")
    path = (f"{_stage_name(conv)} + {_stage_name(pool)} in one pass ({where}; each window's "
            "largest accumulator requantized once)")
    return path, base * share, parts


def _fused(f: dict) -> tuple[str, float, dict]:
    """Several operators run depth first, one output row at a time: each stage's own path for
    its MACs, the pool or ADD without MACs, and per row a call of every stage."""
    stages = f["stages"]
    if _one_pass_pool(stages):
        return _conv_pool(stages)
    total = sum(stage["macs"] for stage in stages)
    rows = next(stage["batches"] * stage["output_h"] for stage in reversed(stages)
                if "output_h" in stage)
    # With several convolutions a part says which; with one the path does.
    several = sum(1 for stage in stages if stage["macs"]) > 1
    base, parts = 0.0, {}
    for number, stage in enumerate(stages):
        if stage["macs"]:
            _, stage_base, stage_parts = _MODELS[stage["op"]](stage)
            weight = stage["macs"] / total
            base += stage_base * weight
            which = f"stage {number + 1}: " if several else ""
            for key, (value, text) in stage_parts.items():
                parts[f"{number} {key}"] = (value * weight, which + text)
            continue
        each = ADD_PER_OUTPUT if stage["op"] == "ADD" else POOL_PER_OUTPUT
        parts[f"{number} free"] = (stage["outputs"] * each / total,
                                   f"the {_stage_name(stage)}'s {stage['outputs']:,} outputs "
                                   f"(~{each} instructions each) have no MACs")
    parts["rows"] = (rows * len(stages) * FUSED_STAGE_ROW / total,
                     f"{rows} rows, each a call of every stage (~{FUSED_STAGE_ROW} "
                     f"instructions)")
    block = " (a residual block)" if stages[-1]["op"] == "ADD" else ""
    path = "fused " + " + ".join(_stage_name(stage) for stage in stages) + block \
        + ", run row by row"
    return path, base, parts


def above_goal(layers: list[dict], invoke: float) -> dict:
    """How many layers of the DSP build are above the goal, and their share of the invoke;
    layers without MACs counted apart (they have no instructions per MAC)."""
    over = [layer for layer in layers if layer["macs"] and layer["per_mac"] > GOAL_PER_MAC]
    no_macs = [layer for layer in layers if not layer["macs"]]

    def share(chosen: list[dict]) -> float | None:
        return sum(layer["cost"] for layer in chosen) / invoke if invoke else None

    return {"goal_per_mac": GOAL_PER_MAC, "layers": len(over), "of": len(layers),
            "share": share(over), "no_mac_layers": len(no_macs),
            "no_mac_share": share(no_macs)}
