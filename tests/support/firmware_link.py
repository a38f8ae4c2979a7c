"""Running a firmware image as a process that speaks the protocol on stdin and stdout (the host
port, or QEMU with -serial stdio), and what the tests compare its answers with."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from pathlib import Path

import numpy as np

from tests.conftest import MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools.device import Device, PipeTransport
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.reference import TFLMRunner


@contextlib.contextmanager
def device_process(argv: list[str], timeout: float = 10.0, cwd: Path | None = None,
                   env: dict | None = None):
    """A Device over a process's pipes; yields (device, process). On exit the pipes close, which
    ends the host port within a moment; QEMU, which runs on, is terminated."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=cwd, env=env)
    try:
        with Device(PipeTransport(process), timeout=timeout) as device:
            yield device, process
    finally:
        if process.poll() is None:
            try:
                process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(timeout=5)


def committed_sha256(name: str) -> str:
    return hashlib.sha256((MODELS_DIR / name / "model.tflite").read_bytes()).hexdigest()


def first_test_input(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The first int8 test input of a committed model and TFLM's host output for it."""
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / name, limit=1)
    inputs = test.inputs
    return inputs[0], TFLMRunner(model).invoke(inputs[0])
