"""The bench's figures as one JSON-ready dict, and as the table `tinyml bench` prints.

Every figure is computed here from what was measured; nothing is a constant of a model. Costs
are per inference, as the medians over the bench's samples (the instruction counts vary a
little with the input: saturation and clamping branches), with the minimum and maximum.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.bench import cycles, flash, machine, macs, tflm_arena32, why
from tinyml_pipeline.tools.bench.image import Image
from tinyml_pipeline.tools.bench.model import BenchModel
from tinyml_pipeline.tools.compiler.planner import Plan
from tinyml_pipeline.tools.qemu_batch import Records
from tinyml_pipeline.tools.workspace import shown

VARIANT_NAMES = {"dsp": "DSP on", "no_dsp": "DSP off", "host": "host"}
HOW = {
    "qemu": ("executed Cortex-M4 instructions, counted by the image's timer under QEMU's "
             "-icount shift=7 (exact and deterministic; not cycles: a real Cortex-M4 spends one "
             "or more cycles on each, so this is a lower bound on its cycles)"),
    "host": ("wall-clock nanoseconds on the host (CLOCK_MONOTONIC around each invoke and "
             "layer); they vary run to run and say nothing about instructions on a "
             "microcontroller: no per-MAC instruction figures or lower bound for this target"),
}
LOWER_BOUND = ("MACs / 2 instructions: a Cortex-M4 with the DSP extension does two 16-bit "
               "multiply-accumulates per SMLAD, so int8 MACs widened to 16 bits need at least "
               "that many instructions, before any load, requantization or loop")
RAM_NOTE = ("plan arena: every activation and scratch buffer at the converter's static "
            "offsets; invoke stack: the deepest stack one measured invoke used below its call "
            "(repainted before it, read after it); TFLM arena (64-bit host): the smallest "
            "arena TFLM's host interpreter runs the model with (tflite_micro: an upper bound "
            "for a 32-bit board), without TFLM's own stack; TFLM arena, 32-bit target: what the "
            "board's TFLM reports using (arena_used_bytes after AllocateTensors), computed "
            "with TFLM's own allocation arithmetic for 4-byte pointers (tools/bench/"
            "tflm_arena32.py)")
TARGET_ARENA_METHOD = (
    f"{tflm_arena32.LIBRARY}: head = the greedy memory planner's peak over the activations "
    "and the kernels' scratch buffers (16-byte aligned), replayed in TFLM's order; "
    "tail = the persistent allocations in TFLM's order with its alignments (allocator "
    "objects, TfLiteEvalTensor and NodeAndRegistration arrays, builtin parameters, each "
    "kernel's OpData and per-channel arrays, scratch handles, input/output TfLiteTensors); "
    "struct sizes are sizeof on arm-none-eabi. Exact, byte for byte, for the operators it "
    "sizes (checked against the library built for the Cortex-M4 and run on QEMU); a model "
    "with others gets no figure")
CYCLE_MODEL = ("Cortex-M4 instruction timings (Arm's Technical Reference Manual) over the "
               "instructions QEMU executed in one traced inference: zero-wait-state memory, no "
               "cache misses or interrupts, pipeline refill P = 2 (taken branch 3 cycles), "
               "divides at their worst 12; see tools/bench/cycles.py")
FLASH_NOTE = ("attributed from the linker map of the one-model image: runtime = the layer "
              "loop, backend and the kernels this model links (runtime.c, builtin_backend.c, "
              "op_*.c); plan = layer parameter structs, requantization tables, layer table, "
              "model description and registry; weights = the filters, biases and constant "
              "operands; firmware = protocol, board port, start-up and batch mode; libc = "
              "newlib-nano and libgcc")


def _stats(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(values)), "min": float(values.min()),
            "max": float(values.max()), "mean": float(values.mean())}


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def layer_rows(bench: BenchModel, plan: Plan) -> list[dict]:
    """Per layer: its op, MACs and the shape facts its reason is derived from (why.py)."""
    def outputs(layer) -> int:
        return (int(np.prod(bench.model.tensor(layer.writes[0]).shape, dtype=np.int64))
                if layer.writes else 0)

    rows = []
    for index, layer in enumerate(plan.layers):
        facts = why.layer_facts(layer.op, layer.fields, outputs(layer))
        # A fused layer (compiler/fusion.py) does the MACs of every operator it runs; its
        # reason is built from each operator's facts.
        members = layer.extra.get("fused", (layer,))
        member_macs = [macs.op_macs(bench.model, member.op_index) for member in members]
        if "fused" in layer.extra:
            facts["stages"] = [{**why.layer_facts(member.op, member.fields, outputs(member)),
                                "macs": count}
                               for member, count in zip(members, member_macs, strict=True)]
        if index in plan.strips:  # run as several kernel calls, one per band of output rows
            facts["strip_rows"] = plan.strips[index][0]
        rows.append({"index": index, "op": layer.op, "op_index": layer.op_index,
                     "macs": sum(member_macs), "facts": facts})
    return rows


def add_reasons(dsp: dict) -> dict:
    """The DSP build's layers above the goal get their reason ("why"); returns the count of
    them and their share of the invoke."""
    for layer in dsp["layers"]:
        layer["why"] = why.reason(layer["facts"], layer["macs"], layer["cost"])
    return why.above_goal(dsp["layers"], dsp["per_inference"]["median"])


def variant_figures(records: Records, rows: list[dict], total_macs: int, target: str) -> dict:
    """One build's costs: per inference, around the layers, per layer, per MAC, and against
    the lower bound (QEMU only)."""
    total = _stats(records.costs)
    layer_medians = np.median(records.layer_costs.astype(np.float64), axis=0)
    instructions = target == "qemu"
    layers = []
    for row, cost in zip(rows, layer_medians, strict=True):
        cost = float(cost)
        layers.append({**row, "cost": cost,
                       "share": _ratio(cost, total["median"]),
                       "per_mac": _ratio(cost, row["macs"]),
                       "over_lower_bound": (_ratio(cost, macs.lower_bound_instructions(
                           row["macs"])) if instructions else None)})
    return {
        "per_inference": total,
        "empty_invoke": _stats(records.empty_invoke),
        "per_mac": _ratio(total["median"], total_macs),
        "over_lower_bound": (_ratio(total["median"], macs.lower_bound_instructions(total_macs))
                             if instructions else None),
        "layers": layers,
        "per_sample": {"cost": records.costs.tolist(),
                       "empty_invoke": records.empty_invoke.tolist(),
                       "layer_costs": records.layer_costs.tolist()},
        "identical_to_tflm": len(records.costs),
    }


def cycle_estimate(traced: cycles.CycleCount, total_macs: int, image_count: int) -> dict:
    """The DSP build's first sample, traced: instructions by class and the cycles the
    Cortex-M4 model gives them (tools/bench/cycles.py)."""
    return {"sample": 0, "build": "dsp",
            "instructions": traced.total_instructions,
            "image_count": image_count,
            "cycles": traced.total_cycles,
            "cycles_per_mac": _ratio(traced.total_cycles, total_macs),
            "cycles_per_instruction": _ratio(traced.total_cycles, traced.total_instructions),
            "by_class": {kind: {"instructions": traced.instructions.get(kind, 0),
                                "cycles": traced.cycles.get(kind, 0)}
                         for kind in cycles.CLASSES if traced.instructions.get(kind, 0)},
            "model": CYCLE_MODEL}


def assemble(bench: BenchModel, plan: Plan, target: str, runs: int, seed: int,
             images: list[Image], results: dict[str, Records], tflm_arena: int,
             directory: Path, seconds: dict, traced: cycles.CycleCount | None = None,
             tflm_target: tflm_arena32.Arena32 | str | None = None) -> dict:
    rows = layer_rows(bench, plan)
    total_macs = sum(row["macs"] for row in rows)
    variants = {variant: variant_figures(records, rows, total_macs, target)
                for variant, records in results.items()}
    cost = {"unit": "instructions" if target == "qemu" else "ns", "how": HOW[target],
            "variants": variants,
            "identity": ("per sample: cost = empty_invoke + the sum of layer_costs"
                         + (", exactly" if target == "qemu" else
                            ", approximately (separate timings)"))}
    if target == "qemu":
        cost["no_dsp_over_dsp"] = _ratio(variants["no_dsp"]["per_inference"]["median"],
                                         variants["dsp"]["per_inference"]["median"])
        cost["lower_bound"] = {"instructions": macs.lower_bound_instructions(total_macs),
                               "assumes": LOWER_BOUND}
        cost["above_goal"] = add_reasons(variants["dsp"])
    if traced is not None:
        cost["cycle_estimate"] = cycle_estimate(traced, total_macs,
                                                int(results["dsp"].costs[0]))
    first = images[0]
    stack = results[first.variant].invoke_stack
    high_water = results[first.variant].stack_high_water
    ram = {"plan_arena": plan.arena_bytes,
           "invoke_stack": int(stack.max()) if stack is not None else None,
           "image_stack_high_water": int(high_water.max()) if high_water is not None else None,
           "tflm_arena": tflm_arena, "note": RAM_NOTE}
    ram["total"] = ram["plan_arena"] + (ram["invoke_stack"] or 0)
    ram["total_over_tflm"] = _ratio(ram["total"], tflm_arena)
    ram.update(target_arena_figures(plan.arena_bytes, tflm_target))
    if target == "qemu":
        ram["invoke_stack_per_build"] = {variant: int(records.invoke_stack.max())
                                         for variant, records in results.items()}
    return {
        "bench_version": 1,
        "model": {"name": bench.name, "path": shown(bench.path), "sha256": bench.sha256,
                  "tflite_bytes": bench.model.size, "ops": bench.model.op_names(),
                  "layers": len(plan.layers), "macs": total_macs,
                  "macs_counted": "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED (as the cards)"},
        "target": target,
        "inputs": {"runs": runs, "seed": seed,
                   "kind": "int8, uniform over [-128, 127] (numpy default_rng(seed))"},
        "check": {"reference": "TFLite Micro's host interpreter (tflite_micro)",
                  "identical": {variant: len(records.costs)
                                for variant, records in results.items()},
                  "samples": runs},
        "cost": cost,
        "flash": _flash(bench, plan, images, directory) if target == "qemu" else None,
        "ram": ram,
        "images": {built.variant: shown(built.elf) for built in images},
        "machine": machine.describe(),
        "seconds": seconds,
    }


def target_arena_figures(plan_arena: int,
                         tflm_target: tflm_arena32.Arena32 | str | None) -> dict:
    """The RAM dict's 32-bit TFLM figures: the arena, the plan's share of it, its head and
    tail; a string is why the arithmetic could not size the model (the figures are None)."""
    if not isinstance(tflm_target, tflm_arena32.Arena32):
        return {"tflm_arena_32bit": None, "plan_over_tflm_32bit": None,
                "tflm_arena_32bit_detail": {"not_sized": tflm_target,
                                            "method": TARGET_ARENA_METHOD}}
    return {"tflm_arena_32bit": tflm_target.total,
            "plan_over_tflm_32bit": _ratio(plan_arena, tflm_target.total),
            "tflm_arena_32bit_detail": {"head": tflm_target.head, "tail": tflm_target.tail,
                                        "tail_parts": tflm_target.tail_parts,
                                        "scratch": tflm_target.scratch,
                                        "method": TARGET_ARENA_METHOD}}


def _flash(bench: BenchModel, plan: Plan, images: list[Image], directory: Path) -> dict:
    """The DSP build's flash split (the build a product ships), and the other build's runtime
    code, which is all that differs between them."""
    split = {}
    for built in images:
        split[built.variant] = flash.flash_split(built.elf, built.map_file,
                                                 directory / "models", bench.name, plan)
    shipped = split["dsp"]
    model_part = shipped["runtime"] + shipped["plan"] + shipped["weights"]
    return {**{key: shipped[key] for key in (*flash.CATEGORIES, "total", "image_flash")},
            "model_part": model_part, "tflite_bytes": bench.model.size,
            "model_part_over_tflite": _ratio(model_part, bench.model.size),
            "runtime_no_dsp": split["no_dsp"]["runtime"], "note": FLASH_NOTE}


# ---- the table ---------------------------------------------------------------------------


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_table(result: dict) -> str:
    model, cost = result["model"], result["cost"]
    qemu = result["target"] == "qemu"
    variants = list(cost["variants"])
    unit = cost["unit"]
    lines = [f"{model['name']}: {model['path']} ({model['tflite_bytes']:,} bytes, sha256 "
             f"{model['sha256'][:12]}), {_count(model['layers'], 'layer')}, {model['macs']:,} MACs",
             f"target: {'QEMU mps2-an386 (Cortex-M4F)' if qemu else 'host'}; "
             f"{result['inputs']['runs']} random int8 inputs (seed {result['inputs']['seed']}), "
             f"outputs identical to TFLM's on all of them"
             + (" in both builds" if qemu else ""),
             f"cost: {unit} per inference, the median over the inputs", ""]
    width, column = 30, 16
    header = f"{'':<{width}}" + "".join(f"{VARIANT_NAMES[v]:>{column}}" for v in variants)
    if qemu:
        header += f"{'off / on':>{column}}"
    lines.append(header)

    def row(label: str, values: list[str], extra: str = "") -> None:
        lines.append(f"{label:<{width}}" + "".join(f"{v:>{column}}" for v in values)
                     + (f"{extra:>{column}}" if extra else ""))

    figures = [cost["variants"][v] for v in variants]
    row(f"per inference ({unit})", [_n(f["per_inference"]["median"]) for f in figures],
        _x(cost.get("no_dsp_over_dsp")) if qemu else "")
    row("  min / max, from the median", [_spread(f["per_inference"]) for f in figures])
    row("  around the layers", [_n(f["empty_invoke"]["median"]) for f in figures])
    row(f"per MAC ({unit})", [_n(f["per_mac"], 2) for f in figures])
    if qemu:
        bound = cost["lower_bound"]["instructions"]
        row("lower bound (MACs / 2)", [_n(bound, 1 if bound < 100 else 0)] * len(figures))
        row("over the lower bound", [_x(f["over_lower_bound"]) for f in figures])
    estimate = cost.get("cycle_estimate")
    if estimate:
        row("est. M4 cycles (sample 0)", [_n(estimate["cycles"])])
        row("est. M4 cycles per MAC", [_n(estimate["cycles_per_mac"], 2)])
        lines.extend(textwrap.wrap(
            "by class (instructions / cycles): " + ", ".join(
                f"{kind} {_n(figure['instructions'])} / {_n(figure['cycles'])}"
                for kind, figure in estimate["by_class"].items()),
            width=100, initial_indent="  ", subsequent_indent="    "))
        lines.extend(textwrap.wrap(
            f"traced {estimate['instructions']:,} instructions, the image counts "
            f"{estimate['image_count']:,}; model: {estimate['model']}",
            width=100, initial_indent="  ", subsequent_indent="    "))
    lines.append("")
    lines.append(f"{'layer':<6}{'op':<20}{'MACs':>12}"
                 + "".join(f"{VARIANT_NAMES[v]:>14}{'/MAC':>8}" for v in variants)
                 + f"{'share':>8}" + ("  why (DSP on, above the goal)" if qemu else ""))
    for index, layer in enumerate(figures[0]["layers"]):
        line = f"{index:<6}{layer['op']:<20}{_n(layer['macs']):>12}"
        for figure in figures:
            this = figure["layers"][index]
            line += f"{_n(this['cost']):>14}{_n(this['per_mac'], 2):>8}"
        line += f"{_percent(layer['share']):>8}"
        lines.append(line + (f"  {layer['why']}" if layer.get("why") else ""))
    if qemu:
        lines.append(above_goal_line(cost["above_goal"]))
    lines.append("")
    lines.extend(_memory_lines(result))
    lines.append(f"machine: {machine.one_line(result['machine'])}")
    if not qemu:
        lines.append("note: host nanoseconds vary run to run; they are no instruction counts "
                     "and the DSP paths do not run on the host")
    return "\n".join(lines)


def above_goal_line(summary: dict) -> str:
    """"above goal: N layers, X % of the invoke", for the table and BENCHMARKS.md."""
    line = (f"above goal ({summary['goal_per_mac']} instructions per MAC, DSP on): "
            f"{_count(summary['layers'], 'layer')} of {summary['of']}, "
            f"{_percent(summary['share'])} of the invoke")
    if summary["no_mac_layers"]:
        line += (f"; without MACs: {_count(summary['no_mac_layers'], 'layer')}, "
                 f"{_percent(summary['no_mac_share'])}")
    return line


def _memory_lines(result: dict) -> list[str]:
    lines = []
    flash_split, ram = result["flash"], result["ram"]
    if flash_split:
        lines.append(
            f"flash: runtime {flash_split['runtime']:,} + plan {flash_split['plan']:,} + weights "
            f"{flash_split['weights']:,} = {flash_split['model_part']:,} bytes against the "
            f".tflite's {flash_split['tflite_bytes']:,} "
            f"({_x(flash_split['model_part_over_tflite'])}); portable build's runtime "
            f"{flash_split['runtime_no_dsp']:,}")
        lines.append(
            f"       whole image {flash_split['image_flash']:,}: also firmware "
            f"{flash_split['firmware']:,}, libc {flash_split['libc']:,}, padding "
            f"{flash_split['padding']:,}")
    else:
        lines.append("flash: not measured on the host (it is the MCU image's; use --target "
                     "qemu)")
    stack = ram["invoke_stack"]
    lines.append(
        f"RAM:   plan arena {ram['plan_arena']:,}"
        + (f" + invoke stack {stack:,} = {ram['total']:,}" if stack is not None else "")
        + f" bytes against TFLM's 64-bit host arena {ram['tflm_arena']:,} "
          f"({_x(ram['total_over_tflm'])})"
        + (f"; the image's stack high-water {ram['image_stack_high_water']:,}"
           if ram["image_stack_high_water"] is not None else
           "; the host measures no stack"))
    target = ram.get("tflm_arena_32bit")
    if target is not None:
        detail = ram["tflm_arena_32bit_detail"]
        lines.append(
            f"       TFLM arena, 32-bit target {target:,} (head {detail['head']:,} + tail "
            f"{detail['tail']:,}): plan arena / TFLM 32-bit "
            f"{_percent(ram['plan_over_tflm_32bit'])}")
    else:
        lines.append("       TFLM arena, 32-bit target: not sized ("
                     f"{(ram.get('tflm_arena_32bit_detail') or {}).get('not_sized')})")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _spread(stats: dict) -> str:
    """min and max as offsets from the median: short enough for a column."""
    low, high = stats["min"] - stats["median"], stats["max"] - stats["median"]
    return f"{low:+,.0f} / {high:+,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
