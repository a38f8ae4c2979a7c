"""QUANTIZE and DEQUANTIZE with an int16 side: int8 <-> int16 and int16 -> int16
requantization, float32 -> int16 and int16 -> float32, per tensor."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Layer
from tinyml_pipeline.tools.compiler.ops import lowering_s16
from tinyml_pipeline.tools.compiler.ops.common import require_int8_activation
from tinyml_pipeline.tools.compiler.ops.common_s16 import require_int16_activation
from tinyml_pipeline.tools.compiler.ops.quantize import (
    _require_float_activation,
    affine_layer,
    requantize_layer,
)

_SUFFIX = {"INT8": "s8", "INT16": "s16"}


def _require_integer(op: OpView, tensor, role: str) -> None:
    op.require(tensor is not None, f"{role} is missing")
    op.require_types(tensor, "INT8", "INT16")
    if tensor.type_name == "INT8":
        require_int8_activation(op, tensor, role)
    else:
        require_int16_activation(op, tensor, role, symmetric=False)


@lowering_s16("QUANTIZE")
def lower_quantize_s16(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    _require_integer(op, output, "output")
    if source is not None and source.type_name == "FLOAT32":
        op.require(output.type_name == "INT16", "float32 -> int8 is not an int16 QUANTIZE")
        _require_float_activation(op, source, "input")
        # int16 output[i] (bytes 2i, 2i + 1) is written after float input[i] is read, in
        # increasing i, below input[i + 1]: nothing still to be read is overwritten.
        return affine_layer(op, "tinyml_quantize_f32_s16", source, output, in_place_ok=True)
    _require_integer(op, source, "input")
    kernel = f"tinyml_quantize_{_SUFFIX[source.type_name]}_{_SUFFIX[output.type_name]}"
    # Element i is read before it is written, in increasing i; an output no wider than the
    # input never reaches an element not yet read. int8 -> int16 would.
    return requantize_layer(op, kernel, source, output,
                            in_place_ok=kernel != "tinyml_quantize_s8_s16")


@lowering_s16("DEQUANTIZE")
def lower_dequantize_s16(op: OpView) -> Layer:
    source, output = op.input(0), op.output()
    require_int16_activation(op, source, "input", symmetric=False)
    _require_float_activation(op, output, "output")
    # Not in place: float output[0] (bytes 0 .. 3) would overwrite input[1] unread.
    return affine_layer(op, "tinyml_dequantize_s16_f32", source, output, in_place_ok=False)
