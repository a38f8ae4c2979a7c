"""A worker that probes arena sizes for TFLM's host interpreter, one per line of stdin, and
answers 1 (the model loads and runs) or 0 on stdout. tools.reference runs it in its own process
because the interpreter does not always fail cleanly on a too-small arena: on the DS-CNN
keyword-spotting shape at 4,096 bytes it logs "Failed to allocate tail memory" and then dies of
SIGSEGV, which would take the caller down with it.

    python -m tools.tflm_probe MODEL.tflite
"""

from __future__ import annotations

import sys


def main(model_path: str) -> int:
    from tinyml_pipeline.tools.reference import _tflm_runs_with
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    model = TFLiteModel.from_file(model_path)
    for line in sys.stdin:
        print("1" if _tflm_runs_with(model, int(line)) else "0", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
