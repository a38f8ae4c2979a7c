"""What a figure was measured on: the host, the emulator and the compilers, each as the tool
itself reports its version."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from importlib import metadata


@functools.cache
def describe() -> dict:
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "qemu": _first_line(["qemu-system-arm", "--version"]),
        "arm_gcc": _first_line(["arm-none-eabi-gcc", "--version"]),
        "host_cc": _first_line([os.environ.get("CC", "cc"), "--version"]),
        "tflite_micro": _package_version("tflite_micro"),
        "tensorflow": _package_version("tensorflow"),
    }


def one_line(machine: dict) -> str:
    """The machine in one line, for the head of a report."""
    return (f"{machine['cpu']}, {machine['cpus']} CPUs, {machine['os']}; "
            f"{machine['qemu'] or 'no QEMU'}; {machine['arm_gcc'] or 'no arm-none-eabi-gcc'}; "
            f"host {machine['host_cc'] or 'no C compiler'}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _first_line(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if lines else None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
