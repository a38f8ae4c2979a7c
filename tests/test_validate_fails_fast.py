"""A port problem is reported before TensorFlow is imported: a wrong --port costs no seconds of
import (checked in a fresh interpreter, where nothing has imported it yet)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import sys
from tinyml_pipeline.tools.cli import main
status = main(["-q", "validate", "--model", "digits", "--port", sys.argv[1]])
print(status, "tensorflow" in sys.modules)
"""


def test_a_bad_port_fails_before_tensorflow_is_imported(tmp_path):
    port = str(tmp_path / "no-such-tty")
    done = subprocess.run([sys.executable, "-c", PROBE, port], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert port in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
