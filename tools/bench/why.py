"""Why a layer costs more than the goal's instructions per MAC: one short reason per layer,
from the layer's shape (its plan parameters) and the path its kernel takes in the DSP build.

The paths are those of firmware/lib/tinyml/src/op_conv2d_dsp.h, op_depthwise_conv2d_dsp.h,
op_fully_connected_dsp.h and their _asm.h hot loops at this code; a kernel change that moves a
layer to another path must change `_conv_path`, `_depthwise_path` or `_fc_path` here too.

To name what dominates, each path's instructions are split into parts (the multiply-accumulates
themselves, the output stage, im2col, set-up per pixel or pass) with per-part costs: the
counts the kernels' comments give for their assembly loops, and for the C around them, costs
fitted to the bench's per-layer figures of the committed and public models (the sum, `estimate`,
is within 10 % of the measured layer for all but a few small layers, whose calls and loop
set-up it leaves out). The reason names the path and the largest overhead part (and the next
one when it is close); it states shape facts, not the estimate.
"""

from __future__ import annotations

import numbers

# The goal: instructions per MAC in the DSP build.
GOAL_PER_MAC = 1.25

# CONV_2D, op_conv2d_asm.h: 16 instructions per block of 4 depth values x 2 filters x 2 pixels.
CONV_ASM_PER_SLOT = 1.0
CONV_C_PER_SLOT = 1.4  # conv_columns/conv_dot in C: the loads and SXTB16 GCC schedules itself
# Per output: 6 (SMMLAR .. STRB) plus the pair loop's 20 shared by a pair's 4 outputs.
CONV_ASM_PER_OUTPUT = 11
CONV_FAST_C_PER_OUTPUT = 14  # conv_out with the table, plus the clamp
CONV_GENERAL_PER_OUTPUT = 40  # tinyml_conv_output: 64-bit multiply, rounding, shift, clamp
# im2col (fitted): per pixel and per 4-value word widened from word runs of the input.
CONV_PIXEL = 50
CONV_PER_WORD = 10
# conv_im2col_staged (fitted): call, memset of the stage, per filter row a copy, then widening.
CONV_STAGED_PIXEL = 150
CONV_STAGED_PER_VALUE = 4
CONV_STAGED_PER_ROW = 30
CONV_STAGE_BYTES = 128  # op_conv2d_dsp.h: deeper filters take conv_im2col_values instead
CONV_VALUES_PER_VALUE = 12  # conv_im2col_values: one store per in-image value

# DEPTHWISE_CONV_2D multiplier 1, op_depthwise_conv2d_asm.h: 13 instructions per tap of 4
# channels (4 MACs). Per 4-channel pass (fitted): seeding 4 accumulators, the loop's entry,
# requantizing and packing 4 outputs. Per pixel (fitted): the window clip, the tap list.
DW_PER_TAP4 = 13
DW_PASS = 85
DW_PIXEL = 280
DW_SINGLE_PER_TAP = 8  # dw_sum1, a channel past the last multiple of 4, in C
DW_SINGLE_OUTPUT = 40
DW_SHARED_PER_TAP4 = 12  # multiplier >= 4: dw_sum4_shared, one input byte for 4 outputs
DW_GENERAL_PER_OUTPUT = 40  # the general requantization, without the fast table

# FULLY_CONNECTED, op_fully_connected_asm.h: 25 instructions per 4 values x 4 rows.
FC_ASM_PER_MAC = 25 / 16
FC_ROWS4 = 140  # per 4 rows (fitted): the call, start values, requantizing 4 outputs
FC_SINGLE_PER_MAC = 2.5  # fc_dot in C, a row past the last multiple of 4
FC_SINGLE_ROW = 30
FC_GENERAL_PER_MAC = 2.0  # fc_dot_2: two rows share the widened input, offset by SXTAB16
FC_GENERAL_PER_OUTPUT = 40

NEXT_CLOSE = 0.6  # the second overhead is named too when at least this share of the first
MENTION_SHARE = 0.1  # an overhead below this share of the layer's estimate goes unnamed


def layer_facts(op: str, fields: list[tuple[str, object]], outputs: int) -> dict:
    """What the reason needs of a plan layer: its op, its integer parameters, whether the
    plan has the fast output-stage table, and its output's element count. JSON-ready."""
    facts = {"op": op, "outputs": int(outputs)}
    for name, value in fields:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            facts[name] = int(value)
        elif name == "output_stage":  # a Const table, or Null where it would not be exact
            facts["output_stage"] = type(value).__name__ == "Const"
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
    model = _MODELS.get(facts["op"])
    if model is None:
        return f"{facts['op']}: no DSP path"
    path, base, parts = model(facts)
    return _compose(path, base, parts)


def estimate(facts: dict) -> float | None:
    """The instructions per MAC the path's parts add up to, None for an op without MACs: the
    check that the parts are of the right size (tests/test_bench.py)."""
    model = _MODELS.get(facts["op"])
    if model is None:
        return None
    _, base, parts = model(facts)
    return base + sum(value for value, _ in parts.values())


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


# Each model: facts -> (the path in words, the MAC loop's instructions per MAC, the overhead
# parts {name: (instructions per MAC, what it is in words)}).

