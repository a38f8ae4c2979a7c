"""Emulated boards start, give a URL that pyserial opens, and stop; Renode's absence is one
clear error."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import FIRMWARE, REPO_ROOT
from tinyml_pipeline.tools import emulate
from tinyml_pipeline.tools.device import Device
from tinyml_pipeline.tools.transport import open_transport

NEEDS = {"host": ("cmake", "cc"), "qemu": ("cmake", "arm-none-eabi-gcc", "qemu-system-arm")}


@pytest.mark.parametrize("target", ["host", "qemu"])
def test_emulator_serves_the_protocol_at_its_url(target):
    missing = [tool for tool in NEEDS[target] if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    with emulate.start(target, FIRMWARE) as emulator:
        for _ in range(2):  # a second client after the first one left
            with Device(open_transport(emulator.url), timeout=10) as device:
                assert device.hello().board == {"host": "host", "qemu": "qemu-mps2-an386"}[target]
    assert not emulator.running()


def test_renode_missing_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(emulate.EmulatorError, match="renode is not on PATH"):
        emulate.start("renode", FIRMWARE)


def test_tinyml_emulate_prints_the_url_and_stops_on_ctrl_c():
    if shutil.which("cmake") is None:
        pytest.skip("cmake not installed")
    process = subprocess.Popen([sys.executable, "-m", "tinyml_pipeline.tools.cli", "emulate",
                                "--target", "host"],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        url = process.stdout.readline().strip()
        with Device(open_transport(url), timeout=10) as device:
            assert device.hello().board == "host"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert "stopping the host emulator" in process.stderr.read()


@pytest.mark.parametrize("content, expected", [(None, "no such image"),
                                               (b"#!/bin/sh\n", "not an ELF file")])
def test_emulate_image_that_is_missing_or_not_an_elf_is_one_line(tmp_path, content, expected):
    image = tmp_path / "own.elf"
    if content is not None:
        image.write_bytes(content)
    done = subprocess.run([sys.executable, "-m", "tinyml_pipeline.tools.cli", "emulate",
                           "--target", "qemu", "--image", str(image)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not done.stdout


def test_emulate_runs_the_image_given(tmp_path):
    missing = [tool for tool in NEEDS["qemu"] if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
    image = tmp_path / "own.elf"
    shutil.copyfile(FIRMWARE.build("qemu"), image)
    with emulate.start("qemu", FIRMWARE, image=image) as emulator:
        assert str(image) in emulator.process.args
        with Device(open_transport(emulator.url), timeout=10) as device:
            assert device.hello().board == "qemu-mps2-an386"
