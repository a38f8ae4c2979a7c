"""The static memory plan: buffers placed apart while alive together, and shared in place (an
output written over its input) only where the layer's kernel is known to stay exact.

The pooling rule is checked three ways: against a brute-force walk of the kernel's access order,
by running op_pooling.c with aliased and with separate buffers, and end to end against TFLM on
hand-built models (no TensorFlow needed). `_aliasing_problems` checks any plan independently of
the planner's own reasoning; forcing in-place onto an unsafe pool shows that it, and TFLM,
catch the corruption.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR
from tests.support.modelgen import Case, _schema, convert_cases, pack
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler import fusion, planner, strips
from tinyml_pipeline.tools.compiler.host import (
    CORE_INCLUDES,
    RUNTIME_DIR,
    build_runner,
    run_builtin,
)
from tinyml_pipeline.tools.compiler.layers import Layer
from tinyml_pipeline.tools.compiler.memory import Buffer, place
from tinyml_pipeline.tools.compiler.ops import common, pooling
from tinyml_pipeline.tools.compiler.planner import Plan, compile_plan, lower
from tinyml_pipeline.tools.console import native_stderr_silenced
from tinyml_pipeline.tools.reference import TFLMRunner
from tinyml_pipeline.tools.tflite_model import TFLiteModel

SAME, VALID = common.PADDING_SAME, common.PADDING_VALID
POOLS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")

# Plan arena per committed model, in bytes. Before in-place pooling digits needed 6,768, before
# fusion 6,240; with strips alone it would need 5,552.
PLAN_ARENA = {"digits": 2784, "activity": 1792, "linear": 32}
# Layers run in row strips, output over input: (rows per strip, bottom up). None: activity's
# would save 208 bytes of arena and cost more stack.
STRIPS = {"digits": {}, "activity": {}, "linear": {}}
# Layers that are a convolution and its pool fused (tools/compiler/fusion.py): both of digits'.
FUSED = {"digits": {0: "CONV_2D+MAX_POOL_2D", 1: "CONV_2D+MAX_POOL_2D"}, "activity": {},
         "linear": {}}
# Layers planned in place: activity's window-wide AVERAGE_POOL_2D, the final SOFTMAX of digits
# and activity (its input, the logits, is read by nothing else). Digits' max pools were, before
# fusion took them into the convolutions.
IN_PLACE = {"digits": {5}, "activity": {2, 4}, "linear": set()}
# The plan's arena against TFLM's measured (64-bit host) arena: issue 6's 60 %. Digits: 2,784 of
# 10,016 B, 28 %.
PLAN_SHARE_OF_TFLM = {"digits": 0.28, "activity": 0.6, "linear": 0.6}


# --- memory.place --------------------------------------------------------------------------

def _overlapping_live_buffers(buffers, offsets, chains=()):
    chained = {frozenset((a, b)) for chain in chains for a in chain for b in chain}
    return [(a.key, b.key) for i, a in enumerate(buffers) for b in buffers[i + 1:]
            if a.first <= b.last and b.first <= a.last
            and offsets[a.key] < offsets[b.key] + b.size
            and offsets[b.key] < offsets[a.key] + a.size
            and frozenset((a.key, b.key)) not in chained]


def test_place_gives_a_chain_one_offset_and_keeps_live_buffers_apart():
    buffers = [Buffer("in", 100, -1, 0), Buffer("pooled", 25, 1, 2), Buffer("other", 64, 0, 1)]
    offsets, arena = place(buffers, [("in", "pooled")])
    assert offsets["in"] == offsets["pooled"]
    assert not _overlapping_live_buffers(buffers, offsets)
    assert arena == 176  # 100 -> 112 aligned, then 64


def test_place_refuses_chained_buffers_alive_together():
    with pytest.raises(ValueError, match="alive together"):
        place([Buffer("a", 16, 0, 1), Buffer("b", 16, 1, 2)], [("a", "b")])


def test_random_placements_never_overlap_live_buffers():
    rng = np.random.default_rng(1)
    for _ in range(300):
        count = int(rng.integers(1, 12))
        buffers, chains, step = [], [], -1
        for index in range(count):
            first = int(rng.integers(-1, 8))
            buffers.append(Buffer(index, int(rng.integers(1, 200)), first,
                                  first + int(rng.integers(0, 4))))
        # Chains of consecutive lifetimes, as in-place layers make them.
        for _ in range(int(rng.integers(0, 3))):
            step = int(rng.integers(0, 6))
            keys = [f"c{len(chains)}_{k}" for k in range(int(rng.integers(2, 4)))]
            for k, key in enumerate(keys):
                buffers.append(Buffer(key, int(rng.integers(1, 200)), step + k, step + k))
            chains.append(tuple(keys))
        offsets, arena = place(buffers, chains)
        assert not _overlapping_live_buffers(buffers, offsets, chains)
        assert all(offsets[b.key] % 16 == 0 and offsets[b.key] + b.size <= arena
                   for b in buffers)
        assert all(len({offsets[key] for key in chain}) == 1 for chain in chains)


# --- the pooling rule ----------------------------------------------------------------------

def _pool_configs(rng, count, max_channels=5):
    """Pooling layers as TFLite defines them: SAME or VALID padding computed as TFLM does."""
    configs = []
    while len(configs) < count:
        padding = int(rng.choice([SAME, VALID]))
        filter_hw = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        strides = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        in_hw = (int(rng.integers(1, 13)), int(rng.integers(1, 13)))
        out_hw = tuple(common.output_size(padding, in_hw[a], filter_hw[a], strides[a], 1)
                       for a in (0, 1))
        if min(out_hw) < 1:
            continue
        pads = tuple(common.padding_before(strides[a], 1, in_hw[a], filter_hw[a], out_hw[a])
                     for a in (0, 1))
        configs.append(dict(batches=int(rng.integers(1, 4)), in_hw=in_hw, out_hw=out_hw,
                            channels=int(rng.integers(1, max_channels + 1)),
                            filter_hw=filter_hw,
                            strides=strides, pads=pads))
    return configs


def _rule(config) -> bool:
    return pooling.in_place_safe(config["batches"], config["in_hw"], config["out_hw"],
                                 config["strides"], config["pads"])


def _kernel_order_is_safe(config, input_offset=0, output_offset=0) -> bool:
    """Walks op_pooling.c's loops element by element, byte offsets in one arena: no read may
    hit a byte this layer has already written."""
    batches, channels = config["batches"], config["channels"]
    (in_h, in_w), (out_h, out_w) = config["in_hw"], config["out_hw"]
    (filter_h, filter_w), (stride_h, stride_w) = config["filter_hw"], config["strides"]
    pad_top, pad_left = config["pads"]
    written = set()
    for b in range(batches):
        for y in range(out_h):
            for x in range(out_w):
                for c in range(channels):
                    for in_y in range(y * stride_h - pad_top, y * stride_h - pad_top + filter_h):
                        for in_x in range(x * stride_w - pad_left,
                                          x * stride_w - pad_left + filter_w):
                            if 0 <= in_y < in_h and 0 <= in_x < in_w:
                                read = input_offset + (
                                    (b * in_h + in_y) * in_w + in_x) * channels + c
                                if read in written:
                                    return False
                    written.add(output_offset + ((b * out_h + y) * out_w + x) * channels + c)
    return True


def test_pool_in_place_rule_is_exactly_the_kernel_access_order():
    configs = _pool_configs(np.random.default_rng(2), 1500)
    disagree = [c for c in configs if _rule(c) != _kernel_order_is_safe(c)]
    assert not disagree, disagree[:5]
    allowed = sum(_rule(c) for c in configs)
    assert 0 < allowed < len(configs)  # both outcomes are exercised
    # The cases named in in_place_safe's docstring.
    assert _rule(dict(batches=1, in_hw=(26, 26), out_hw=(13, 13), strides=(2, 2), pads=(0, 0)))
    assert not _rule(dict(batches=1, in_hw=(5, 5), out_hw=(5, 5), strides=(1, 1), pads=(1, 1)))


POOL_HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "tinyml/op_pooling.h"

/* Per line of stdin: batches in_h in_w channels out_h out_w filter_h filter_w stride_h
 * stride_w pad_top pad_left average seed. Prints 1 when the output computed over the input
 * (both at offset 0) equals the one computed into a separate buffer, else 0. */
static uint8_t separate[1 << 16], shared[1 << 16];

int main(void) {
  long v[14];
  while (scanf("%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12],
               &v[13]) == 14) {
    tinyml_pool2d_params p;
    const uint32_t in_bytes = (uint32_t)(v[0] * v[1] * v[2] * v[3]);
    const uint32_t out_bytes = (uint32_t)(v[0] * v[4] * v[5] * v[3]);
    uint32_t state = (uint32_t)v[13] * 2654435761u + 1u, i;
    for (i = 0; i < in_bytes; ++i) {
      state = state * 1664525u + 1013904223u;
      separate[i] = (uint8_t)(state >> 24);
    }
    memcpy(shared, separate, in_bytes);
    p.batches = (int32_t)v[0]; p.input_h = (int32_t)v[1]; p.input_w = (int32_t)v[2];
    p.channels = (int32_t)v[3]; p.output_h = (int32_t)v[4]; p.output_w = (int32_t)v[5];
    p.filter_h = (int32_t)v[6]; p.filter_w = (int32_t)v[7];
    p.stride_h = (int32_t)v[8]; p.stride_w = (int32_t)v[9];
    p.pad_top = (int32_t)v[10]; p.pad_left = (int32_t)v[11];
    p.act_min = -128; p.act_max = 127;
    p.input = 0;
    p.output = in_bytes;
    (v[12] ? tinyml_average_pool2d_s8 : tinyml_max_pool2d_s8)(&p, separate);
    p.output = 0;
    (v[12] ? tinyml_average_pool2d_s8 : tinyml_max_pool2d_s8)(&p, shared);
    printf("%d\n", memcmp(separate + in_bytes, shared, out_bytes) == 0);
  }
  return 0;
}
"""


