"""Shape-only ops: the output is the input's bytes; the planner gives both one buffer."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.ops import Alias, lowering
from tinyml_pipeline.tools.compiler.ops.common import require_shape

OPTIONS = {"RESHAPE": "ReshapeOptionsT", "SQUEEZE": "SqueezeOptionsT",
           "EXPAND_DIMS": "ExpandDimsOptionsT"}


@lowering("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def lower_shape_only(op: OpView) -> Alias:
    # Only the element counts matter here (TFLM's reshape checks them the same way); options
    # of another op's class are still a corrupted model.
    op.options_of(OPTIONS[op.name], required=False)
    source, output = op.input(0), op.output()
    op.require(source is not None and not source.is_constant,
               "the input must be an activation (a constant reshape should be folded)")
    op.require(source.type_name == output.type_name,
               f"output type {output.type_name} is not the input type {source.type_name}")
    require_shape(op, source, "input")
    require_shape(op, output, "output")
    op.require(source.size == output.size,
               f"output element count {output.size} (shape {list(output.shape)}) is not the "
               f"input's {source.size} (shape {list(source.shape)})")
    # The alias shares bytes, so what the byte moves around it assume must hold: same
    # quantization for an int8 (or int16) reinterpretation.
    if source.type_name in ("INT8", "INT16"):
        op.require(len(source.info.scales) <= 1 and len(output.info.scales) <= 1,
                   "per-channel quantization on a reshape is not supported")
        op.require(source.scale == output.scale and source.zero_point == output.zero_point,
                   f"output scale {output.scale} and zero point {output.zero_point} are not the "
                   f"input's {source.scale} and {source.zero_point} (a reshape does not rescale)")
    return Alias(source.index, output.index)
