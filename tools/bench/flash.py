"""Who owns each byte of a one-model image's flash, from its linker map.

Every input section the linker placed in a flash output section (code and constants, and the
initial values of .data) is attributed by the object it came from and, within the model's
plan, by the array it holds:

  runtime   the built-in runtime: the layer loop, the backend and the kernels this model uses
            (runtime.c, builtin_backend.c, op_*.c; --gc-sections drops the kernels it does not)
  plan      what the converter generated besides the weights: one parameter struct per layer,
            the per-channel requantization tables, the layer table, the model's description
            (shapes, quantization, labels) and the registry
  weights   the .tflite's constant tensors as the plan stores them: filters, biases and
            constant operands
  firmware  the rest of the image, which a product without this protocol would not carry: the
            serial protocol (device, framing, IMU modes), the QEMU board port, start-up, batch
            mode
  libc      the C library and compiler runtime (newlib-nano's memcpy, memset, ...)
  padding   alignment between sections

The six add up to the image's flash as `tinyml firmware size` reports it.
"""

from __future__ import annotations

import re
from pathlib import Path

from tinyml_pipeline.tools.bench.linkmap import Placed, parse_map
from tinyml_pipeline.tools.compiler.layers import Const, Operand
from tinyml_pipeline.tools.compiler.planner import Plan
from tinyml_pipeline.tools.size_report import size_report

CATEGORIES = ("runtime", "plan", "weights", "firmware", "libc", "padding")
# Const arrays that hold a constant tensor of the .tflite as it is; the others (multiplier,
# shift) are tables the converter computed.
_WEIGHT_LABELS = ("filter", "bias")
_RUNTIME_FILES = re.compile(r"^(runtime|builtin_backend|op_\w+)\.c\.(obj|o)$")
_CORE_ARCHIVE = "libtinyml_core.a"


def weight_arrays(plan: Plan) -> set[str]:
    """Names of the plan's C arrays that hold weights, as emit/plan_c.py names them:
    layer<step>_<field> (a list field's items get their index appended)."""
    names = set()
    for step, layer in enumerate(plan.layers):
        for field, value in layer.fields:
            items = ([(f"{field}{index}", item) for index, item in enumerate(value)]
                     if isinstance(value, (list, tuple)) else [(field, value)])
            for name, item in items:
                constant_operand = (isinstance(item, Operand)
                                    and item.tensor not in plan.tensor_offsets)
                if constant_operand or (isinstance(item, Const) and item.label in _WEIGHT_LABELS):
                    names.add(f"layer{step}_{name}")
    return names


def model_objects(models_dir: Path) -> set[str]:
    """Object file names of the generated model sources: <name>_plan.c.obj, ..."""
    return {f"{path.name}.obj" for path in Path(models_dir).glob("*.c")}


def category(entry: Placed, generated: set[str], plan_object: str, weights: set[str]) -> str:
    if entry.name == "*fill*" or not entry.source:
        return "padding"
    name = entry.object_name
    if entry.archive == _CORE_ARCHIVE and name in generated:
        array = entry.name.removeprefix(".rodata.")
        return "weights" if name == plan_object and array in weights else "plan"
    if entry.archive == _CORE_ARCHIVE and _RUNTIME_FILES.match(name):
        return "runtime"
    if entry.archive == _CORE_ARCHIVE or entry.archive is None:
        return "firmware"  # the protocol in the core library; the board's own objects
    return "libc"


def flash_split(elf: Path, map_file: Path, models_dir: Path, name: str, plan: Plan) -> dict:
    """Bytes of flash per category (CATEGORIES), their total, and the image's flash as
    size_report reads it from the ELF; the two totals are equal when nothing was missed.
    `name`: the model's C name, whose <name>_plan.c holds `plan`'s arrays."""
    report = size_report(elf)
    in_flash = {row["name"] for row in report["sections"]
                if row["region"] and "flash" in row["region"]}
    generated, weights = model_objects(models_dir), weight_arrays(plan)
    split = dict.fromkeys(CATEGORIES, 0)
    placed = parse_map(map_file)
    for output in in_flash:
        entries = placed.get(output, [])
        for entry in entries:
            split[category(entry, generated, f"{name}_plan.c.obj", weights)] += entry.occupied
        # Alignment the linker script adds after the last input section, and gaps between.
        section = next(row for row in report["sections"] if row["name"] == output)
        split["padding"] += section["size"] - sum(entry.occupied for entry in entries)
    split["total"] = sum(split[name] for name in CATEGORIES)
    split["image_flash"] = report["flash_bytes"]
    return split