@pytest.mark.parametrize("flags", [(), ("-DTINYML_EMULATE_DSP",)],
                         ids=["portable", "dsp-emulated"])
def test_pool_kernel_in_place_equals_separate_buffers_where_allowed(tmp_path, flags):
    """op_pooling.c itself, compiled as the runtime is, run with aliased buffers; the DSP build
    reads four channels' windows before writing their bytes, so up to 9 channels cover its
    groups of four and the byte-by-byte tail."""
    source = tmp_path / "pool_harness.c"
    source.write_text(POOL_HARNESS)
    build = subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-O2", "-Wall", "-Wextra",
                            "-Werror",
                            *flags, *CORE_INCLUDES, str(source),
                            str(RUNTIME_DIR / "src" / "op_pooling.c"),
                            "-o", str(tmp_path / "harness")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    configs = _pool_configs(np.random.default_rng(3), 3000, max_channels=9)
    lines = []
    for index, c in enumerate(configs):
        c["average"] = index % 2
        lines.append(" ".join(str(v) for v in (
            c["batches"], *c["in_hw"], c["channels"], *c["out_hw"], *c["filter_hw"],
            *c["strides"], *c["pads"], c["average"], index)))
    run = subprocess.run([str(tmp_path / "harness")], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, check=True)
    exact = [line == "1" for line in run.stdout.split()]
    assert len(exact) == len(configs)
    wrong = [c for c, ok in zip(configs, exact, strict=True) if _rule(c) and not ok]
    assert not wrong, f"in place allowed but the output differs: {wrong[:5]}"
    # The harness can see corruption: most layers the rule refuses do corrupt their output.
    refused = [ok for c, ok in zip(configs, exact, strict=True) if not _rule(c)]
    assert refused and sum(not ok for ok in refused) > len(refused) // 2


