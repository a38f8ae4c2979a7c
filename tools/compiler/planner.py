"""Compiles a .tflite into a plan: lowered layers plus the arena offset of every tensor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tinyml_pipeline.tools.compiler import fusion
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.graph import OpView
from tinyml_pipeline.tools.compiler.layers import Layer
from tinyml_pipeline.tools.compiler.memory import Buffer, place
from tinyml_pipeline.tools.compiler.ops import LOWERINGS, Alias, supported_ops
from tinyml_pipeline.tools.compiler.strips import STACK_BYTES, output_shift, rows_of, shortest
from tinyml_pipeline.tools.tflite_model import TFLiteModel


@dataclass
class Plan:
    model: TFLiteModel
    layers: list[Layer]
    tensor_offsets: dict[int, int]  # every activation tensor, aliases included
    scratch_offsets: dict[int, int]  # layer position -> offset of its scratch buffer
    arena_bytes: int
    input_tensor: int
    output_tensor: int
    in_place: frozenset[int] = frozenset()  # positions of layers writing over their input
    # Positions of layers run in row strips, their output overlapping their input: (output rows
    # per strip, bottom to top). See tools/compiler/strips.py.
    strips: dict[int, tuple[int, bool]] = field(default_factory=dict)

    def offset(self, tensor: int) -> int:
        return self.tensor_offsets[tensor]


def _check_io(model: TFLiteModel) -> None:
    inputs, outputs = model.input_indices, model.output_indices
    if len(inputs) != 1 or len(outputs) != 1:
        raise CompileError(f"{model.source}: the built-in runtime runs models with one input and "
                           f"one output; this one has {len(inputs)} and {len(outputs)}")
    model.require_integer_io()


IO_MAX_RANK = 6  # TINYML_MAX_RANK: the dims model_info.h stores for the input and output


def _check_io_tensors(model: TFLiteModel) -> None:
    """settings.c states the input's and output's shape and quantization to the firmware, so
    they are checked even when no op reads the tensor (after lowering, so that an op's own
    check names the op first)."""
    for role, index in (("input", model.input_indices[0]), ("output", model.output_indices[0])):
        info = model.tensor(index)
        scale, zero_point = info.scale, info.zero_point
        problem = None
        if any(dim < 1 for dim in info.shape):
            problem = f"shape {list(info.shape)} has a dimension that is not positive"
        elif len(info.shape) > IO_MAX_RANK:
            problem = f"rank {len(info.shape)} is above the {IO_MAX_RANK} model_info.h holds"
        elif math.prod(info.shape) >= 1 << 31:
            problem = f"element count {math.prod(info.shape)} does not fit int32"
        elif len(info.scales) != 1 or not (math.isfinite(scale) and scale > 0):
            problem = f"scale {list(info.scales)} is not one finite positive number"
        elif len(info.zero_points) != 1:
            problem = f"zero points {list(info.zero_points)} are not one value"
        elif info.type_name == "INT8" and not -128 <= zero_point <= 127:
            problem = f"zero point {zero_point} is outside int8 [-128, 127]"
        elif info.type_name == "INT16" and zero_point != 0:
            # The device fills the zero-runs encoding's runs with 0 bytes (16x8 is symmetric).
            problem = f"int16 zero point {zero_point} is not 0"
        if problem:
            raise CompileError(f"{model.source}: model {role} tensor {index} '{info.name}': "
                               f"{problem}")


def lower(model: TFLiteModel) -> tuple[list[Layer], dict[int, int]]:
    """Lowers every operator; returns the layers and the alias map (tensor -> root tensor)."""
    layers: list[Layer] = []
    root: dict[int, int] = {}
    for index, info in enumerate(model.operators):
        op = OpView(model, index)
        lowering = LOWERINGS.get(info.name)
        if lowering is None:
            raise CompileError(f"{model.source}: {op.where()}: {info.name} is not supported by "
                               f"the built-in runtime (it runs {', '.join(supported_ops())})")
        result = lowering(op)
        if isinstance(result, Alias):
            root[result.target] = root.get(result.source, result.source)
        else:
            layers.append(result)
    return layers, root


def compile_plan(model: TFLiteModel) -> Plan:
    _check_io(model)
    layers, root = lower(model)
    _check_io_tensors(model)
    plan = _arrange(model, layers, root)
    # Runs of layers fused where that lowers the arena (tools/compiler/fusion.py).
    def buffer_of(tensor: int) -> int:
        return root.get(tensor, tensor)

    output = buffer_of(plan.output_tensor)
    step = 0
    while step + 1 < len(plan.layers):
        layers = plan.layers
        read = [buffer_of(t) for layer in layers for t in layer.reads]
        for length in fusion.candidates(layers, step, read.count, output.__eq__, buffer_of):
            trial = _arrange(model, [*layers[:step],
                                     fusion.fuse(layers[step:step + length], buffer_of),
                                     *layers[step + length:]], root)
            # The fused runner's stack (a parameter copy per stage) is RAM too, once.
            stack = 0 if _fused(plan.layers) else fusion.STACK_BYTES
            if trial.arena_bytes + stack < plan.arena_bytes:
                plan = trial
        step += 1
    check_inside_arena(plan)
    return plan


def _arrange(model: TFLiteModel, layers: list[Layer], root: dict[int, int]) -> Plan:
    """The memory plan of these layers: lifetimes, in-place layers, strips, offsets."""
    input_tensor, output_tensor = model.input_indices[0], model.output_indices[0]

    def buffer_of(tensor: int) -> int:
        return root.get(tensor, tensor)

    first: dict[int, int] = {buffer_of(input_tensor): -1}
    last: dict[int, int] = {buffer_of(input_tensor): -1}
    for step, layer in enumerate(layers):
        for tensor in layer.reads:
            key = buffer_of(tensor)
            if key not in first:
                raise CompileError(f"{model.source}: op #{layer.op_index} {layer.op} reads tensor "
                                   f"{tensor} before any op writes it")
            last[key] = max(last[key], step)
        for tensor in layer.writes:
            key = buffer_of(tensor)
            first.setdefault(key, step)
            last[key] = max(last.get(key, step), step)
    output_key = buffer_of(output_tensor)
    if output_key not in first:
        raise CompileError(f"{model.source}: no op writes the model output")
    last[output_key] = len(layers)

    for key in first:
        # The lowerings refuse non-positive dimensions; the memory plan must never see a
        # non-positive size whatever reached it.
        size = _bytes(model, key)
        if size <= 0:
            info = model.tensor(key)
            raise CompileError(f"{model.source}: tensor {key} '{info.name}' size {size} bytes "
                               f"(shape {list(info.shape)}) is not positive")
    buffers = [Buffer(("tensor", key), _bytes(model, key), first[key], last[key])
               for key in first]
    buffers += [Buffer(("scratch", step), layer.scratch_bytes, step, step)
                for step, layer in enumerate(layers) if layer.scratch_bytes]

    def layout(heights: dict[int, int]):
        chains, relative, overlapping, in_place, strips = _in_place_chains(
            model, layers, buffer_of, first, last, heights)
        # A same-offset in-place output starts after its layer (its bytes lie inside the
        # input's then); a strip-run output is alive at its layer, beside its input.
        later = {("tensor", buffer_of(layers[step].writes[0])) for step in in_place}
        moved = [Buffer(b.key, b.size, b.first + (b.key in later), b.last) for b in buffers]
        offsets, arena = place(moved, [tuple(("tensor", key) for key in chain)
                                       for chain in chains],
                               {("tensor", key): r for key, r in relative.items()},
                               frozenset(frozenset(("tensor", k) for k in pair)
                                         for pair in overlapping))
        return offsets, arena, in_place, strips

    heights = _strip_heights(layers, layout)
    offsets, arena_bytes, in_place, strips = layout(heights)

    tensor_offsets = {key: offsets[("tensor", key)] for key in first}
    for alias, key in root.items():
        if key in tensor_offsets:
            tensor_offsets[alias] = tensor_offsets[key]
    scratch_offsets = {step: offsets[("scratch", step)]
                       for step, layer in enumerate(layers) if layer.scratch_bytes}
    return Plan(model, layers, tensor_offsets, scratch_offsets, arena_bytes, input_tensor,
                output_tensor, frozenset(in_place), strips)


def check_inside_arena(plan: Plan) -> None:
    """Every byte a layer reads, writes or uses as scratch lies inside the plan's arena: the
    last line before the offsets become C that runs unchecked on the board."""
    model = plan.model

    def require_inside(layer: Layer, what: str, offset: int, size: int) -> None:
        if not (size > 0 and 0 <= offset and offset + size <= plan.arena_bytes):
            raise CompileError(f"{model.source}: op #{layer.op_index} {layer.op}: {what} at "
                               f"offset {offset} of {size} bytes is outside the "
                               f"{plan.arena_bytes}-byte arena")

    for step, layer in enumerate(plan.layers):
        for tensor in (*layer.reads, *layer.writes):
            require_inside(layer, f"tensor {tensor}", plan.offset(tensor), _bytes(model, tensor))
        if layer.scratch_bytes:
            require_inside(layer, "scratch", plan.scratch_offsets[step], layer.scratch_bytes)
    for role, tensor in (("input", plan.input_tensor), ("output", plan.output_tensor)):
        offset, size = plan.offset(tensor), _bytes(model, tensor)
        if not (size > 0 and 0 <= offset and offset + size <= plan.arena_bytes):
            raise CompileError(f"{model.source}: model {role} tensor {tensor} at offset {offset} "
                               f"of {size} bytes is outside the {plan.arena_bytes}-byte arena")


def _fused(layers: list[Layer]) -> bool:
    return any("fused" in layer.extra for layer in layers)


def _strip_heights(layers: list[Layer], layout) -> dict[int, int]:
    """Output rows per strip for each layer run in strips. Every layer strips can run starts
    at its shortest strips (the least RAM); then, layer by layer, the fewest calls that keep
    the arena at that size: no strips at all where the layer is not at the peak, else the
    tallest strips (doubling) that fit."""
    heights = {step: shortest(rows) for step, layer in enumerate(layers)
               if (rows := rows_of(layer)) is not None}
    if not heights:
        return heights
    best = layout(heights)[1]
    # The strip runner's own stack (a narrowed copy of the layer's parameters) is RAM too,
    # unless a fused layer's, deeper, is already paid for.
    if not _fused(layers) and layout({})[1] < best + STACK_BYTES:
        return {}
    for step in sorted(heights):
        trial = dict(heights)
        del trial[step]
        if layout(trial)[1] <= best:
            heights = trial
            continue
        out_h = rows_of(layers[step]).out_h
        height = heights[step] * 2
        while height < out_h:
            trial = {**heights, step: height}
            if layout(trial)[1] > best:
                break
            heights = trial
            height *= 2
    return heights


def _in_place_chains(model: TFLiteModel, layers: list[Layer], buffer_of, first: dict[int, int],
                     last: dict[int, int], heights: dict[int, int]):
    """Chooses the layers that write their output over their input: at the input's offset
    (in_place_ok) or, for the layers in `heights`, shifted and run in strips of that many
    output rows. Returns the chains of buffers placed as a unit, each buffer's offset from its
    chain's first (bytes), the (input, output) pairs that share bytes at their layer, the
    in-place layers' positions and the strip-run layers' (height, bottom to top)."""
    chains: list[list[int]] = []
    chain_ending_with: dict[int, list[int]] = {}
    relative: dict[int, int] = {}
    overlapping: set[tuple[int, int]] = set()
    in_place: set[int] = set()
    strips: dict[int, tuple[int, bool]] = {}
    for step, layer in enumerate(layers):
        if not (layer.in_place_ok or step in heights):
            continue
        target = buffer_of(layer.writes[0])
        # In place, any input the output fits in; in strips, the convolution's input.
        sources = [buffer_of(t) for t in (layer.reads if layer.in_place_ok else layer.reads[:1])
                   if not layer.in_place_ok or _bytes(model, target) <= _bytes(model, t)]
        usable = [source for source in sources if not (
            source == target
            or source in [buffer_of(t) for t in layer.writes[1:]]
            or [buffer_of(t) for t in layer.reads].count(source) > 1
            # A later reader of the input (or the caller, for the model output) would find
            # the output's bytes there.
            or last[source] != step)]
        if (not usable or first[target] != step
                # An output nothing reads gains nothing and would have no lifetime left.
                or last[target] <= step):
            continue
        source = usable[0]
        chain = chain_ending_with.get(source) or [source]
        if layer.in_place_ok:
            relative[target] = relative.get(source, 0)
            in_place.add(step)
        else:
            rows = rows_of(layer)
            base = relative.get(source, 0)
            low = min(relative.get(key, 0) for key in chain)
            high = max(relative.get(key, 0) + _bytes(model, key) for key in chain)
            # The side that widens the chain least, so a run of such layers does not drift.
            options = []
            for reverse in (False, True):
                shift = base + output_shift(rows, heights[step], reverse)
                span = max(high, shift + rows.out_bytes) - min(low, shift)
                options.append((span, reverse, shift))
            _, reverse, shift = min(options)
            relative[target] = shift
            overlapping.add((source, target))
            strips[step] = (heights[step], reverse)
        if chain_ending_with.pop(source, None) is None:
            chains.append(chain)
        chain.append(target)
        chain_ending_with[target] = chain
    return chains, relative, overlapping, in_place, strips


def _bytes(model: TFLiteModel, tensor: int) -> int:
    info = model.tensor(tensor)
    # Exact: an int64 product would wrap on a corrupted shape.
    return math.prod(info.shape) * np.dtype(info.dtype).itemsize
