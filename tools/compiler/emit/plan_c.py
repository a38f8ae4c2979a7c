"""The built-in runtime's plan as C: weights as const arrays, one params struct per layer, the
layer table and the tinyml_plan with its arena size.

Every struct is filled with designated initializers (`.stride_w = 1`), so the C compiler checks
each field name against the kernel's header: reordering or renaming a field there cannot
silently shift the values into the wrong ones."""

from __future__ import annotations

import math

import numpy as np

from tinyml_pipeline.tools.compiler.emit.cformat import c_array_body, c_float, c_int, include_guard
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.layers import (
    Const,
    Layer,
    Null,
    Offset,
    Operand,
    Scratch,
    Stage,
    Streamed,
)
from tinyml_pipeline.tools.compiler.planner import Plan

# The C types of the generated plan: every scalar field is an int32_t (offsets and sizes
# uint32_t), arrays are of their Const's ctype.
INT_RANGES = {"int8_t": (-(1 << 7), (1 << 7) - 1), "uint8_t": (0, (1 << 8) - 1),
              "int16_t": (-(1 << 15), (1 << 15) - 1), "uint16_t": (0, (1 << 16) - 1),
              "int32_t": (-(1 << 31), (1 << 31) - 1),
              "uint32_t": (0, (1 << 32) - 1), "int64_t": (-(1 << 63) + 1, (1 << 63) - 1)}


def _field_value(plan: Plan, step: int, layer: Layer, name: str, value, arrays: dict,
                 prefix: str) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return c_int(value)
    if isinstance(value, float):
        return c_float(value)
    if isinstance(value, Offset):
        return f"{plan.offset(value.tensor)}u"
    if isinstance(value, Scratch):
        return f"{plan.scratch_offsets.get(step, 0) + value.plus}u"
    if isinstance(value, Streamed):
        return "{.constant = NULL, .offset = 0u}" if value.operand else "0u"
    if isinstance(value, Stage):
        return (f"{{.run = {value.layer.kernel}, .params = &{prefix}_{name}_params, "
                f".kind = {value.kind}}}")
    if isinstance(value, Null):
        return "NULL"
    if isinstance(value, Const):
        return arrays[(prefix, name)]
    if isinstance(value, Operand):
        if value.tensor in plan.tensor_offsets:
            return f"{{.constant = NULL, .offset = {plan.offset(value.tensor)}u}}"
        return f"{{.constant = {arrays[(prefix, name)]}, .offset = 0u}}"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_field_value(plan, step, layer, element, v, arrays, prefix)
                               for element, v in _elements(name, value)) + "}"
    raise TypeError(f"cannot emit field {name}={value!r} of {layer.op}")


def _elements(name: str, value) -> list[tuple[str, object]]:
    """A list field's items, each named with its index (so a list of operands can hold
    several constants); any other field as itself."""
    if isinstance(value, (list, tuple)):
        return [(f"{name}{index}", item) for index, item in enumerate(value)]
    return [(name, value)]


def _constant_of_operand(plan: Plan, value: Operand) -> Const:
    tensor = plan.model.tensor(value.tensor)
    data = plan.model.tensor_data(value.tensor)
    ctype = {"INT8": "int8_t", "INT32": "int32_t", "FLOAT32": "float", "INT16": "int16_t"}[
        tensor.type_name]
    return Const(ctype, data, "operand")


def plan_header(name: str, plan: Plan, banner: str) -> str:
    guard = include_guard(f"{name}_plan.h")
    return (f"{banner}#ifndef {guard}\n#define {guard}\n\n"
            f'#include "tinyml/runtime.h"\n\n'
            f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
            f"/* Peak activation RAM of the static memory plan, scratch included. */\n"
            f"#define {name.upper()}_PLAN_ARENA_BYTES {plan.arena_bytes}u\n\n"
            f"extern const tinyml_plan g_{name}_plan;\n\n"
            f"#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */\n")


def _tensor_bytes(plan: Plan, tensor: int) -> int:
    info = plan.model.tensor(tensor)
    return math.prod(info.shape) * np.dtype(info.dtype).itemsize