# --- plans of whole models -----------------------------------------------------------------

def _lifetimes(plan: Plan) -> dict[int, tuple[int, int]]:
    """Each buffer's (written, last read) step, computed from the layers, not the planner."""
    _, root = lower(plan.model)
    key = lambda tensor: root.get(tensor, tensor)  # noqa: E731 - a one-line lookup
    alive = {key(plan.input_tensor): [-1, -1]}
    for step, layer in enumerate(plan.layers):
        for tensor in layer.reads:
            alive[key(tensor)][1] = step
        for tensor in layer.writes:
            alive.setdefault(key(tensor), [step, step])
    alive[key(plan.output_tensor)][1] = len(plan.layers)
    return {k: tuple(v) for k, v in alive.items()}


def _aliasing_problems(plan: Plan) -> list[str]:
    """Every pair of buffers sharing bytes while both are alive, unless it is an in-place
    layer's input and output at that layer's step, with the kernel's order checked for pools."""
    lifetimes = _lifetimes(plan)
    _, root = lower(plan.model)
    key = lambda tensor: root.get(tensor, tensor)  # noqa: E731
    spans = {k: (plan.offset(k), plan.offset(k) + _bytes(plan.model, k), *life)
             for k, life in lifetimes.items()}
    spans.update({("scratch", s): (o, o + plan.layers[s].scratch_bytes, s, s)
                  for s, o in plan.scratch_offsets.items()})
    allowed = {}
    for step in plan.strips:
        layer = plan.layers[step]
        allowed[frozenset((key(layer.reads[0]), key(layer.writes[0])))] = step
    for step in plan.in_place:
        # The input the output was put on (an ADD may take either of its inputs' place).
        layer = plan.layers[step]
        sources = [t for t in layer.reads if plan.offset(t) == plan.offset(layer.writes[0])]
        if len(sources) != 1:
            problems_in_place = f"layer {step} {layer.op} is in place over {sources}"
            return [problems_in_place]
        allowed[frozenset((key(sources[0]), key(layer.writes[0])))] = step
    problems = []
    names = sorted(spans, key=str)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            (start_a, end_a, first_a, last_a), (start_b, end_b, first_b, last_b) = (
                spans[a], spans[b])
            if not (start_a < end_b and start_b < end_a and first_a <= last_b
                    and first_b <= last_a):
                continue
            step = allowed.get(frozenset((a, b)))
            if step is None or max(first_a, first_b) != step or min(last_a, last_b) != step:
                problems.append(f"{a} and {b} share bytes while alive together")
    for step in plan.in_place:
        layer = plan.layers[step]
        if not layer.in_place_ok:
            problems.append(f"layer {step} {layer.op} is in place but does not allow it")
        if layer.op in POOLS and not _kernel_order_is_safe(
                _pool_config(layer), plan.offset(layer.reads[0]), plan.offset(layer.writes[0])):
            problems.append(f"layer {step} {layer.op} reads bytes it has already written")
    for step, (height, reverse) in plan.strips.items():
        layer = plan.layers[step]
        if not _strips_are_safe(layer, plan.offset(layer.reads[0]), plan.offset(layer.writes[0]),
                                height, reverse):
            problems.append(f"layer {step} {layer.op} in strips writes input bytes still read")
    return problems


