"""`tinyml bench` (tools/bench): the figures of models/linear and of a small converter-built
conv model on QEMU, the relations between them that hold by construction, the JSON, and the
errors: a corrupt or missing .tflite, a missing toolchain (exit 2), an output that differs from
TFLM's (exit 1). Also the linker-map parser and the MAC count, which need no QEMU."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, FIRMWARE, MODELS_DIR
from tinyml_pipeline.tools import cli
from tinyml_pipeline.tools.bench import linkmap, macs, measure
from tinyml_pipeline.tools.bench.bench import run_bench
from tinyml_pipeline.tools.bench.model import c_name
from tinyml_pipeline.tools.compiler.layers import Const
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

_missing = [tool for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm")
            if shutil.which(tool) is None]
needs_qemu = pytest.mark.skipif(
    bool(_missing), reason=f"{', '.join(_missing)} not installed (the bench builds and runs "
                           "QEMU images)")
needs_host_build = pytest.mark.skipif(
    shutil.which("cmake") is None or not any(shutil.which(cc) for cc in ("cc", "gcc")),
    reason="cmake or a C compiler is not installed (the host build)")

RUNS = 4


def _check_identity(variant: dict) -> None:
    """Per input: cost = the invoke around the layers + the sum of the layer costs, exactly
    (the batch files' layer profile, boards/common/layer_profile.c, is built for this)."""
    samples = variant["per_sample"]
    costs = np.array(samples["cost"], np.int64)
    around = np.array(samples["empty_invoke"], np.int64)
    layers = np.array(samples["layer_costs"], np.int64)
    assert layers.shape == (len(costs), len(variant["layers"]))
    np.testing.assert_array_equal(costs, around + layers.sum(axis=1))
    assert np.all(around > 0) and np.all(layers > 0)


def _weight_bytes(plan) -> int:
    return sum(value.values.nbytes for layer in plan.layers for _, value in layer.fields
               if isinstance(value, Const) and value.label in ("filter", "bias"))


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """`tinyml bench models/linear --json FILE` through the CLI."""
    out = tmp_path_factory.mktemp("bench") / "linear.json"
    assert cli.main(["-q", "bench", str(MODELS_DIR / "linear"), "--runs", str(RUNS),
                     "--json", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, Path]:
    """Small int8 models built with the TFLite converter, seeded weights and calibration:
    "conv" (CONV_2D, DEPTHWISE_CONV_2D, a reshape, FULLY_CONNECTED) and "transpose" (an op the
    built-in runtime lacks)."""
    import tensorflow as tf

    from tests.support.modelgen import Case, convert_cases

    rng = np.random.default_rng(6)
    conv = tf.constant(rng.normal(size=(3, 3, 3, 8)).astype(np.float32) * 0.5)
    depthwise = tf.constant(rng.normal(size=(3, 3, 8, 1)).astype(np.float32) * 0.5)
    dense = tf.constant(rng.normal(size=(6 * 6 * 8, 5)).astype(np.float32) * 0.1)

    def build(x):
        x = tf.nn.relu(tf.nn.conv2d(x, conv, strides=1, padding="VALID"))
        x = tf.nn.relu(tf.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], padding="SAME"))
        return tf.matmul(tf.reshape(x, (1, -1)), dense)

    cases = [Case("bench conv", (1, 8, 8, 3), build),
             Case("bench transpose", (1, 4, 6), lambda x: tf.transpose(x, [0, 2, 1]) * 2.0)]
    folder = tmp_path_factory.mktemp("converted")
    paths = {}
    for name, data in zip(("conv", "transpose"), convert_cases(cases, seed=6), strict=True):
        paths[name] = folder / f"bench_{name}.tflite"
        paths[name].write_bytes(data)
    return paths


