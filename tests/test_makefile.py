"""The Makefile's set-up refuses a Python other than 3.11 in one line, before it touches .venv."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def make():
    found = shutil.which("make")
    if found is None:
        pytest.skip("make is not installed")
    return found


def _check(make, python: str) -> subprocess.CompletedProcess:
    return subprocess.run([make, "-s", "-C", str(REPO_ROOT), "check-python", f"PYTHON={python}"],
                          capture_output=True, text=True)


def test_python_3_11_passes(make):
    if sys.version_info[:2] != (3, 11):
        pytest.skip("the tests run on another Python than 3.11")
    assert _check(make, sys.executable).returncode == 0


def test_another_python_is_refused_in_one_line(make, tmp_path):
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\necho 3.12\n")
    fake.chmod(0o755)
    for python in (str(fake), str(tmp_path / "missing")):
        result = _check(make, python)
        assert result.returncode != 0
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "needs Python 3.11" in errors[0], result.stderr
        assert "PYTHON=/path/to/python3.11" in errors[0]
