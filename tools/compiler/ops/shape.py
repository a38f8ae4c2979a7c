"""Shape-only ops: the output is the input's bytes; the planner gives both one buffer."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.ops import Alias, lowering


@lowering("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def lower_shape_only(op: OpView) -> Alias:
    source, output = op.input(0), op.output()
    op.require(source is not None and not source.is_constant,
               "the input must be an activation (a constant reshape should be folded)")
    op.require(source.type_name == output.type_name, "input and output types differ")
    op.require(source.size == output.size,
               f"{list(source.shape)} and {list(output.shape)} hold different element counts")
    return Alias(source.index, output.index)
