"""One validation at a time per report directory: a second run on the same --report would
interleave its journal lines with the first one's."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError

LOCK_NAME = ".tinyml-validate.lock"


@contextlib.contextmanager
def report_directory_locked(directory: Path):
    """Holds an exclusive lock on `directory` (created if missing) while the block runs, or
    refuses at once, naming the process that holds it. The kernel drops the lock when that
    process dies, so a killed run never leaves the directory locked."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "?"
            raise InputError(f"{directory} is in use by another tinyml validate (pid {holder}); "
                             f"wait for it to end or give another --report") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)