def _strip_bands(layer, height: int, reverse: bool) -> list[tuple[tuple[int, int], ...]]:
    """Per band, in run order: the byte ranges [start, end) of the input it reads and of the
    output it writes, relative to each tensor's start, from the layer's fields (not from
    tools/compiler/strips.py). Within a band the kernel may read and write in any order."""
    f = dict(layer.fields)
    in_row, out_row = f["input_w"] * f["input_c"], f["output_w"] * f["output_c"]
    bands = []
    for y0 in range(0, f["output_h"], height):
        y1 = min(y0 + height, f["output_h"])
        reads = set()
        for y in range(y0, y1):
            for tap in range(f["filter_h"]):
                row = y * f["stride_h"] - f["pad_top"] + tap * f["dilation_h"]
                if 0 <= row < f["input_h"]:
                    reads.add(row)
        # A band whose taps all fall in the padding reads nothing.
        bands.append(((min(reads) * in_row, (max(reads) + 1) * in_row) if reads else None,
                      (y0 * out_row, y1 * out_row)))
    return bands[::-1] if reverse else bands


def _strips_are_safe(layer, input_offset: int, output_offset: int, height: int,
                     reverse: bool) -> bool:
    """No band writes a byte of input that it or a later band reads."""
    bands = _strip_bands(layer, height, reverse)
    for index, (_, (write_start, write_end)) in enumerate(bands):
        for read, _ in bands[index:]:
            if read is None:
                continue
            read_start, read_end = read
            if (output_offset + write_start < input_offset + read_end
                    and input_offset + read_start < output_offset + write_end):
                return False
    return True


def _pool_config(layer) -> dict:
    f = dict(layer.fields)
    return dict(batches=f["batches"], in_hw=(f["input_h"], f["input_w"]),
                out_hw=(f["output_h"], f["output_w"]), channels=f["channels"],
                filter_hw=(f["filter_h"], f["filter_w"]), strides=(f["stride_h"], f["stride_w"]),
                pads=(f["pad_top"], f["pad_left"]))


def _bytes(model: TFLiteModel, tensor: int) -> int:
    info = model.tensor(tensor)
    return int(np.prod(info.shape, dtype=np.int64)) * np.dtype(info.dtype).itemsize


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_committed_model_plans(name):
    model = TFLiteModel.from_file(MODELS_DIR / name / "model.tflite")
    plan = compile_plan(model)
    assert plan.in_place == IN_PLACE[name]
    assert plan.strips == STRIPS[name]
    assert {step: layer.op for step, layer in enumerate(plan.layers)
            if "+" in layer.op} == FUSED[name]
    assert plan.arena_bytes <= PLAN_ARENA[name]
    assert not _aliasing_problems(plan)
    measured = json.loads((MODELS_DIR / name / "card.json").read_text())["tflm_arena_bytes"]
    assert plan.arena_bytes <= PLAN_SHARE_OF_TFLM[name] * measured, (plan.arena_bytes, measured)


def _hand_built(shapes, ops, output) -> TFLiteModel:
    """An int8 model from the schema API: tensors 0 .. n-1 with `shapes` (0 the input), one
    scale and zero point for all (pooling and ADD accept that), ops as (name, inputs, outputs,
    pool options (padding, strides, filter) or None)."""
    schema = _schema()
    model = schema.ModelT()
    model.version, model.description = 3, b"hand-built for tests/test_planner.py"
    model.buffers, model.operatorCodes = [schema.BufferT()], []
    graph = schema.SubGraphT()
    graph.tensors, graph.operators, graph.name = [], [], b"main"
    for index, shape in enumerate(shapes):
        tensor = schema.TensorT()
        tensor.shape = np.array(shape, dtype=np.int32)
        tensor.type, tensor.buffer, tensor.name = schema.TensorType.INT8, 0, f"t{index}".encode()
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale, tensor.quantization.zeroPoint = [0.05], [-3]
        graph.tensors.append(tensor)
    codes = {}
    for name, inputs, outputs, pool in ops:
        code = getattr(schema.BuiltinOperator, name)
        if code not in codes:
            entry = schema.OperatorCodeT()
            entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, min(code, 127), 1
            codes[code] = len(model.operatorCodes)
            model.operatorCodes.append(entry)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes[code], list(inputs), list(outputs)
        if pool is not None:
            options = schema.Pool2DOptionsT()
            options.padding, (options.strideH, options.strideW), \
                (options.filterHeight, options.filterWidth) = pool
            op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Pool2DOptions, options
        elif name == "ADD":
            op.builtinOptionsType = schema.BuiltinOptions.AddOptions
            op.builtinOptions = schema.AddOptionsT()
        graph.operators.append(op)
    graph.inputs, graph.outputs = [0], [output]
    model.subgraphs = [graph]
    return TFLiteModel(pack(model), f"hand-built {[op[0] for op in ops]}")


