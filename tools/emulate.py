"""Emulated boards: the host port on a pty, the QEMU image on a TCP socket, the Renode model of
the Nano 33 BLE Sense on a TCP socket. Each starts as a process and gives the pyserial URL to
connect to; `tinyml emulate` keeps one running until Ctrl-C, and validation starts several."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tinyml_pipeline.tools import qemu
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.firmware import Firmware

TARGETS = ("qemu", "host", "renode")
RENODE_ENV = "nano33ble_renode"  # the platformio.ini env built for Renode
RENODE_PORT = 3456  # nano33ble.resc's server socket terminal
START_TIMEOUT_S = 30.0


class EmulatorError(InputError):
    """The emulator is missing, or did not come up."""


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_listener(port: int, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(f"{what} exited at start (status {process.returncode})"
                                f"{_stderr_tail(process)}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise EmulatorError(f"{what} did not open port {port} within {START_TIMEOUT_S:g} s")


def _stderr_tail(process: subprocess.Popen) -> str:
    if process.stderr is None:
        return ""
    text = process.stderr.read().decode(errors="replace").strip().splitlines()
    return f": {text[-1]}" if text else ""


class Emulator:
    """One running emulated board. `url` is what open_transport() takes."""

    def __init__(self, target: str, process: subprocess.Popen, url: str):
        self.target, self.process, self.url = target, process, url

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start(target: str, firmware: Firmware, *, imu_replay: Path | None = None,
          image: Path | None = None, quiet: bool = True) -> Emulator:
    """Builds `firmware`'s image when it is missing or stale (CMake decides), or takes `image`
    as it is, starts it, and returns once its link accepts connections."""
    if target not in TARGETS:
        raise EmulatorError(f"unknown emulator {target!r}; choose one of {', '.join(TARGETS)}")
    if target == "renode":
        return _start_renode(firmware)
    if image is None:
        image = firmware.build(target, quiet=quiet)
    elif not Path(image).is_file():
        raise EmulatorError(f"{image}: no such image")
    elif target == "qemu":
        # QEMU would start on any file and the link would just never answer: refuse it here.
        from tinyml_pipeline.tools.elf import read_elf

        read_elf(image)
    if target == "host":
        return _start_host(image, imu_replay)
    return _start_qemu(image, imu_replay)


def _start_host(image: Path, imu_replay: Path | None) -> Emulator:
    argv = [str(image), "--pty"] + (["--imu", str(imu_replay)] if imu_replay else [])
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline().split()
    if len(line) != 2 or line[0] != "pty":
        process.terminate()
        raise EmulatorError(f"the host port did not report its pty (got {' '.join(line)!r})")
    return Emulator("host", process, line[1])


def _start_qemu(image: Path, imu_replay: Path | None) -> Emulator:
    port = _free_tcp_port()
    replay_dir = None
    if imu_replay is not None:
        replay_dir = Path(imu_replay).parent
        if Path(imu_replay).name != qemu.IMU_REPLAY_NAME:
            raise EmulatorError(f"the QEMU image replays a file named {qemu.IMU_REPLAY_NAME}")
    # nodelay: the UART sends a reply byte by byte, and Nagle's algorithm would hold each
    # reply's tail back for the client's delayed ACK (about 40 ms per request).
    serial = f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
    argv = qemu.qemu_command(image, serial=serial, imu_replay_dir=replay_dir)
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _wait_for_listener(port, process, "QEMU")
    return Emulator("qemu", process, f"socket://127.0.0.1:{port}")


def _start_renode(firmware: Firmware) -> Emulator:
    renode = shutil.which("renode")
    if renode is None:
        raise EmulatorError("renode is not on PATH: install Renode (https://renode.io) and build "
                            f"the image with `tinyml firmware build --target {RENODE_ENV}`")
    if RENODE_ENV not in firmware.pio_envs():
        raise EmulatorError(f"{firmware.workspace.platformio_ini} has no [env:{RENODE_ENV}], the "
                            "build Renode runs")
    elf = firmware.target_elf(RENODE_ENV)
    if not elf.is_file():
        raise EmulatorError(f"{elf} is missing: build it with `tinyml firmware build --target "
                            f"{RENODE_ENV}`")
    script = firmware.sources / "renode" / "nano33ble.resc"
    process = subprocess.Popen([renode, "--disable-xwt", "--console", "-e",
                                f"$elf=@{elf}; include @{script}"],
                               cwd=firmware.workspace.root, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for_listener(RENODE_PORT, process, "Renode")
    return Emulator("renode", process, f"socket://127.0.0.1:{RENODE_PORT}")