def _value_problem(value, ctype: str = "int32_t") -> str | None:
    """Why `value` cannot be written as a C constant of `ctype`, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        low, high = INT_RANGES[ctype]
        return None if low <= value <= high else f"{value} is outside {ctype}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} is not a finite float"
    if isinstance(value, Const):
        values = np.asarray(value.values)
        if value.ctype == "float":
            return None if bool(np.isfinite(values).all()) else "holds a non-finite float"
        if values.size and (int(values.min()) < INT_RANGES[value.ctype][0]
                            or int(values.max()) > INT_RANGES[value.ctype][1]):
            return (f"values {int(values.min())} to {int(values.max())} are outside "
                    f"{value.ctype}")
    return None


def _with_stages(layers: list[Layer]) -> list[Layer]:
    """The layers and, after each, the layers it runs inside it (Stage fields)."""
    return [inner for layer in layers for inner in (layer, *_with_stages(_stages(layer)))]


def _stages(layer: Layer) -> list[Layer]:
    """The layers a fused layer runs (its Stage fields, lists included)."""
    return [value.layer for field in layer.fields for _, value in _elements(*field)
            if isinstance(value, Stage)]


def check_representable(plan: Plan) -> None:
    """Every constant the plan's C will hold fits its C type, so that the generated sources
    compile (a zero point of 2^40 once broke the build) and nothing is truncated silently."""
    source = plan.model.source
    for layer in _with_stages(plan.layers):
        for field_name, value in (item for field in layer.fields for item in _elements(*field)):
            problem = _value_problem(value)
            if problem:
                raise CompileError(f"{source}: op #{layer.op_index} {layer.op}: {field_name} "
                                   f"{problem}")
        for tensor in layer.writes:
            problem = _value_problem(_tensor_bytes(plan, tensor), "uint32_t")
            if problem:
                raise CompileError(f"{source}: op #{layer.op_index} {layer.op}: output bytes "
                                   f"{problem}")
    for what, value in [("arena bytes", plan.arena_bytes),
                        *((f"offset of tensor {t}", o) for t, o in plan.tensor_offsets.items()),
                        *((f"scratch offset of layer {s}", o)
                          for s, o in plan.scratch_offsets.items())]:
        problem = _value_problem(value, "uint32_t")
        if problem:
            raise CompileError(f"{source}: plan {what} {problem}")


STRIPS_HEADER = "tinyml/strips.h"
STRIPS_KIND = {"CONV_2D": "TINYML_STRIPS_CONV2D",
               "DEPTHWISE_CONV_2D": "TINYML_STRIPS_DEPTHWISE_CONV2D"}


def _entry(plan: Plan, step: int, layer: Layer) -> str:
    """The layer table's kernel and params: the strip runner's for a layer run in strips."""
    if step in plan.strips:
        return f"tinyml_run_strips, .params = &layer{step}_strips"
    return f"{layer.kernel}, .params = &layer{step}_params"


def _struct_body(plan: Plan, step: int, layer: Layer, prefix: str, out: list[str]) -> str:
    """The initializer of the layer's parameter struct; first appends to `out` the arrays it
    points to, named `<prefix>_<field>`, and the structs of the layers it runs (Stage)."""
    arrays: dict[tuple[str, str], str] = {}
    for field_name, value in (item for field in layer.fields for item in _elements(*field)):
        if isinstance(value, Operand) and value.tensor not in plan.tensor_offsets:
            value = _constant_of_operand(plan, value)
        if isinstance(value, Const):
            array = f"{prefix}_{field_name}"
            arrays[(prefix, field_name)] = array
            out.append(f"static const {value.ctype} {array}[{value.values.size}] = {{\n"
                       f"{c_array_body(value.ctype, value.values)}\n}};\n\n")
        if isinstance(value, Stage):
            inner = f"{prefix}_{field_name}"
            body = _struct_body(plan, step, value.layer, inner, out)
            out.append(f"/* op #{value.layer.op_index} {value.layer.op}, run inside "
                       f"{layer.op} */\n"
                       f"static const {value.layer.params_type} {inner}_params = {{\n{body}\n}};"
                       f"\n\n")
    return ",\n".join(
        f"    .{field_name} = {_field_value(plan, step, layer, field_name, value, arrays, prefix)}"
        for field_name, value in layer.fields)


def _headers(layer: Layer) -> set[str]:
    return {layer.header} | {header for stage in _stages(layer) for header in _headers(stage)}


def plan_source(name: str, plan: Plan, banner: str) -> str:
    check_representable(plan)
    headers = sorted({header for layer in plan.layers for header in _headers(layer)}
                     | ({STRIPS_HEADER} if plan.strips else set()))
    out = [banner, f'#include "{name}_plan.h"\n\n#include <stddef.h>\n\n',
           f'#include "{name}_settings.h"\n']
    out += [f'#include "{header}"\n' for header in headers]
    out.append("\n")
    for step, layer in enumerate(plan.layers):
        body = _struct_body(plan, step, layer, f"layer{step}", out)
        note = ", output over its input (in place)" if step in plan.in_place else ""
        if step in plan.strips:
            strip_rows, reverse = plan.strips[step]
            note = (f", output overlapping its input, run in strips of {strip_rows} output rows "
                    f"{'bottom up' if reverse else 'top down'}")
        out.append(f"/* op #{layer.op_index} {layer.op}{note} */\n"
                   f"static const {layer.params_type} layer{step}_params = {{\n{body}\n}};\n\n")
        if step in plan.strips:
            out.append(f"static const tinyml_strips_params layer{step}_strips = {{\n"
                       f"    .run = {layer.kernel},\n    .params = &layer{step}_params,\n"
                       f"    .kind = {STRIPS_KIND[layer.op]},\n    .rows = {strip_rows},\n"
                       f"    .reverse = {int(reverse)}\n}};\n\n")
    if plan.layers:
        rows = ",\n".join(f'    {{.op = "{layer.op}", .run = {_entry(plan, step, layer)}, '
                          f'.output_offset = {plan.offset(layer.writes[0])}u, '
                          f'.output_bytes = {_tensor_bytes(plan, layer.writes[0])}u}}'
                          for step, layer in enumerate(plan.layers))
        out.append(f"static const tinyml_layer g_{name}_layers[{len(plan.layers)}] = {{\n"
                   f"{rows}\n}};\n\n")
        layers = f"g_{name}_layers"
    else:
        layers = "NULL"
    out.append(f"const tinyml_plan g_{name}_plan = {{\n"
               f"    .info = &g_{name}_info,\n"
               f"    .layers = {layers},\n"
               f"    .layer_count = {len(plan.layers)}u,\n"
               f"    .arena_bytes = {name.upper()}_PLAN_ARENA_BYTES,\n"
               f"    .input_offset = {plan.offset(plan.input_tensor)}u,\n"
               f"    .output_offset = {plan.offset(plan.output_tensor)}u\n"
               f"}};\n")
    return "".join(out)
