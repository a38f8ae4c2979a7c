"""The model's settings: its tensor contract and identity as macros and a tinyml_model_info,
plus what TFLM needs (arena size, op list). Shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.compiler.emit.cformat import (
    c_array_body,
    c_float,
    c_string,
    include_guard,
)
from tinyml_pipeline.tools.tflite_model import TensorInfo, TFLiteModel

TYPE_ENUM = {"INT8": "TINYML_TYPE_INT8", "FLOAT32": "TINYML_TYPE_FLOAT32",
             "INT16": "TINYML_TYPE_INT16"}


@dataclass(frozen=True)
class ModelSettings:
    name: str
    labels: list[str] | None
    mean: list[float] | None
    std: list[float] | None
    sample_rate_hz: float
    tflm_arena_measured: int
    tflm_arena_bytes: int


def _tensor_macros(prefix: str, tensor: TensorInfo) -> str:
    dims = ", ".join(str(d) for d in tensor.shape)
    size = 1
    for dim in tensor.shape:
        size *= dim
    return (f"#define {prefix}_RANK {len(tensor.shape)}\n"
            f"#define {prefix}_DIMS {{{dims}}}\n"
            f"#define {prefix}_ELEMENTS {size}\n"
            f"#define {prefix}_TYPE {TYPE_ENUM[tensor.type_name]}\n"
            f"#define {prefix}_SCALE {c_float(tensor.scale)}\n"
            f"#define {prefix}_ZERO_POINT ({tensor.zero_point})\n")


def settings_header(model: TFLiteModel, settings: ModelSettings, banner: str) -> str:
    name, upper = settings.name, settings.name.upper()
    guard = include_guard(f"{name}_settings.h")
    ops = model.op_names()
    lines = [banner, f"#ifndef {guard}\n#define {guard}\n\n",
             '#include "tinyml/model_info.h"\n\n',
             "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
             f"#define {upper}_MODEL_SHA256 {c_string(model.sha256)}\n\n",
             _tensor_macros(f"{upper}_INPUT", model.inputs[0]), "\n",
             _tensor_macros(f"{upper}_OUTPUT", model.outputs[0]), "\n"]
    if settings.labels:
        lines.append(f"#define {upper}_LABEL_COUNT {len(settings.labels)}\n\n")
    lines += [
        f"/* TFLM tensor arena: {settings.tflm_arena_measured} bytes measured with the "
        f"tflite_micro host\n"
        f" * interpreter (64-bit, reference kernels), plus a margin for the board: CMSIS-NN\n"
        f" * kernels request scratch buffers the reference kernels do not, and alignment differs\n"
        f" * on a 32-bit target. Margin: 25 % and at least 1 KiB, rounded up to 16 bytes. */\n",
        f"#define {upper}_TFLM_ARENA_BYTES {settings.tflm_arena_bytes}\n\n",
        "/* Distinct TFLite ops in the model, in order of first use. */\n",
        f"#define {upper}_OP_COUNT {len(ops)}\n",
        f"#define {upper}_OPS {c_string(','.join(ops))}\n\n",
        f"extern const tinyml_model_info g_{name}_info;\n\n",
        f"#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */\n"]
    return "".join(lines)


def _tensor_info(tensor: TensorInfo) -> str:
    dims = list(tensor.shape) + [0] * (6 - len(tensor.shape))
    size = np.dtype(tensor.dtype).itemsize
    for dim in tensor.shape:
        size *= dim
    return (f"{{{TYPE_ENUM[tensor.type_name]}, {len(tensor.shape)}, "
            f"{{{', '.join(str(d) for d in dims)}}}, {size}u, {c_float(tensor.scale)}, "
            f"{tensor.zero_point}}}")


def settings_source(model: TFLiteModel, settings: ModelSettings, banner: str) -> str:
    name = settings.name
    out = [banner, f'#include "{name}_settings.h"\n\n#include <stddef.h>\n\n']
    labels, mean, std = "NULL", "NULL", "NULL"
    if settings.labels:
        rows = ",\n".join(f"    {c_string(label)}" for label in settings.labels)
        out.append(f"static const char *const labels[{len(settings.labels)}] = {{\n{rows}\n}};\n\n")
        labels = "labels"
    channels = 0
    if settings.mean is not None and settings.std is not None:
        channels = len(settings.mean)
        out.append(f"static const float input_mean[{channels}] = {{\n"
                   f"{c_array_body('float', settings.mean)}\n}};\n\n"
                   f"static const float input_std[{channels}] = {{\n"
                   f"{c_array_body('float', settings.std)}\n}};\n\n")
        mean, std = "input_mean", "input_std"
    out.append(f"const tinyml_model_info g_{name}_info = {{\n"
               f"    {c_string(name)},\n"
               f"    {name.upper()}_MODEL_SHA256,\n"
               f"    {_tensor_info(model.inputs[0])},\n"
               f"    {_tensor_info(model.outputs[0])},\n"
               f"    {labels},\n"
               f"    {len(settings.labels) if settings.labels else 0}u,\n"
               f"    {mean},\n    {std},\n    {channels}u,\n"
               f"    {c_float(settings.sample_rate_hz)}\n}};\n")
    return "".join(out)
