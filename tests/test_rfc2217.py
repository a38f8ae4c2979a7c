"""A board on another host: `tinyml validate --port rfc2217://...` through pyserial's RFC 2217
server (tests/support/rfc2217_bridge.py) in front of the host port's pty."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import FIRMWARE
from tests.support.rfc2217_bridge import Rfc2217Bridge
from tinyml_pipeline.tools import emulate
from tinyml_pipeline.tools.cli import main


def test_validate_through_an_rfc2217_server_passes(tmp_path, capsys):
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("cmake and cc not installed (scripts/install-system-deps.sh installs them)")
    with emulate.start("host", FIRMWARE) as board:
        bridge = Rfc2217Bridge(board.url)
        try:
            status = main(["-q", "validate", "--model", "linear", "--port", bridge.url,
                           "--limit", "30", "--report", str(tmp_path)])
        finally:
            bridge.close()
    captured = capsys.readouterr()
    out = captured.out
    assert status == 0, out + captured.err
    assert out.strip().splitlines()[-1].startswith("TOTAL 1 model, 30 samples: 30/30 exact")
    report = json.loads((tmp_path / "linear" / "report.json").read_text())
    assert report["firmware"][0]["link"] == bridge.url