# name, model, the layers expected in place
HAND_BUILT = [
    # A safe pool, then RELU, then a stride-1 SAME 3x3 pool (unsafe): a chain of three buffers,
    # and the last pool gets its own.
    ("chain", lambda: _hand_built(
        [(1, 8, 8, 3), (1, 4, 4, 3), (1, 4, 4, 3), (1, 4, 4, 3)],
        [("MAX_POOL_2D", [0], [1], (VALID, (2, 2), (2, 2))), ("RELU", [1], [2], None),
         ("AVERAGE_POOL_2D", [2], [3], (SAME, (1, 1), (3, 3)))], 3), {0, 1}),
    # A safe 1x1 pool whose input an ADD reads afterwards: not in place. Both of the ADD's
    # inputs die at it; it writes over its first.
    ("input read later", lambda: _hand_built(
        [(1, 5, 6, 2), (1, 5, 6, 2), (1, 5, 6, 2)],
        [("MAX_POOL_2D", [0], [1], (VALID, (1, 1), (1, 1))), ("ADD", [1, 0], [2], None)], 2),
        {1}),
    # An ADD broadcasting its first input (a pooled pixel per channel) writes over its second,
    # the only one of its size (itself a RELU over the model input); then a RELU over the sum.
    ("broadcast add", lambda: _hand_built(
        [(1, 4, 6, 3), (1, 1, 1, 3), (1, 4, 6, 3), (1, 4, 6, 3), (1, 4, 6, 3)],
        [("MAX_POOL_2D", [0], [1], (VALID, (1, 1), (4, 6))), ("RELU", [0], [2], None),
         ("ADD", [1, 2], [3], None), ("RELU", [3], [4], None)], 4),
        {1, 2, 3}),
    # A SAME pool with stride 2 and a pixel of padding before (in 5, filter 3: pad 1).
    ("padding", lambda: _hand_built(
        [(1, 5, 7, 4), (1, 3, 4, 4), (1, 3, 4, 4)],
        [("AVERAGE_POOL_2D", [0], [1], (SAME, (2, 2), (3, 3))), ("RELU", [1], [2], None)], 2),
        {0, 1}),
    # RESHAPE makes no layer: the pooled output's buffer carries on under another shape, and
    # the RELU that reads it through the alias writes the model output over it.
    ("through a reshape", lambda: _hand_built(
        [(1, 6, 6, 2), (1, 3, 3, 2), (1, 18), (1, 18)],
        [("MAX_POOL_2D", [0], [1], (VALID, (2, 2), (2, 2))), ("RESHAPE", [1], [2], None),
         ("RELU", [2], [3], None)], 3), {0, 1}),
]


def test_hand_built_models_plan_in_place_as_expected_and_match_tflm():
    models = [make() for _, make, _ in HAND_BUILT]
    for (name, _, expected), model in zip(HAND_BUILT, models, strict=True):
        plan = compile_plan(model)
        assert plan.in_place == expected, name
        assert not _aliasing_problems(plan), name
    failures = compare_models(models, [name for name, _, _ in HAND_BUILT], seed=4, samples=8)
    assert not failures, "\n".join(failures)


def test_a_batched_pool_is_planned_in_place_where_the_rule_allows():
    """compare_models (TFLMRunner) runs batch-1 models only; the kernel harness above runs
    batches through op_pooling.c, and this checks the plan."""
    for pool, expected in (((SAME, (2, 2), (3, 3)), {0, 1}), ((SAME, (1, 1), (3, 3)), {1})):
        out_hw = (3, 4) if pool[1] == (2, 2) else (5, 7)
        model = _hand_built([(2, 5, 7, 4), (2, *out_hw, 4), (2, *out_hw, 4)],
                            [("MAX_POOL_2D", [0], [1], pool), ("RELU", [1], [2], None)], 2)
        plan = compile_plan(model)
        assert plan.in_place == expected
        assert not _aliasing_problems(plan)


