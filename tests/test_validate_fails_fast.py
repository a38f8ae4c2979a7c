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


def test_the_first_hello_waits_for_timeout_on_a_silent_port(tmp_path):
    import os
    import time

    from tests.conftest import WORKSPACE
    from tinyml_pipeline.tools.framing import ProtocolError
    from tinyml_pipeline.tools.validation.links import open_links

    controller, follower = os.openpty()  # a port where nothing answers
    try:
        began = time.monotonic()
        try:
            open_links(WORKSPACE, ports=[os.ttyname(follower)], timeout=0.5)
        except ProtocolError as error:
            message = str(error)
        else:
            raise AssertionError("a silent port answered HELLO")
        assert time.monotonic() - began < 3.0  # not the emulator's start-up allowance
        assert "no answer to HELLO within 0.5 s" in message
    finally:
        os.close(controller)
        os.close(follower)
