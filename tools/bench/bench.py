"""`tinyml bench MODEL`: convert, build, run, check, and gather the figures (tools/bench)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tinyml_pipeline.tools.bench import cycles, fit, image, measure, model, report, tflm_arena32
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.firmware import Firmware
from tinyml_pipeline.tools.reference import measure_tflm_arena
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.tools.workspace import shown

TARGETS = ("qemu", "host")
DEFAULT_RUNS = 20
DEFAULT_SEED = 0


def run_bench(source: str | Path, firmware: Firmware, *, target: str = "qemu",
              runs: int = DEFAULT_RUNS,
              seed: int = DEFAULT_SEED, name: str | None = None,
              build_root: Path | None = None, quiet: bool = False) -> dict:
    """The bench's figures for one model (see tools/bench/report.py for their layout), built
    from `firmware`'s sources under `build_root` (default: its workspace's build/bench).

    InputError (exit 2) for a missing or corrupt .tflite, a model the runtime cannot compile or
    a missing tool; CheckFailed (exit 1) when an output differs from TFLM's."""
    if target not in TARGETS:
        raise InputError(f"unknown bench target {target!r}; choose from {', '.join(TARGETS)}")
    if runs < 1:
        raise InputError(f"runs must be at least 1, not {runs}")
    started = time.monotonic()
    bench = model.load(source, name)
    if target == "qemu":  # before the slow steps: a user without QEMU learns it at once
        from tinyml_pipeline.tools import qemu

        qemu.find_qemu()
    say = _progress(quiet)
    seconds: dict[str, float] = {}
    directory = image.work_dir(bench, build_root or firmware.workspace.build / "bench")
    say(f"{bench.name}: converting {bench.path} into {shown(directory / 'models')}")
    with _timed(seconds, "convert"):
        converted = image.convert(bench, directory)
    if target == "qemu":
        fit.check_qemu_fit(bench.name, converted.plan.arena_bytes)
    with _timed(seconds, "tflm_arena"):
        tflm_arena = measure_tflm_arena(bench.model, isolated=True)
    tflm_target = target_arena(bench.model)

    images = []
    with _timed(seconds, "build"):
        if target == "qemu":
            for disable_dsp in (False, True):
                say(f"{bench.name}: building the QEMU image "
                    f"({'portable kernels' if disable_dsp else 'DSP paths on'})")
                images.append(image.build_qemu(firmware, directory, disable_dsp=disable_dsp,
                                               quiet=True))
        else:
            say(f"{bench.name}: building the host runner")
            images.append(image.build_host(firmware, directory, quiet=True))

    inputs = measure.random_inputs(bench.input_shape, runs, seed)
    say(f"{bench.name}: TFLM's outputs for {runs} random inputs (seed {seed})")
    with _timed(seconds, "reference"):
        expected = measure.reference_outputs(bench.model, inputs, tflm_arena)
    results = {}
    with _timed(seconds, "run"):
        for built in images:
            say(f"{bench.name}: {runs} inferences on {_where(built)}, every layer timed")
            records = measure.run_image(built, inputs, bench.model.macs())
            measure.check_outputs(records.outputs, expected,
                                  f"{bench.name} on {_where(built)}")
            results[built.variant] = records
    traced = None
    if target == "qemu":
        say(f"{bench.name}: tracing one inference on QEMU (DSP paths on) for the cycle "
            f"estimate")
        with _timed(seconds, "cycles"):
            traced = cycles.traced_inference(images[0].elf, 0, inputs[0])
    seconds["total"] = time.monotonic() - started
    return report.assemble(bench, converted.plan, target, runs, seed, images, results,
                           tflm_arena, directory, seconds, traced, tflm_target)


def target_arena(bench_model: TFLiteModel) -> tflm_arena32.Arena32 | str:
    """TFLM's arena on the 32-bit board (tools/bench/tflm_arena32.py), or why the arithmetic
    cannot size this model: the bench still runs, the figure is then reported missing."""
    try:
        return tflm_arena32.tflm_arena32(bench_model)
    except tflm_arena32.NotSized as error:
        return str(error)


def _where(built: image.Image) -> str:
    return {"dsp": "QEMU (DSP paths on)", "no_dsp": "QEMU (portable kernels)",
            "host": "the host"}[built.variant]


class _timed:
    """Adds the block's wall time to seconds[key]."""

    def __init__(self, seconds: dict, key: str):
        self.seconds, self.key = seconds, key

    def __enter__(self):
        self.started = time.monotonic()

    def __exit__(self, *exc):
        self.seconds[self.key] = self.seconds.get(self.key, 0.0) + time.monotonic() - self.started
        return False


def _progress(quiet: bool):
    def say(message: str) -> None:
        if not quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    return say