# ---- CONV_2D ---------------------------------------------------------------------------


def _conv_runs(f: dict) -> str:
    """Which word runs op_conv2d_dsp.h's conv_layout_of finds in a patch: patch, rows, taps or
    none (then every patch is gathered on the stack first)."""
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
    return "none"


def _inside(origin: int, taps: int, dilation: int, size: int) -> bool:
    return origin >= 0 and origin + (taps - 1) * dilation < size


def _border_share(f: dict) -> float:
    """The share of output pixels whose window reaches the padding."""
    rows = sum(_inside(y * f["stride_h"] - f["pad_top"], f["filter_h"], f["dilation_h"],
                       f["input_h"]) for y in range(f["output_h"]))
    cols = sum(_inside(x * f["stride_w"] - f["pad_left"], f["filter_w"], f["dilation_w"],
                       f["input_w"]) for x in range(f["output_w"]))
    return 1.0 - rows * cols / (f["output_h"] * f["output_w"])


def _conv(f: dict) -> tuple[str, float, dict]:
    full_range = f["act_min"] == -128 and f["act_max"] == 127
    groups = max(f["input_c"] // max(f["filter_c"], 1), 1)
    filters = f["output_c"] // groups
    stage = f.get("output_stage", False)
    in_asm = stage and full_range and filters >= 2 and f["filter_depth"] > 0
    runs = _conv_runs(f)
    border = 1.0 if runs == "none" else _border_share(f)
    values = f["filter_h"] * f["filter_w"] * f["filter_c"]  # MACs per output
    depth = f["filter_depth"]
    macs = values * filters  # per output pixel and group
    per_slot = CONV_ASM_PER_SLOT if in_asm else CONV_C_PER_SLOT
    per_output = (CONV_ASM_PER_OUTPUT if in_asm else
                  CONV_FAST_C_PER_OUTPUT if stage else CONV_GENERAL_PER_OUTPUT)
    runs_pixel = CONV_PIXEL + CONV_PER_WORD * depth / 4
    staged = depth <= CONV_STAGE_BYTES
    if staged:
        gathered = (CONV_STAGED_PIXEL + CONV_STAGED_PER_VALUE * depth
                    + CONV_STAGED_PER_ROW * f["filter_h"] + CONV_PER_WORD * depth / 4)
    else:
        gathered = CONV_PIXEL + CONV_VALUES_PER_VALUE * values + depth
    kind = "staged on the stack" if staged else "gathered value by value"
    parts = {
        "zeros": ((depth - values) * filters * per_slot / macs,
                  f"the filter layout pads each output's {values} values to {depth} "
                  f"(whole words per run): {depth - values} MACs on zero weights"),
        "output": (per_output * filters / macs,
                   f"only {_per_output(values)} against ~{per_output} instructions of "
                   f"output stage each"),
        "im2col": (runs_pixel / macs,
                   f"each pixel's im2col ({depth} values widened to int16) is shared by only "
                   f"{filters} filters"),
    }
    if runs == "none":
        parts["im2col"] = (gathered / macs,
                           f"{f['filter_c']}-channel filter rows of "
                           f"{f['filter_w'] * f['filter_c']} values are no whole-word runs: "
                           f"every patch is {kind} first, for only {filters} filters")
    elif border > 0:
        parts["padding"] = (border * (gathered - runs_pixel) / macs,
                            f"{100 * border:.0f} % of the pixels reach the padding: their "
                            f"patch is {kind}")
    shape = (f"conv {f['filter_h']}x{f['filter_w']}x{f['filter_c']} to {f['output_c']}"
             + _stride(f))
    if in_asm:
        where = "assembly filter pairs" + (" (the odd last filter in C)" if filters % 2 else "")
    elif not stage:
        where = "C filter pairs, general requantization (no fast output table for this layer)"
    elif not full_range:
        where = (f"C filter pairs: the activation clamp [{f['act_min']}, {f['act_max']}] keeps "
                 "it off the assembly")
    else:
        where = "C, one filter per group"
    return f"{shape}, {where}", per_slot, parts


# ---- DEPTHWISE_CONV_2D ---------------------------------------------------------------------


def _taps_seen(step: int, pad: int, taps: int, dilation: int, size: int, count: int) -> float:
    """The mean number of a window axis's taps inside the image (padding taps are skipped)."""
    total = 0
    for index in range(count):
        origin = index * step - pad
        total += sum(0 <= origin + dilation * tap < size for tap in range(taps))
    return total / count


def _depthwise(f: dict) -> tuple[str, float, dict]:
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
    path = (f"{shape}: each input value feeds one MAC, so no SMLAD pairing: per tap of 4 "
            f"channels 3 loads, 4 widenings and 4 single MACs (13 instructions)")
    pass_cost = DW_PASS if stage else DW_PASS + 4 * DW_GENERAL_PER_OUTPUT
    if not stage:
        path += ", general requantization (no fast output table)"
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


# ---- FULLY_CONNECTED -----------------------------------------------------------------------


def _fully_connected(f: dict) -> tuple[str, float, dict]:
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


_MODELS = {"CONV_2D": _conv, "DEPTHWISE_CONV_2D": _depthwise,
           "FULLY_CONNECTED": _fully_connected}


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
