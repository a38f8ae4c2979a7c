"""The Cortex-M4 DSP kernel check (kernel_check.c here): built by firmware/CMakeLists.txt
(TINYML_KERNEL_CHECK) on the QEMU port's own start-up, semihosting and linker script, once per
path of dsp.h, and run on QEMU's mps2-an386."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT
from tinyml_pipeline.tools.firmware import FirmwareError

SOURCE = Path(__file__).resolve().with_name("kernel_check.c")
FIRMWARE = REPO_ROOT / "firmware"
TOOLCHAIN_FILE = FIRMWARE / "cmake" / "arm-none-eabi.cmake"
# dsp.h's two Cortex-M4 paths, as CMake names their targets kernel-check-<path>.elf.
DSP_PATHS = ("builtins", "inline-asm")
TOOLS = ("cmake", "arm-none-eabi-gcc", "qemu-system-arm")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def build(directory: Path, jobs: int = 2) -> dict[str, Path]:
    """Configures a qemu tree in `directory` and builds both checks (not the image); returns
    the ELF per DSP path. A failed step raises FirmwareError, as `tinyml firmware build` does:
    the step, the first error line and the log holding the whole output."""
    log = directory / "build.log"
    directory.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    elves = {path: directory / f"kernel-check-{path}.elf" for path in DSP_PATHS}
    steps = (("configure", ["cmake", "-S", str(FIRMWARE), "-B", str(directory),
                            "-DTINYML_TARGET=qemu", f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}",
                            f"-DTINYML_KERNEL_CHECK={SOURCE}"]),
             ("build", ["cmake", "--build", str(directory), "--parallel", str(jobs),
                        "--target", *(elf.name for elf in elves.values())]))
    for step, command in steps:
        with log.open("a", encoding="utf-8") as stream:
            stream.write(f"$ {shlex.join(command)}\n")
            stream.flush()
            code = subprocess.run(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                  stdout=stream, stderr=subprocess.STDOUT).returncode
        if code != 0:
            raise FirmwareError(f"{step} of the M4 kernel check failed (exit {code}): "
                                f"{_first_error(log.read_text(encoding='utf-8'))}; full log: "
                                f"{log}")
    for elf in elves.values():
        if not elf.is_file():
            raise FirmwareError(f"the M4 kernel check built but left no {elf}; does "
                                "firmware/CMakeLists.txt still name it so?")
    return elves


def _first_error(text: str) -> str:
    # The first error is the cause (a compiler's, or CMake's with its message on the next line);
    # later ones follow from it.
    lines = [line.strip() for line in text.splitlines() if not line.startswith("$")]
    for index, line in enumerate(lines):
        if re.search(r"\berror\b", line, re.IGNORECASE):
            if line.startswith("CMake Error") and index + 1 < len(lines):
                return f"{line} {lines[index + 1]}"
            return line
    return next((line for line in reversed(lines) if line), "no output")


def run(elf: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Boots the check; the port's start-up ends QEMU with main's return value, and the check
    writes its verdict with semihosting, which goes to stderr."""
    return subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
                           "-serial", "none", "-semihosting-config", "enable=on,target=native",
                           "-kernel", str(elf)], capture_output=True, text=True, timeout=timeout)
