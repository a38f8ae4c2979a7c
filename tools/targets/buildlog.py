"""Running a build tool with its whole output in a log file, and the one-line errors made from
that log: the first compiler error, or the last line that says what failed."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.workspace import shown

_TAIL_LINES = 20


class FirmwareError(TinyMLError):
    """A tool is missing, or a build or upload failed: the user must act (exit 2)."""

    exit_code = 2


def run_logged(command: list[str], log: Path, *, cwd: Path, env: dict | None = None) -> int:
    """Runs `command` with its stdout and stderr appended to `log`; returns the exit status."""
    with log.open("a", encoding="utf-8") as stream:
        stream.write(f"$ {shlex.join(command)}\n")
        stream.flush()
        try:
            return subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=stream, stderr=subprocess.STDOUT).returncode
        except OSError as error:
            raise FirmwareError(f"cannot run {command[0]}: {error.strerror}") from None


def new_log(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
    return path


def read_log(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def failure(summary: str, log: Path) -> str:
    text = read_log(log)
    print_tail(text, log)
    return (f"{summary}: {first_error_line(text)}; the log's last lines are above, full log: "
            f"{shown(log)}")


def print_tail(text: str, log: Path) -> None:
    lines = text.rstrip("\n").splitlines()[-_TAIL_LINES:]
    print(f"--- last lines of {shown(log)} ---", file=sys.stderr)
    for line in lines:
        print(f"    {line}", file=sys.stderr)


def first_error_line(text: str) -> str:
    # A compiler's first error is the cause; later ones and make's summary follow from it.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("$") or not re.search(r"\berror\b", line, re.IGNORECASE):
            continue
        if line.startswith("CMake Error"):
            # CMake puts the message on the indented lines after "CMake Error at FILE:LINE".
            message = []
            for following in lines[index + 1:]:
                if not following.startswith(" ") or not following.strip():
                    break
                message.append(following.strip())
            return " ".join([line.strip().removesuffix(":"), *message])
        return line.strip()
    return last_line(text)


def last_error_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if re.search(r"Error|Exception|\bfailed\b", line) and not line.startswith("$"):
            return line.strip()
    return last_line(text)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] not in "$#"]
    return lines[-1] if lines else "no output"


def say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def shown_command(command: list[str]) -> str:
    return shlex.join([shown(Path(part)) if os.path.isabs(part) else part for part in command])
