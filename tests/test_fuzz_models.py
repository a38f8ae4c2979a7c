"""The model mutation fuzzer (fuzz/models.py): a bounded smoke run finds nothing, and its oracle
has teeth (an exception, a hang, a sanitizer report and a bad exit are each a finding)."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from fuzz import models as fuzz_models
from fuzz.mutate import mutate
from tests.conftest import MODELS_DIR, REPO_ROOT
from tinyml_pipeline.tools.errors import ModelError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

NEEDS_HOST = shutil.which("cmake") is None or shutil.which("cc") is None
SUMMARY = re.compile(r"^models: (\d+) executions, (\d+) findings \(refused (\d+), accepted (\d+), "
                     r"exceptions (\d+), hangs (\d+), sanitizer (\d+), build failures (\d+); "
                     r"(\d+) accepted mutants run under ASan/UBSan\)$")


@pytest.mark.skipif(NEEDS_HOST, reason="cmake and a C compiler are needed for the sanitized runs")
def test_a_smoke_run_finds_nothing():
    """400 mutants (a few seconds), the accepted ones built into one sanitized runner."""
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "fuzz.models", "--count", "400", "--seed",
                             "15", "--batch", "200"], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    summary = result.stdout.strip().splitlines()[-1]
    match = SUMMARY.match(summary)
    assert match, result.stdout + result.stderr
    executions, findings, refused, accepted = (int(match[i]) for i in range(1, 5))
    assert executions == 400 and refused + accepted + int(match[5]) + int(match[6]) == 400
    assert accepted > 0 and int(match[9]) > 0  # the runtime stage ran
    assert findings == 0 and result.returncode == 0, result.stderr
    assert time.monotonic() - start < 60


def test_the_mutator_is_seeded_and_changes_the_model():
    seed = (MODELS_DIR / "digits" / "model.tflite").read_bytes()
    first = [mutate(seed, random.Random(i)) for i in range(20)]
    second = [mutate(seed, random.Random(i)) for i in range(20)]
    assert first == second
    assert sum(data != seed for data, _ in first) >= 15


def _check(monkeypatch, tmp_path, convert):
    monkeypatch.setattr(fuzz_models, "OUT", tmp_path)
    monkeypatch.setattr(fuzz_models, "convert", convert)
    stats, accepted = fuzz_models.Stats(), {}
    fuzz_models.signal.signal(fuzz_models.signal.SIGALRM, fuzz_models._alarm)
    fuzz_models.check_mutant(b"mutant", "label", stats, accepted, set())
    return stats


def test_an_exception_other_than_a_refusal_is_a_finding(monkeypatch, tmp_path):
    def broken(data, source):
        raise IndexError("list index out of range")

    stats = _check(monkeypatch, tmp_path, broken)
    assert (stats.exceptions, stats.findings) == (1, 1)
    assert any("IndexError" in p for p in stats.places)
    saved = list(tmp_path.glob("exception-*.tflite"))
    assert len(saved) == 1 and saved[0].read_bytes() == b"mutant"


def test_a_refusal_is_not_a_finding(monkeypatch, tmp_path):
    def refuse(data, source):
        raise ModelError("bad")

    stats = _check(monkeypatch, tmp_path, refuse)
    assert (stats.refused, stats.findings) == (1, 0)


def test_running_past_the_limit_is_a_hang(monkeypatch, tmp_path):
    monkeypatch.setattr(fuzz_models, "CONVERT_LIMIT_S", 0.2)

    def endless(data, source):
        while True:
            time.sleep(0.01)

    stats = _check(monkeypatch, tmp_path, endless)
    assert (stats.hangs, stats.findings) == (1, 1)


@pytest.mark.parametrize("script, expected", [
    ("echo 'x.c:3:5: runtime error: shift exponent 40' >&2; exit 1", "sanitizer report"),
    ("echo 'ERROR: AddressSanitizer: heap-buffer-overflow' >&2; exit 1", "sanitizer report"),
    ("exit 3", "exit 3"),
    ("head -c 1 /dev/zero", "output bytes"),  # too little output
])
def test_the_runtime_stage_flags_bad_runs(monkeypatch, tmp_path, script, expected):
    monkeypatch.setattr(fuzz_models, "OUT", tmp_path)
    runner = tmp_path / "runner"
    runner.write_text(f"#!/bin/sh\ncat > /dev/null\n{script}\n")
    runner.chmod(0o755)
    model = TFLiteModel.from_file(MODELS_DIR / "linear" / "model.tflite")
    stats = fuzz_models.Stats()
    stage = fuzz_models.RuntimeStage(np.random.default_rng(0))
    try:
        stage._run(runner, "m0000", b"mutant", "label", model, stats)
    finally:
        stage.close()
    assert (stats.sanitizer, stats.findings) == (1, 1) and len(stats.places) == 1
    assert expected in next(tmp_path.glob("runtime-*.txt")).read_text()


def test_a_build_that_fails_for_every_model_stops_the_campaign(monkeypatch, tmp_path):
    """A broken set-up is one error, not a build-failure finding for every accepted mutant."""
    from tinyml_pipeline.tools.errors import InputError

    def no_build(self, models):
        raise InputError("cmake exploded")

    monkeypatch.setattr(fuzz_models.RuntimeStage, "_build", no_build)
    model = TFLiteModel.from_file(MODELS_DIR / "linear" / "model.tflite")
    stage = fuzz_models.RuntimeStage(np.random.default_rng(0))
    try:
        with pytest.raises(fuzz_models.StageBroken, match="models/linear: cmake exploded"):
            stage.run_batch([(b"a", "a", model), (b"b", "b", model)], fuzz_models.Stats())
    finally:
        stage.close()


def test_the_one_model_whose_sources_do_not_build_is_the_finding(monkeypatch, tmp_path):
    monkeypatch.setattr(fuzz_models, "OUT", tmp_path)
    path = MODELS_DIR / "linear" / "model.tflite"
    good = [TFLiteModel.from_file(path) for _ in range(4)]
    bad = TFLiteModel.from_file(path)
    runner = tmp_path / "runner"  # one linear output byte per sample
    runner.write_text(f"#!/bin/sh\ncat > /dev/null\nhead -c {fuzz_models.SAMPLES} /dev/zero\n")
    runner.chmod(0o755)

    def build(self, models):
        from tinyml_pipeline.tools.errors import InputError

        if any(model is bad for _, model in models):
            raise InputError("error: invalid suffix on integer constant")
        return runner

    monkeypatch.setattr(fuzz_models.RuntimeStage, "_build", build)
    stats = fuzz_models.Stats()
    stage = fuzz_models.RuntimeStage(np.random.default_rng(0))
    batch = [(f"good{i}".encode(), f"good{i}", m) for i, m in enumerate(good[:2])]
    batch += [(b"bad", "bad", bad)] + [(f"good{i}".encode(), f"good{i}", good[i])
                                      for i in (2, 3)]
    try:
        stage.run_batch(batch, stats)
    finally:
        stage.close()
    assert (stats.build_failures, stats.runtime_runs, stats.findings) == (1, 4, 1)
    assert [p.read_bytes() for p in tmp_path.glob("build-*.tflite")] == [b"bad"]
