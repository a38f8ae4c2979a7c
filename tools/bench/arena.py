"""TFLM's arena for a model, measured as tools.reference.measure_tflm_arena measures it (the
smallest arena, to 16 bytes, with which TFLM's host interpreter loads and runs the model), but
with every probe in a worker process.

TFLM's host interpreter does not always fail cleanly when the arena is too small: on the
DS-CNN keyword-spotting shape at 4,096 bytes it logs "Failed to allocate tail memory" and then
dies of SIGSEGV, which in-process would end the bench with no message. Here a crashed probe
counts as "does not run" and a fresh worker takes the next one.

    python -m tools.bench.arena MODEL.tflite      # the worker: sizes on stdin, 1 or 0 per line
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.errors import InputError
from tools.reference import ARENA_SEARCH_LIMIT


class _Worker:
    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.process: subprocess.Popen | None = None

    def runs_with(self, arena_size: int) -> bool:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tools.bench.arena", str(self.model_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, cwd=Path(__file__).resolve().parents[2])
        try:
            self.process.stdin.write(f"{arena_size}\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline().strip()
        except (BrokenPipeError, OSError):
            answer = ""
        if answer in ("0", "1"):
            return answer == "1"
        self.close()  # it crashed on this size: TFLM cannot run the model with it
        return False

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None


def measure_tflm_arena(model_path: Path) -> int:
    """The smallest arena in bytes (to 16) with which TFLM loads and runs the model: the same
    search as tools.reference.measure_tflm_arena, crash-proof."""
    worker = _Worker(Path(model_path).resolve())
    try:
        low, high = 0, 1024
        while not worker.runs_with(high):
            low, high = high, high * 2
            if high > ARENA_SEARCH_LIMIT:
                raise InputError(f"{model_path}: TFLM cannot run the model with any arena up "
                                 f"to {ARENA_SEARCH_LIMIT >> 20} MiB")
        while high - low > 16:  # TFLM aligns arena allocations to 16 bytes
            middle = (low + high) // 2
            if worker.runs_with(middle):
                high = middle
            else:
                low = middle
        return high
    finally:
        worker.close()


def _serve(model_path: str) -> int:
    """The worker: one probe per line of stdin, the answer on stdout."""
    from tools.reference import _tflm_runs_with
    from tools.tflite_model import TFLiteModel

    model = TFLiteModel.from_file(model_path)
    for line in sys.stdin:
        print("1" if _tflm_runs_with(model, int(line)) else "0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1]))