def test_forcing_in_place_on_an_unsafe_pool_is_caught(monkeypatch):
    """The checks above have teeth: a pool the rule refuses, planned in place anyway, reads
    bytes it has overwritten, and its output differs from TFLM's."""
    model = _hand_built([(1, 6, 6, 3), (1, 6, 6, 3), (1, 6, 6, 3)],
                        [("MAX_POOL_2D", [0], [1], (SAME, (1, 1), (3, 3))),
                         ("RELU", [1], [2], None)], 2)
    assert compile_plan(model).in_place == {1}
    monkeypatch.setattr(pooling, "in_place_safe", lambda *args: True)
    plan = compile_plan(model)
    assert plan.in_place == {0, 1}
    assert any("already written" in p for p in _aliasing_problems(plan))
    inputs = np.random.default_rng(5).integers(-128, 128, size=(8, 1, 6, 6, 3), dtype=np.int8)
    builtin = run_builtin(build_runner([("forced", model)]), "forced", model, inputs)
    with native_stderr_silenced():
        tflm = TFLMRunner(model, arena_size="generous")
    expected = np.stack([tflm.invoke(sample[0]) for sample in inputs])
    assert not np.array_equal(builtin, expected.reshape(builtin.shape))


# --- row strips ----------------------------------------------------------------------------

def _strip_layer(rng) -> Layer | None:
    """A CONV_2D or DEPTHWISE_CONV_2D's fields as the lowering gives them (batch 1), with
    TFLite's SAME or VALID padding."""
    padding = int(rng.choice([SAME, VALID]))
    filter_h, stride, dilation = (int(rng.integers(1, 6)), int(rng.integers(1, 4)),
                                  int(rng.integers(1, 3)))
    in_h = int(rng.integers(1, 20))
    out_h = common.output_size(padding, in_h, filter_h, stride, dilation)
    if out_h < 1:
        return None
    pad_top = common.padding_before(stride, dilation, in_h, filter_h, out_h)
    fields = dict(batches=1, input_h=in_h, input_w=int(rng.integers(1, 6)),
                  input_c=int(rng.integers(1, 9)), output_h=out_h,
                  output_w=int(rng.integers(1, 6)), output_c=int(rng.integers(1, 9)),
                  filter_h=filter_h, stride_h=stride, dilation_h=dilation, pad_top=pad_top)
    kernel = str(rng.choice(list(strips.STRIP_KERNELS)))
    return Layer(strips.STRIP_KERNELS[kernel], 0, kernel, "params", list(fields.items()), (0,),
                 (1,))


def test_strip_shift_is_the_closest_the_band_order_allows():
    """For random layer geometries and strip heights, the planner's shift passes the
    independent band check; where the rows read have no gaps (dilation 1, stride at most the
    filter height: the planner treats reads as one run of rows, so a gap only costs RAM), 16
    bytes closer (the next aligned offset) fails it: the check can fail, and the shift wastes
    nothing."""
    rng = np.random.default_rng(6)
    checked = 0
    while checked < 2000:
        layer = _strip_layer(rng)
        if layer is None or strips.rows_of(layer) is None:
            continue
        rows = strips.rows_of(layer)
        height = int(rng.integers(1, rows.out_h + 1))
        for reverse in (False, True):
            shift = strips.output_shift(rows, height, reverse)
            base = 1 << 20  # the input's offset: room on both sides
            closer = shift + (16 if not reverse else -16)
            assert _strips_are_safe(layer, base, base + shift, height, reverse)
            f = dict(layer.fields)
            if f["dilation_h"] > 1 or f["stride_h"] > f["filter_h"]:
                continue
            assert not _strips_are_safe(layer, base, base + closer, height, reverse), (
                f, height, reverse, shift)
        checked += 1


def test_forcing_strips_onto_the_input_offset_is_caught(monkeypatch):
    """The band check and the runtime have teeth: digits' first convolution with its output
    at its input's offset (no shift) overwrites input rows later bands read, the check says so,
    and the output departs from TFLM's. (Unfused, so that the convolution runs in strips.)"""
    monkeypatch.setattr(planner, "output_shift", lambda rows, height, reverse: 0)
    monkeypatch.setattr(fusion, "candidates", lambda *args: [])
    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    plan = compile_plan(model)
    assert 0 in plan.strips
    assert plan.offset(plan.layers[0].reads[0]) == plan.offset(plan.layers[0].writes[0])
    assert any("strips writes input bytes" in p for p in _aliasing_problems(plan))
    inputs = np.random.default_rng(7).integers(-128, 128, size=(4, 1, 28, 28, 1), dtype=np.int8)
    # A model name of its own: the host runner's cache is keyed by the generated sources.
    builtin = run_builtin(build_runner([("forced_strips", model)]), "forced_strips", model,
                          inputs)
    with native_stderr_silenced():
        tflm = TFLMRunner(model, arena_size="generous")
    expected = np.stack([tflm.invoke(sample[0]) for sample in inputs])
    assert not np.array_equal(builtin, expected.reshape(builtin.shape))


# --- fused layers --------------------------------------------------------------------------

