"""The QEMU command line for the mps2-an386 firmware image (firmware/boards/qemu_mps2_an386).

`-icount shift=7` makes every executed instruction advance QEMU's virtual clock by exactly
128 ns, which is what the image's cost counter relies on: board_cycles() then counts executed
instructions (7,812,500 per virtual second), deterministically. Semihosting lets the image read
an IMU replay file from the host and lets a fault end QEMU with a non-zero status.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError

QEMU_BINARY = "qemu-system-arm"
QEMU_MACHINE = "mps2-an386"
ICOUNT_SHIFT = 7  # 2**7 ns of virtual time per instruction
INSTRUCTIONS_PER_SECOND = 10**9 // 2**ICOUNT_SHIFT  # the image's cost_hz
# The replay file the image opens when it is given a directory (format: tools/imu_replay.py).
IMU_REPLAY_NAME = "imu_replay.bin"
# argv[0] the image sees on its semihosting command line; it looks for " imu=PATH" and
# " batch=DIR" after it.
_PROGRAM_NAME = "tinyml-qemu"


def find_qemu() -> str:
    """Path of qemu-system-arm, or InputError saying how to get it."""
    path = shutil.which(QEMU_BINARY)
    if path is None:
        raise InputError(f"{QEMU_BINARY} is not on PATH: install QEMU's Arm system emulator "
                         f"(Debian/Ubuntu: apt install qemu-system-arm; macOS: brew install qemu)")
    return path


def _option_value(text: str) -> str:
    """QEMU's -option key=value,key=value syntax: a literal comma is written twice."""
    return text.replace(",", ",,")


def qemu_command(elf: Path, *, serial: str = "stdio",
                 imu_replay_dir: Path | None = None,
                 batch_dir: Path | None = None) -> list[str]:
    """The argv that boots `elf` with UART0 on `serial` (any -serial backend: "stdio",
    "tcp:127.0.0.1:4444,server=on,wait=off", "pty", "null", ...). With `imu_replay_dir`, the
    image replays imu_replay_dir/imu_replay.bin for the live and capture modes; without it, it
    looks for imu_replay.bin in QEMU's working directory. With `batch_dir`, the image runs the
    batch in that directory instead of the protocol and exits (tools/qemu_batch.py; UART0 then
    carries nothing, so pass serial="null")."""
    if imu_replay_dir is not None and batch_dir is not None:
        # Each key takes the rest of the command line as its path, so only one can be given.
        raise ValueError("qemu_command takes imu_replay_dir or batch_dir, not both")
    semihosting = f"enable=on,target=native,arg={_PROGRAM_NAME}"
    if imu_replay_dir is not None:
        replay = Path(imu_replay_dir).resolve() / IMU_REPLAY_NAME
        semihosting += f",arg=imu={_option_value(str(replay))}"
    if batch_dir is not None:
        semihosting += f",arg=batch={_option_value(str(Path(batch_dir).resolve()))}"
    return [find_qemu(), "-M", QEMU_MACHINE, "-nographic", "-monitor", "none",
            "-icount", f"shift={ICOUNT_SHIFT}",
            "-semihosting-config", semihosting,
            "-kernel", str(elf), "-serial", serial]
