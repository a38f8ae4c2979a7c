"""The device core's libFuzzer harnesses (firmware/fuzz/, fuzz/device.py) build from the
firmware's CMake and run a few seconds each without a finding: no sanitizer report, no crash,
no malformed or missing reply. Skipped only where clang or its libFuzzer runtime is missing,
and never under CI (which installs them: scripts/install-system-deps.sh)."""

import os
import re
import subprocess
import sys

import pytest

from fuzz import device
from tests.conftest import REPO_ROOT

SMOKE_SECONDS = 4


@pytest.fixture(scope="module")
def build_dir():
    try:
        return device.build()
    except device.Unavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the device fuzzers: {error}")
        pytest.skip(str(error))


@pytest.mark.parametrize("target", device.TARGETS)
def test_seed_corpus_runs_clean(build_dir, target):
    """Every committed seed, once: what a regression in the core trips first."""
    seeds = device.CORPUS / f"device_{target}"
    assert len(list(seeds.iterdir())) >= 5
    result = subprocess.run([str(build_dir / f"fuzz-device-{target}"), "-runs=0", str(seeds)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.parametrize("target", device.TARGETS)
def test_smoke_run_finds_nothing(build_dir, target):
    result = subprocess.run([sys.executable, "-m", "fuzz.device", "--seconds", str(SMOKE_SECONDS),
                             "--target", target], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=SMOKE_SECONDS + 180)
    summary = re.fullmatch(rf"device_{target}: (\d+) executions, (\d+) findings",
                           result.stdout.strip())
    assert summary is not None, result.stdout + result.stderr[-4000:]
    assert int(summary.group(2)) == 0 and result.returncode == 0, result.stderr[-6000:]
    assert int(summary.group(1)) > 1000  # it really ran: thousands a second here