def test_residual_over_its_input_only_where_no_later_row_reads_it():
    """The fused residual block writes ADD row y over row y of X only if no first-stage row
    computed later reads X's row y: two 3x3 convolutions allow it (the first has read rows
    up to y + 2 by then, and later rows start at y + 1); a 5x5 first one does not (its row y + 2,
    computed after output row y, reads X from row y)."""
    def block(first_filter: int) -> list[fusion.Geometry]:
        pad = first_filter // 2
        return [fusion.Geometry(16, 16, 1, pad, first_filter, 1, 64),
                fusion.Geometry(16, 16, 1, 1, 3, 1, 64), fusion.Geometry(16, 16, 1, 0, 1, 1, 64)]

    assert fusion.residual_over_input_is_safe(block(3), 64)
    assert not fusion.residual_over_input_is_safe(block(5), 64)
    assert fusion.window_rows(block(3)) == [3, 1]
    # The runtime computes every first-stage row once, in order, and each output row once.
    calls = fusion.schedule(block(3))
    assert [(y0, y1) for stage, y0, y1 in calls if stage == 2] == [(y, y + 1) for y in range(16)]
    rows = [y for stage, y0, y1 in calls if stage == 0 for y in range(y0, y1)]
    assert rows == list(range(16))


def _residual_case(rng):
    """X (the model input, or a convolution's output), one or two convolutions (a depthwise
    first at times), ADD with X in either order, sometimes a RELU after."""
    import tensorflow as tf

    size, channels = int(rng.integers(4, 11)), int(rng.choice([2, 3, 4, 8]))
    middle = int(rng.choice([channels, 4, 6]))
    stem = rng.random() < 0.5
    two = rng.random() < 0.7
    depthwise = two and rng.random() < 0.3
    filters = [int(rng.choice([1, 3, 5])), int(rng.choice([1, 3]))]
    stem_w = rng.normal(size=(3, 3, channels, channels)).astype(np.float32) * 0.4
    if depthwise:
        first_w = rng.normal(size=(filters[0], filters[0], channels, 1)).astype(np.float32)
        middle = channels
    else:
        first_w = rng.normal(size=(filters[0], filters[0], channels,
                                   middle if two else channels)).astype(np.float32) * 0.4
    second_w = rng.normal(size=(filters[1], filters[1], middle, channels)).astype(np.float32) * 0.4
    x_first, relu_after = rng.random() < 0.5, rng.random() < 0.5

    def build(x):
        if stem:
            x = tf.nn.relu(tf.nn.conv2d(x, stem_w, 1, "SAME"))
        if depthwise:
            y = tf.nn.relu(tf.nn.depthwise_conv2d(x, first_w, [1, 1, 1, 1], "SAME"))
        else:
            y = tf.nn.relu(tf.nn.conv2d(x, first_w, 1, "SAME"))
        if two:
            y = tf.nn.conv2d(y, second_w, 1, "SAME")
        out = x + y if x_first else y + x
        return tf.nn.relu(out) if relu_after else out

    return Case(f"residual {size}x{size}x{channels} stem={stem} two={two} dw={depthwise} "
                f"filters={filters} middle={middle} x_first={x_first} relu={relu_after}",
                (1, size, size, channels), build, (0.0, 1.0))


def _conv_pool_case(rng):
    """A convolution into a pool of any window, stride and padding (overlapping windows keep
    rows in the window across pooled rows)."""
    import tensorflow as tf

    size, channels = int(rng.integers(5, 14)), int(rng.choice([1, 3, 4]))
    out_c, kernel = int(rng.choice([4, 5, 8])), int(rng.choice([1, 3]))
    weights = rng.normal(size=(kernel, kernel, channels, out_c)).astype(np.float32) * 0.5
    window, stride = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    padding = str(rng.choice(["SAME", "VALID"]))
    pool = tf.nn.max_pool2d if rng.random() < 0.5 else tf.nn.avg_pool2d

    def build(x):
        y = tf.nn.relu(tf.nn.conv2d(x, weights, 1, "SAME"))
        return pool(y, ksize=window, strides=stride, padding=padding)

    return Case(f"conv {size}x{size}x{channels} {kernel}x{kernel}->{out_c} {pool.__name__} "
                f"{window}/{stride} {padding}", (1, size, size, channels), build, (0.0, 1.0))


def _conv_width_trimmed(layer, model: TFLiteModel) -> bool:
    """Whether a fused convolution + pool computes fewer columns than the model's tensor has."""
    if "fused" not in layer.extra or "POOL" not in layer.op:
        return False
    conv = layer.extra["fused"][0]
    width = model.tensor(model.operators[conv.op_index].outputs[0]).shape[2]
    return dict(conv.fields)["output_w"] < width