@needs_qemu
def test_linear_figures_are_complete_and_consistent(linear):
    model, cost, flash, ram = linear["model"], linear["cost"], linear["flash"], linear["ram"]
    card = json.loads((MODELS_DIR / "linear" / "card.json").read_text())
    plan = compile_plan(TFLiteModel.from_file(MODELS_DIR / "linear" / "model.tflite"))
    assert model["name"] == "linear" and model["macs"] == card["macs"] == 1
    assert model["layers"] == len(plan.layers) and model["ops"] == ["FULLY_CONNECTED"]
    assert linear["target"] == "qemu" and cost["unit"] == "instructions"
    assert linear["check"] == {"reference": linear["check"]["reference"],
                               "identical": {"dsp": RUNS, "no_dsp": RUNS}, "samples": RUNS}
    for variant in cost["variants"].values():
        _check_identity(variant)
        median = variant["per_inference"]["median"]
        assert variant["per_mac"] == median / model["macs"]
        assert variant["over_lower_bound"] == median / (model["macs"] / 2)
        assert variant["layers"][0]["op"] == "FULLY_CONNECTED"
    assert cost["lower_bound"]["instructions"] == 0.5
    # The cycle estimate traces sample 0 of the DSP build: as many instructions as the image
    # counts for it, give or take the counter's own, and at least a cycle each.
    estimate = cost["cycle_estimate"]
    assert estimate["image_count"] == cost["variants"]["dsp"]["per_sample"]["cost"][0]
    assert abs(estimate["instructions"] - estimate["image_count"]) <= 200
    assert estimate["cycles"] >= estimate["instructions"]
    assert estimate["cycles_per_mac"] == estimate["cycles"] / model["macs"]
    assert sum(f["instructions"] for f in estimate["by_class"].values()) == \
        estimate["instructions"]
    # Flash: every byte attributed, and the weights are exactly the plan's filter and bias.
    assert flash["total"] == flash["image_flash"] > 0
    assert flash["weights"] == _weight_bytes(plan) > 0
    assert flash["runtime"] > 0 and flash["plan"] > 0 and flash["firmware"] > 0
    assert flash["model_part"] == flash["runtime"] + flash["plan"] + flash["weights"]
    assert flash["tflite_bytes"] == (MODELS_DIR / "linear" / "model.tflite").stat().st_size
    # RAM: the plan's arena, a measured stack, TFLM's measured arena (as the card records it).
    assert ram["plan_arena"] == plan.arena_bytes
    assert 0 < ram["invoke_stack"] < ram["image_stack_high_water"] <= 8192
    assert ram["total"] == ram["plan_arena"] + ram["invoke_stack"]
    assert ram["tflm_arena"] == card["tflm_arena_bytes"]
    # and TFLM's arena on the 32-bit board (tests/test_tflm_arena32.py: measured 516 on QEMU)
    assert ram["tflm_arena_32bit"] == 516
    assert ram["plan_over_tflm_32bit"] == ram["plan_arena"] / 516
    assert linear["machine"]["cpus"] >= 1 and linear["machine"]["qemu"]


