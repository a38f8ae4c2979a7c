"""Model mutation fuzzer: mutants of the committed models and the corpus go through what
`tinyml convert` runs; accepted ones are built into the host runner with ASan and UBSan and run.

    .venv/bin/python -m fuzz.models --seconds 60 [--seed N] [--count N] [--batch N]

Oracle, per mutant: conversion (in this process, under a SIGALRM time limit) must end in a
TinyMLError (a clean refusal) or succeed. Any other exception is a finding, and so is running past
the limit (a hang). Accepted mutants with distinct generated sources are collected and, one build
per batch, compiled into the sanitized host runner (tools/compiler/host.py's sources, the
firmware's CMake with TINYML_SANITIZE) and run on random inputs: a build failure, a sanitizer
report, a crash, a timeout or a non-zero exit is a finding. Findings are saved under
build/fuzz/models/ (the mutant and what happened). The last line of output is the summary; the
exit status is 1 on any finding.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fuzz.mutate import mutate
from tinyml_pipeline.tools.errors import TinyMLError

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "fuzz" / "corpus" / "models"
OUT = REPO / "build" / "fuzz" / "models"
TARGET = "models"
CONVERT_LIMIT_S = 5  # a committed model converts in milliseconds
RUN_LIMIT_S = 20
SAMPLES = 3  # random inputs per accepted mutant
SANITIZER_MARKS = ("runtime error:", "AddressSanitizer", "UndefinedBehaviorSanitizer",
                   "LeakSanitizer")


class Hang(Exception):
    pass


def seeds() -> list[tuple[str, bytes]]:
    paths = sorted((REPO / "models").glob("*/model.tflite")) + sorted(CORPUS.glob("*.tflite"))
    return [(str(p.relative_to(REPO)), p.read_bytes()) for p in paths]


@dataclass
class Stats:
    executions: int = 0
    refused: int = 0
    accepted: int = 0
    exceptions: int = 0
    hangs: int = 0
    sanitizer: int = 0  # runtime findings: sanitizer reports, crashes, timeouts, bad exits
    build_failures: int = 0
    runtime_runs: int = 0
    places: dict = field(default_factory=dict)  # where each kind of finding happened -> count

    @property
    def findings(self) -> int:
        return self.exceptions + self.hangs + self.sanitizer + self.build_failures

    def summary(self) -> str:
        return (f"{TARGET}: {self.executions} executions, {self.findings} findings (refused "
                f"{self.refused}, accepted {self.accepted}, exceptions {self.exceptions}, hangs "
                f"{self.hangs}, sanitizer {self.sanitizer}, build failures {self.build_failures}"
                f"; {self.runtime_runs} accepted mutants run under ASan/UBSan)")


def save_finding(kind: str, data: bytes, report: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    stem = OUT / f"{kind}-{hashlib.sha256(data).hexdigest()[:12]}"
    stem.with_suffix(".tflite").write_bytes(data)
    stem.with_suffix(".txt").write_text(report.rstrip() + "\n")
    return stem.with_suffix(".tflite")


def _alarm(signum, frame):
    raise Hang()


def convert(data: bytes, source: str):
    """What `tinyml convert` does to the bytes (without TFLM's arena measurement)."""
    from tinyml_pipeline.tools.compiler.convert import convert_model
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    model = TFLiteModel(data, source)
    return model, convert_model(model, "fuzz", None, "fuzz", measure_arena=False)


def check_mutant(data: bytes, label: str, stats: Stats, accepted: dict, ran: set) -> None:
    stats.executions += 1
    signal.setitimer(signal.ITIMER_REAL, CONVERT_LIMIT_S)
    try:
        model, converted = convert(data, label)
    except TinyMLError:
        stats.refused += 1
        return
    except Hang:
        stats.hangs += 1
        path = save_finding("hang", data, f"{label}: conversion ran past {CONVERT_LIMIT_S} s")
        print(f"fuzz.models: hang: {label} -> {path}", file=sys.stderr)
        return
    except Exception as error:  # the oracle: anything but a TinyMLError is a finding
        frame = traceback.extract_tb(error.__traceback__)[-1]
        place = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        stats.exceptions += 1
        new = place not in stats.places
        stats.places[place] = stats.places.get(place, 0) + 1
        path = save_finding("exception", data, f"{label}\n{place}: {error}\n"
                            + "".join(traceback.format_exception(error)))
        if new:
            print(f"fuzz.models: {place}: {str(error)[:120]} ({label}) -> {path}",
                  file=sys.stderr)
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    stats.accepted += 1
    # Mutants that generate the same sources behave the same at run time: run one of them.
    key = hashlib.sha256("".join(converted.files[k] for k in sorted(converted.files)
                                 if k.endswith("_plan.c") or k.endswith("_settings.c"))
                         .encode()).hexdigest()
    if key not in ran:
        accepted.setdefault(key, (data, label, model))


def runtime_place(problem: str) -> str:
    """A short name for a runtime finding: the sanitizer's first report line, without paths."""
    for line in problem.splitlines():
        report = re.search(r"([\w.]+:\d+):\d+: runtime error: (.*)", line)
        if report:
            return f"UBSan at {report[1]}: {re.sub(r'-?[0-9]+', 'N', report[2])[:40]}"
        report = re.search(r"ERROR: AddressSanitizer: ([\w-]+)", line)
        if report:
            return f"ASan {report[1]}"
    return f"runtime: {problem.splitlines()[0][:60]}"


class StageBroken(Exception):
    """The sanitized runner does not build even for a committed model: the set-up is at fault
    (no compiler, a stale CMake tree), not the mutants."""


class RuntimeStage:
    """Builds batches of accepted mutants into one sanitized host runner and runs them."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.builds_known_good = False
        self.tree = OUT / "asan"
        self.private = Path(tempfile.mkdtemp(prefix="fuzz-models-"))

    def _build(self, models: list[tuple[str, object]]) -> Path:
        from tinyml_pipeline.tools.atomic import sync_directory
        from tinyml_pipeline.tools.compiler.host import (
            FIRMWARE_DIR,
            RUNNER_TARGET,
            generate_sources,
        )
        from tinyml_pipeline.tools.targets.cmake import CMakeProject

        # One CMake tree keeps the sanitized runtime compiled once; a lock lets two campaigns
        # share it, and each runs its own copy of the runner it built.
        sources = generate_sources(models)
        self.tree.mkdir(parents=True, exist_ok=True)
        with open(self.tree / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            sync_directory(self.tree / "models", sources)
            built = CMakeProject(FIRMWARE_DIR, self.tree).build(
                "host", models_dir=self.tree / "models", build_dir=self.tree / "build",
                sanitize=True, products=(RUNNER_TARGET,), quiet=True)
            runner = self.private / RUNNER_TARGET
            shutil.copy2(built / RUNNER_TARGET, runner)
        return runner

    def close(self) -> None:
        shutil.rmtree(self.private, ignore_errors=True)

    def run_batch(self, batch: list[tuple[bytes, str, object]], stats: Stats) -> None:
        from tinyml_pipeline.tools.errors import TinyMLError as BuildError

        named = [(f"m{index:04d}", item) for index, item in enumerate(batch)]
        try:
            runner = self._build([(name, item[2]) for name, item in named])
        except BuildError as error:
            self._check_set_up(error)
            if len(named) == 1:
                stats.build_failures += 1
                data, label, _ = named[0][1]
                path = save_finding("build", data, f"{label}: generated C does not build: "
                                    f"{error}")
                print(f"fuzz.models: build failure: {label} -> {path}", file=sys.stderr)
                return
            half = len(batch) // 2  # find the model whose sources do not compile
            self.run_batch(batch[:half], stats)
            self.run_batch(batch[half:], stats)
            return
        for name, (data, label, model) in named:
            self._run(runner, name, data, label, model, stats)

    def _check_set_up(self, error: Exception) -> None:
        """A failed build is a finding only if a committed model still builds."""
        from tinyml_pipeline.tools.errors import TinyMLError as BuildError
        from tinyml_pipeline.tools.tflite_model import TFLiteModel

        if self.builds_known_good:
            return
        try:
            self._build([("m0000", TFLiteModel.from_file(REPO / "models" / "linear" /
                                                         "model.tflite"))])
        except BuildError:
            raise StageBroken(f"the sanitized runner does not build even for models/linear: "
                              f"{str(error).splitlines()[0]}") from None
        self.builds_known_good = True

    def _run(self, runner: Path, name: str, data: bytes, label: str, model, stats: Stats):
        stats.runtime_runs += 1
        # Input bytes, not elements: an int16 (16x8) input takes two per element.
        size = int(np.prod(model.inputs[0].shape)) * np.dtype(model.inputs[0].dtype).itemsize
        inputs = self.rng.integers(-128, 128, size=SAMPLES * size, dtype=np.int8).tobytes()
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
                   UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
        try:
            result = subprocess.run([str(runner), name], input=inputs, capture_output=True,
                                    timeout=RUN_LIMIT_S, env=env)
        except subprocess.TimeoutExpired:
            problem = f"the runner ran past {RUN_LIMIT_S} s"
        else:
            stderr = result.stderr.decode(errors="replace")
            expected = SAMPLES * int(np.prod(model.outputs[0].shape)) * np.dtype(
                model.outputs[0].dtype).itemsize
            if any(mark in stderr for mark in SANITIZER_MARKS):
                problem = f"sanitizer report (exit {result.returncode}):\n{stderr}"
            elif result.returncode != 0:
                problem = f"exit {result.returncode}:\n{stderr}"
            elif len(result.stdout) != expected:
                problem = f"{len(result.stdout)} output bytes, expected {expected}"
            else:
                return
        stats.sanitizer += 1
        place = runtime_place(problem)
        stats.places[place] = stats.places.get(place, 0) + 1
        path = save_finding("runtime", data, f"{label}\n{problem}")
        print(f"fuzz.models: runtime finding: {label}: {problem.splitlines()[0]} -> {path}",
              file=sys.stderr)


def campaign(seconds: float | None, count: int | None, seed: int, batch_size: int,
             run_runtime: bool) -> Stats:
    rng = random.Random(seed)
    stats = Stats()
    pool = seeds()
    accepted: dict[str, tuple] = {}  # generated sources' hash -> one mutant generating them
    ran: set[str] = set()
    runtime = RuntimeStage(np.random.default_rng(seed))
    signal.signal(signal.SIGALRM, _alarm)
    start = last_report = time.monotonic()

    def more() -> bool:
        if count is not None and stats.executions >= count:
            return False
        return seconds is None or time.monotonic() - start < seconds

    try:
        while more():
            source, data = rng.choice(pool)
            mutant, how = mutate(data, rng)
            check_mutant(mutant, f"{source} [{how}]", stats, accepted, ran)
            if run_runtime and len(accepted) >= batch_size:
                runtime.run_batch(list(accepted.values()), stats)
                ran.update(accepted)
                accepted.clear()
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                print(f"fuzz.models: {stats.executions} executions in "
                      f"{last_report - start:.0f} s, {stats.findings} findings", file=sys.stderr)
        if run_runtime and accepted:
            runtime.run_batch(list(accepted.values()), stats)
    finally:
        runtime.close()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.models", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--seconds", type=float, help="stop after this long (default 60 "
                        "unless --count is given)")
    parser.add_argument("--count", type=int, help="stop after this many mutants")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=64,
                        help="accepted mutants per sanitized runner build")
    parser.add_argument("--no-runtime", action="store_true",
                        help="only convert (no sanitized builds of accepted mutants)")
    args = parser.parse_args(argv)
    if not args.no_runtime and not (shutil.which("cmake") and shutil.which("cc")):
        print("fuzz.models: error: cmake and a C compiler are needed for the sanitized runs "
              "(or give --no-runtime)", file=sys.stderr)
        return 2
    seconds = args.seconds if args.seconds is not None or args.count else 60.0
    start = time.monotonic()
    try:
        stats = campaign(seconds, args.count, args.seed, args.batch, not args.no_runtime)
    except StageBroken as error:
        print(f"fuzz.models: error: {error}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - start
    for place, count in sorted(stats.places.items(), key=lambda item: -item[1]):
        print(f"fuzz.models: {count} x {place}", file=sys.stderr)
    print(f"fuzz.models: {stats.executions / elapsed:.0f} mutants/s over {elapsed:.0f} s",
          file=sys.stderr)
    print(stats.summary())
    return 1 if stats.findings else 0


if __name__ == "__main__":
    sys.exit(main())