@pytest.mark.parametrize("flags", [(), ("-DTINYML_EMULATE_DSP",)], ids=["portable", "dsp-emulated"])
def test_fused_layers_match_tflm(flags, monkeypatch):
    """Random residual blocks and convolution + pool pairs, converted by TensorFlow: where the
    planner fuses them (and writes a residual over X), the bytes are TFLM's. These models are
    small, so the runner's stack is not weighed against the arena they save (it would keep
    most of them unfused)."""
    monkeypatch.setattr(fusion, "STACK_BYTES", 0)
    rng = np.random.default_rng(12)
    cases = [_residual_case(rng) for _ in range(24)] + [_conv_pool_case(rng) for _ in range(16)]
    models = [TFLiteModel(data, f"fusion case {index}")
              for index, data in enumerate(convert_cases(cases, 12))]
    plans = [compile_plan(model) for model in models]
    fused = [plan for plan in plans if any("fused" in layer.extra for layer in plan.layers)]
    residual_in_place = [plan for plan in fused if any(
        "ADD" in layer.op and step in plan.in_place for step, layer in enumerate(plan.layers))]
    # Both kinds are exercised (not every model fuses: only where the arena drops; seed 12
    # fuses 18 of 40, 6 residuals over X).
    pooled = [plan for plan in fused if any("POOL" in layer.op for layer in plan.layers)]
    # ... and some convolutions skip the columns their VALID pool leaves unread.
    trimmed = [plan for plan, model in zip(plans, models, strict=True)
               if any(_conv_width_trimmed(layer, model) for layer in plan.layers)]
    assert len(fused) >= len(models) // 3 and len(residual_in_place) >= 3 and len(pooled) >= 3, (
        len(fused), len(residual_in_place), len(pooled))
    assert trimmed, "no fused convolution + pool dropped an unread column"
    assert all(not _aliasing_problems(plan) for plan in plans)
    failures = compare_models(models, [case.description for case in cases], seed=12,
                              samples=3, extra_flags=flags)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("flags", [(), ("-DTINYML_EMULATE_DSP",)], ids=["portable", "dsp-emulated"])
def test_strips_match_tflm(flags, monkeypatch):
    """test_ops_conv's random CONV_2D and DEPTHWISE_CONV_2D models (every padding, stride,
    dilation, group and channel multiplier it draws), planned in strips wherever the arena
    drops, from one output row per strip: the bytes are TFLM's."""
    from tests import test_ops_conv

    monkeypatch.setattr(planner, "STACK_BYTES", 0)
    monkeypatch.setattr(strips, "MIN_STRIP_PIXELS", 1)
    rng = np.random.default_rng(13)
    cases = [maker(rng)[0] for _ in range(30)
             for maker in (test_ops_conv._conv_case, test_ops_conv._depthwise_case)]
    models = [TFLiteModel(data, f"strips case {index}")
              for index, data in enumerate(convert_cases(cases, 13))]
    plans = [compile_plan(model) for model in models]
    stripped = [plan for plan in plans if plan.strips]
    assert len(stripped) > len(plans) // 2, (len(stripped), len(plans))
    assert any(reverse for plan in stripped for _, reverse in plan.strips.values())
    assert any(not reverse for plan in stripped for _, reverse in plan.strips.values())
    assert all(not _aliasing_problems(plan) for plan in plans)
    failures = compare_models(models, [case.description for case in cases], seed=13,
                              samples=3, extra_flags=flags)
    assert not failures, "\n".join(failures)


def test_forcing_a_residual_over_its_input_where_unsafe_is_caught(monkeypatch):
    """The schedule rule has teeth: a residual block whose first convolution is 5x5, fused and
    forced to write its sum over X, overwrites X rows that later first-stage rows read, and
    its output departs from TFLM's; left to the rule, it is fused without that and exact."""
    import tensorflow as tf

    monkeypatch.setattr(fusion, "STACK_BYTES", 0)
    rng = np.random.default_rng(14)
    # A wide middle, so that fusing pays even without the sum over X.
    first_w = rng.normal(size=(5, 5, 4, 16)).astype(np.float32) * 0.3
    second_w = rng.normal(size=(3, 3, 16, 4)).astype(np.float32) * 0.3
    case = Case("residual 5x5 then 3x3 over X", (1, 10, 10, 4),
                lambda x: x + tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, first_w, 1, "SAME")),
                                           second_w, 1, "SAME"), (0.0, 1.0))
    model = TFLiteModel(convert_cases([case], 14)[0], "residual 5x5")
    plan = compile_plan(model)
    assert [layer.op for layer in plan.layers] == ["CONV_2D+CONV_2D+ADD"] and not plan.in_place
    assert not compare_models([model], [case.description], seed=14, samples=3)
    monkeypatch.setattr(fusion, "residual_over_input_is_safe", lambda *args: True)
    forced = compile_plan(model)
    assert forced.in_place == {0}
    assert compare_models([model], [case.description + " (forced)"], seed=14, samples=3)