@needs_qemu
def test_table_on_stdout_progress_on_stderr(linear, capsys):
    # The module fixture ran with -q: run again (everything is built) to see both streams.
    assert cli.main(["bench", str(MODELS_DIR / "linear" / "model.tflite"), "--runs", "2"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("linear: ") and "per inference (instructions)" in out
    assert "flash: runtime" in out and "RAM:   plan arena" in out
    # linear's one layer, 1 MAC, is far above the goal: its reason and the summary line.
    assert "fewer than 4 rows, so each row is done alone in C" in out
    assert re.search(r"^above goal \(1\.25 instructions per MAC, DSP on\): 1 layer of 1, "
                     r"[0-9.]+% of the invoke$", out, re.MULTILINE)
    assert "bench: linear: 2 inferences on QEMU (DSP paths on)" in err


@needs_qemu
def test_converter_built_conv_model(converted):
    result = run_bench(converted["conv"], FIRMWARE, runs=RUNS, quiet=True)
    model = TFLiteModel.from_file(converted["conv"])
    assert result["model"]["macs"] == model.macs() > 0
    assert result["model"]["ops"] == ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE",
                                      "FULLY_CONNECTED"]
    variants = result["cost"]["variants"]
    for variant in variants.values():
        _check_identity(variant)
    # The DSP paths pay off on every MAC layer; layers without DSP paths cost the same.
    on, off = variants["dsp"], variants["no_dsp"]
    assert off["per_inference"]["median"] > on["per_inference"]["median"]
    assert result["cost"]["no_dsp_over_dsp"] > 1
    for layer_on, layer_off in zip(on["layers"], off["layers"], strict=True):
        assert layer_on["macs"] == macs.op_macs(model, layer_on["op_index"]) > 0
        assert layer_off["cost"] > layer_on["cost"]
    assert on["empty_invoke"] == off["empty_invoke"]
    assert result["flash"]["runtime_no_dsp"] < result["flash"]["runtime"]
    # A reason for exactly the DSP layers above the goal (and those without MACs); the parts it
    # ranks add up to about the measured cost, so a kernel that changes its path without
    # why.py following shows here.
    from tinyml_pipeline.tools.bench import why

    for layer in on["layers"]:
        above = not layer["macs"] or layer["per_mac"] > why.GOAL_PER_MAC
        assert (layer["why"] is not None) == above, layer
        estimate = why.estimate(layer["facts"])
        if layer["macs"]:
            assert 0.7 < estimate / layer["per_mac"] < 1.4, (layer, estimate)
    over = [layer for layer in on["layers"] if layer["macs"] and layer["why"]]
    summary = result["cost"]["above_goal"]
    assert summary["layers"] == len(over) and summary["of"] == len(on["layers"])
    assert summary["share"] == pytest.approx(
        sum(layer["cost"] for layer in over) / on["per_inference"]["median"])


@needs_host_build
def test_host_target_times_in_nanoseconds(tmp_path):
    out = tmp_path / "host.json"
    assert cli.main(["-q", "bench", str(MODELS_DIR / "linear"), "--target", "host",
                     "--runs", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["target"] == "host" and result["cost"]["unit"] == "ns"
    assert list(result["cost"]["variants"]) == ["host"]
    host = result["cost"]["variants"]["host"]
    assert host["per_inference"]["median"] > 0 and host["over_lower_bound"] is None
    assert result["flash"] is None and result["ram"]["invoke_stack"] is None
    assert "lower_bound" not in result["cost"]


@needs_qemu
def test_a_difference_from_tflm_fails_the_bench(linear, monkeypatch, capsys):
    reference = measure.reference_outputs

    def off_by_one(model, inputs, arena_bytes):
        expected = reference(model, inputs, arena_bytes).copy()
        expected[2, 0] = np.int8(expected[2, 0] ^ 3)  # sample 2 differs by 3 at most
        return expected

    monkeypatch.setattr(measure, "reference_outputs", off_by_one)
    assert cli.main(["-q", "bench", str(MODELS_DIR / "linear"), "--runs", "3"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert "sample 2 differs from TFLM's output" in err and "largest difference" in err


def test_corrupt_and_missing_models_are_one_line_errors(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes((MODELS_DIR / "linear" / "model.tflite").read_bytes()[:600])
    assert cli.main(["bench", str(corrupt)]) == 2
    assert cli.main(["bench", str(tmp_path / "missing.tflite")]) == 2
    assert cli.main(["bench", str(tmp_path)]) == 2  # a directory without model.tflite
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 3
    assert "corrupt.tflite: corrupt .tflite model" in lines[0]
    assert "model not found" in lines[1] and "model not found" in lines[2]


@needs_qemu
def test_missing_toolchain_is_a_one_line_error(monkeypatch, capsys):
    which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name, *args, **kw: None if name == "arm-none-eabi-gcc"
                        else which(name, *args, **kw))
    assert cli.main(["-q", "bench", str(MODELS_DIR / "linear")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no arm-none-eabi-gcc on PATH" in err


def test_a_model_the_runtime_cannot_compile_is_refused(converted, capsys):
    # The host target: the refusal comes from the converter, before anything needs QEMU.
    assert cli.main(["-q", "bench", str(converted["transpose"]), "--target", "host"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TRANSPOSE is not supported by the built-in runtime" in err


@needs_qemu
def test_benchmarks_md_lists_what_could_not_be_benched(linear):
    from benchmarks.bench_markdown import render

    suite = {"entries": [
        {"label": "linear", "description": "the committed linear model", "result": linear},
        {"label": "odd", "description": "a model with a TRANSPOSE",
         "error": "odd.tflite: op #0 TRANSPOSE: TRANSPOSE is not supported",
         "error_kind": "CompileError"}],
        "validation": None, "validation_error": None, "training": [], "runs": RUNS,
        "seconds": 1.0}
    text = render(suite)
    assert "| `linear` | the committed linear model | 1 |" in text
    assert "TFLM arena, 32-bit target" in text and "| 516 | 6 % |" in text
    assert "### Not benched" in text
    assert "- `odd` (a model with a TRANSPOSE): odd.tflite: op #0 TRANSPOSE" in text
    assert linear["machine"]["qemu"] in text  # what it ran on


# ---- no QEMU needed -----------------------------------------------------------------------


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_macs_per_op_add_up_to_the_card(name):
    model = TFLiteModel.from_file(MODELS_DIR / name / "model.tflite")
    card = json.loads((MODELS_DIR / name / "card.json").read_text())
    per_op = [macs.op_macs(model, index) for index in range(len(model.operators))]
    assert sum(per_op) == model.macs() == card["macs"]


def test_linker_map_sections_and_merged_strings(tmp_path):
    text = """Archive member included to satisfy reference by file (symbol)

Linker script and memory map

.text           0x00000000       0x40
 *(.vectors)
 .vectors       0x00000000       0x10 CMakeFiles/x.dir/startup.c.obj
 .text.a_function_with_a_long_name
                0x00000010        0xc libtinyml_core.a(op_conv2d.c.obj)
                0x00000010                a_function_with_a_long_name
 *fill*         0x0000001c        0x4
 .rodata.str1.4
                0x00000020        0x8 libtinyml_core.a(net_plan.c.obj)
                                 0xa (size before relaxing)
 .rodata.layer0_filter
                0x00000020       0x10 libtinyml_core.a(net_plan.c.obj)
 .text.memcpy   0x00000030        0x8 /usr/lib/libc_nano.a(lib_a-memcpy.o)
                0x00000040                        . = ALIGN (0x4)

.data           0x20000000        0x4 load address 0x00000040
 .data.x        0x20000000        0x4 CMakeFiles/x.dir/board.c.obj
OUTPUT(x.elf elf32-littlearm)
"""
    path = tmp_path / "x.map"
    path.write_text(text)
    placed = linkmap.parse_map(path)
    text_entries = placed[".text"]
    assert [(e.name, e.occupied) for e in text_entries] == [
        (".vectors", 16), (".text.a_function_with_a_long_name", 12), ("*fill*", 4),
        (".rodata.str1.4", 0), (".rodata.layer0_filter", 16), (".text.memcpy", 8)]
    assert text_entries[1].object_name == "op_conv2d.c.obj"
    assert text_entries[1].archive == "libtinyml_core.a"
    assert text_entries[5].archive == "libc_nano.a" and text_entries[0].archive is None
    assert [e.name for e in placed[".data"]] == [".data.x"]
    with pytest.raises(linkmap.InputError, match="not a GNU ld map"):
        (tmp_path / "other.map").write_text("hello\n")
        linkmap.parse_map(tmp_path / "other.map")


def test_c_names_for_any_file_name():
    assert c_name("my-model v2") == "my_model_v2"
    assert c_name("2d_net") == "m_2d_net"
    assert c_name("---") == "model"
    assert len(c_name("x" * 50)) == 32


# ---- the per-layer reasons (tools/bench/why.py), on synthetic layer descriptions -----------


def _conv_facts(in_hw, in_c, kernel, out_c, *, stride=1, pad=0, act=(-128, 127), stage=True):
    """A CONV_2D's plan facts as the compiler lays them out (conv_filter_layout, the filter
    stored widened when it is small: ALWAYS_WIDENED_CONV_BYTES, and for 1x1 over 8 channels the
    packed stream where _pointwise8_fields emits it)."""
    from tinyml_pipeline.tools.compiler.ops.conv_filter import conv_filter_layout
    from tinyml_pipeline.tools.compiler.ops.widening_budget import ALWAYS_WIDENED_CONV_BYTES

    out_hw = (in_hw + 2 * pad - kernel) // stride + 1
    depth, row_stride, tap_stride = conv_filter_layout(kernel, kernel, in_c, in_c, in_hw, 1, 1)
    return {"op": "CONV_2D", "outputs": out_hw * out_hw * out_c, "batches": 1,
            "input_h": in_hw, "input_w": in_hw, "input_c": in_c, "output_h": out_hw,
            "output_w": out_hw, "output_c": out_c, "filter_h": kernel, "filter_w": kernel,
            "filter_c": in_c, "filter_depth": depth, "filter_row_stride": row_stride,
            "filter_tap_stride": tap_stride, "stride_h": stride, "stride_w": stride,
            "dilation_h": 1, "dilation_w": 1, "pad_top": pad, "pad_left": pad,
            "input_offset": 128, "output_offset": -128, "act_min": act[0], "act_max": act[1],
            "output_stage": stage, "filter_wide": out_c * depth <= ALWAYS_WIDENED_CONV_BYTES,
            "packed": (kernel, in_c, stride, act, out_c % 4) == (1, 8, 1, (-128, 127), 0) and
            stage and out_c * depth <= ALWAYS_WIDENED_CONV_BYTES}


def _depthwise_facts(in_hw, channels, *, stride=1, pad=1, packed=True):
    """A 3x3 multiplier-1 layer; `packed` as the converter emits it (with the fast table)."""
    out_hw = (in_hw + 2 * pad - 3) // stride + 1
    return {"op": "DEPTHWISE_CONV_2D", "outputs": out_hw * out_hw * channels, "batches": 1,
            "input_h": in_hw, "input_w": in_hw, "input_c": channels, "output_h": out_hw,
            "output_w": out_hw, "output_c": channels, "filter_h": 3, "filter_w": 3,
            "depth_multiplier": 1, "stride_h": stride, "stride_w": stride, "dilation_h": 1,
            "dilation_w": 1, "pad_top": pad, "pad_left": pad, "input_offset": 128,
            "output_offset": -128, "act_min": -128, "act_max": 127, "output_stage": True,
            "packed": packed, "pad_input": packed and pad > 0}


def _fc_facts(depth, rows, *, packed=False, act=(-128, 127)):
    """`packed` as the converter emits it: the packed words, `output_stage` then NULL."""
    return {"op": "FULLY_CONNECTED", "outputs": rows, "batches": 1, "accum_depth": depth,
            "output_depth": rows, "input_offset": 128, "output_offset": -128,
            "act_min": act[0], "act_max": act[1], "output_stage": not packed, "packed": packed}


def _why(facts, per_mac):
    from tinyml_pipeline.tools.bench import why

    macs = {"CONV_2D": lambda f: f["outputs"] * f["filter_h"] * f["filter_w"] * f["filter_c"],
            "DEPTHWISE_CONV_2D": lambda f: f["outputs"] * f["filter_h"] * f["filter_w"],
            "FULLY_CONNECTED": lambda f: f["outputs"] * f["accum_depth"]}[facts["op"]](facts)
    return why.reason(facts, macs, per_mac * macs)


def test_why_names_the_path_and_what_dominates():
    # Within the goal: no reason.
    assert _why(_conv_facts(12, 64, 1, 64), 1.2) is None
    # A pointwise conv of few input channels: the output stage outweighs 8 MACs per output,
    # over the packed stream or in filter pairs (18 output channels, not a multiple of 4).
    text = _why(_conv_facts(48, 8, 1, 16), 1.6)
    assert text.startswith("conv 1x1x8 to 16, assembly over the packed filter and output "
                           "stage, the pixel's column in registers; only 8 MACs per output")
    text = _why(_conv_facts(48, 8, 1, 18), 2.9)
    assert text.startswith("conv 1x1x8 to 18, assembly filter pairs over the widened filter; "
                           "only 8 MACs per output")
    # A first layer on RGB: filter rows of 9 values are assembled in place, then widened, in
    # the pairs' loop unrolled for 7 blocks.
    text = _why(_conv_facts(96, 3, 3, 8, stride=2), 1.5)
    assert text.startswith("conv 3x3x3 to 8, stride 2, assembly filter pairs over the widened "
                           "filter (unrolled for its 7 blocks); each pixel's im2col (28 values "
                           "widened to int16, assembled from its three rows in place) is "
                           "shared by only 8 filters")
    # One input channel: each filter row is one word; 9 MACs per output, 8 filters per im2col.
    text = _why(_conv_facts(28, 1, 3, 8), 3.6)
    assert "only 9 MACs per output" in text and "shared by only 8 filters" in text
    # Padding on a deep filter whose taps are not on blocks: border pixels value by value.
    text = _why(_conv_facts(8, 30, 3, 16, pad=1), 1.5)
    assert "44 % of the pixels reach the padding: their patch is gathered value by value" \
        in text
    assert "over the widened filter" not in text  # 16 x 276 bytes: above 4 KB
    # A narrower activation range keeps the pairs in C; a missing table means the general path.
    assert "activation clamp [-100, 127] keeps it off the assembly" in \
        _why(_conv_facts(12, 16, 3, 16, act=(-100, 127)), 1.6)
    assert "general requantization" in _why(_conv_facts(12, 16, 3, 16, stage=False), 2.0)


def test_why_for_depthwise_and_fully_connected():
    from tinyml_pipeline.tools.bench import why

    # The packed path: pairs of taps for SMLAD; with many channels the output stage (5.25 of
    # the 3x3 group's instructions per output, 9 MACs) is what is left; on a small image with
    # few channels, the tap lists of the pixels whose window leaves the input.
    many = _why(_depthwise_facts(6, 128), 2.6)
    assert "depthwise 3x3 over 128 channels, packed filter: each input value feeds one MAC, " \
           "so pairs of taps are interleaved and widened for SMLAD" in many
    assert many.endswith("only 9 MACs per output against ~5 instructions of output stage each")
    small = _why(_depthwise_facts(6, 8), 4.9)
    assert "56 % of the pixels' windows leave the input: each builds its own tap list" in small
    # Its estimate against the per-part costs fitted on DS-CNN (2.58 measured, in strips).
    kws = {**_depthwise_facts(25, 64), "input_w": 5, "output_w": 5}
    assert why.estimate({**kws, "strip_rows": 4}) == pytest.approx(2.58, rel=0.05)
    # In strips: each band is one more call.
    banded = {**kws, "strip_rows": 4}
    assert why.estimate(banded) - why.estimate(kws) == pytest.approx(
        6 * why.DW9_CALL / (25 * 5 * 9 * 64))
    # Without the packed filter: no SMLAD pairing; few channels leave the per-pixel window and
    # tap list to dominate, many channels the per-4-channel pass.
    few = _why(_depthwise_facts(48, 8, packed=False), 9.5)
    wide = _why(_depthwise_facts(6, 128, packed=False), 5.1)
    for text in (few, wide):
        assert "no packed filter: each input value feeds one MAC, no SMLAD pairing" in text
    assert "the window and tap list per pixel serve only 8 channels" in few
    assert "each 4-channel pass's set-up and output stage serve only 7.1 taps" in wide
    assert "per pixel" not in wide
    shared = {**_depthwise_facts(12, 8, packed=False), "output_c": 32, "depth_multiplier": 4}
    shared["outputs"] *= 4
    assert "multiplier 4: one input value for 4 outputs, single MACs" in _why(shared, 4.0)
    # Fully connected: the weight is used once; a narrow input leaves the rows' set-up to
    # dominate; fewer than 4 rows go one by one in C; a remainder of rows is named.
    assert "8 MACs per output against the set-up" in _why(_fc_facts(8, 128), 5.9)
    assert "fewer than 4 rows" in _why(_fc_facts(256, 2), 2.8)
    assert "2 of 10 rows one at a time in C" in _why(_fc_facts(64, 10), 2.4)


def test_why_for_packed_fully_connected():
    from tinyml_pipeline.tools.bench import why

    # The packed weights (output_stage NULL) are not the general path. The estimates against
    # the measured DSP figures of docs/compiler.md's FC table: the autoencoder's 8x128 (two
    # blocks a row, the groups' 35 instructions dominate) and digits' 432x64 and 64x10.
    narrow = _fc_facts(8, 128, packed=True)
    text = _why(narrow, 2.06)
    assert text.startswith("fully connected, packed weights: every weight is used once, "
                           "stored widened to int16 pairs")
    assert "general path" not in text
    assert "only 8 MACs per output against the starts and output stage of each 4 rows" in text
    assert why.estimate(narrow) == pytest.approx(2.06, rel=0.03)
    assert why.estimate(_fc_facts(432, 64, packed=True)) == pytest.approx(0.90, rel=0.03)
    assert _why(_fc_facts(432, 64, packed=True), 0.90) is None
    # 10 rows: a group of 2 padded with zero rows, one more call.
    short = _fc_facts(64, 10, packed=True)
    assert why.estimate(short) == pytest.approx(1.44, rel=0.03)
    assert "10 rows end in a group of 2: one more call over a group padded with 2 zero rows" \
        in _why(short, 1.44)
    # Rows of 75 values end in a part block, 13 instructions a group more (1.10 measured).
    tail = _fc_facts(75, 16, packed=True)
    assert why.estimate(tail) - why.estimate(_fc_facts(76, 16, packed=True)) > 0
    assert why.estimate(tail) == pytest.approx(1.10, rel=0.05)
    # A narrower activation range: the clamp pass in C is counted, and named where it weighs.
    clamped = _fc_facts(8, 128, packed=True, act=(-128, 0))
    assert why.estimate(clamped) - why.estimate(narrow) == pytest.approx(
        why.FC_PACKED_CLAMP / 8)
    assert "the activation clamp [-128, 0] is a second pass in C" in _why(
        _fc_facts(4, 64, packed=True, act=(-128, 0)), 3.0)


def test_why_for_fused_layers():
    from tinyml_pipeline.tools.bench import why

    # digits' first layer: conv 3x3x1 to 8 and the 2x2 max pool in one pass (2.69 measured):
    # the reason names both and the path.
    conv = {**_conv_facts(28, 1, 3, 8), "macs": 26 * 26 * 8 * 9}
    pool = {"op": "MAX_POOL_2D", "outputs": 13 * 13 * 8, "batches": 1, "input_h": 26,
            "input_w": 26, "channels": 8, "output_h": 13, "output_w": 13, "filter_h": 2,
            "filter_w": 2, "stride_h": 2, "stride_w": 2, "pad_top": 0, "pad_left": 0,
            "act_min": -128, "act_max": 127, "macs": 0}
    fused = {"op": "CONV_2D+MAX_POOL_2D", "outputs": pool["outputs"], "count": 2,
             "stages": [conv, pool]}
    macs = conv["macs"]
    assert why.estimate(fused) == pytest.approx(2.69, rel=0.1)
    text = why.reason(fused, macs, 2.69 * macs)
    assert text.startswith("conv 3x3x1 to 8 + max pool 2x2, stride 2 in one pass (assembly "
                           "filter pairs over the widened filter; each window's largest "
                           "accumulator requantized once); ")
    assert why.reason(fused, macs, 1.2 * macs) is None
    # The same with a clamping pool runs one row at a time (4.04 measured before the one
    # pass): the reason names both, and the conv's 9 MACs per output.
    clamped = {**fused, "stages": [conv, {**pool, "act_min": -100}]}
    assert why.estimate(clamped) == pytest.approx(4.04, rel=0.1)
    text = why.reason(clamped, macs, 4.04 * macs)
    assert text.startswith("fused conv 3x3x1 to 8 + max pool 2x2, stride 2, run row by row; "
                           "only 9 MACs per output")
    # A residual block: two convs and the ADD, whose outputs count no MACs. With 144 MACs per
    # output no overhead reaches a tenth of the estimate: the path alone is the reason.
    block = {**_conv_facts(8, 16, 3, 16, pad=1), "macs": 8 * 8 * 16 * 144}
    add = {"op": "ADD", "outputs": 8 * 8 * 16, "macs": 0}
    residual = {"op": "CONV_2D+CONV_2D+ADD", "outputs": add["outputs"], "count": 3,
                "stages": [block, block, add]}
    assert why.reason(residual, 2 * block["macs"], 3 * block["macs"]) == (
        "fused conv 3x3x16 to 16 + conv 3x3x16 to 16 + ADD (a residual block), run row by row")
    # Few MACs per output: the part names its stage.
    thin = {**_conv_facts(8, 4, 1, 4), "macs": 8 * 8 * 4 * 4}
    thin_add = {**add, "outputs": 8 * 8 * 4}
    text = why.reason({**residual, "outputs": 8 * 8 * 4, "stages": [thin, thin, thin_add]},
                      2 * thin["macs"], 6 * thin["macs"])
    assert "; stage 1: each pixel's im2col (4 values widened to int16) is shared by only 4 " \
           "filters" in text


def test_why_for_layers_without_macs_and_the_summary():
    from tinyml_pipeline.tools.bench import why

    assert why.reason({"op": "ADD", "outputs": 16384}, 0, 1_757_579) == \
        "no MACs: ADD over 16,384 output values, 107 instructions each"
    layers = [{"macs": 100, "per_mac": 2.0, "cost": 200.0},
              {"macs": 100, "per_mac": 1.25, "cost": 125.0},
              {"macs": 0, "per_mac": None, "cost": 75.0}]
    assert why.above_goal(layers, 500.0) == {
        "goal_per_mac": 1.25, "layers": 1, "of": 3, "share": 0.4, "no_mac_layers": 1,
        "no_mac_share": 0.15}
