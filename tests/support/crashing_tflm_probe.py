"""tools/tflm_probe.py, except that it dies of SIGSEGV on arenas under 8 KiB, as TFLM's host
interpreter does on some models with a too-small arena."""

import os
import signal
import sys

from tinyml_pipeline.tools.reference import _tflm_runs_with
from tinyml_pipeline.tools.tflite_model import TFLiteModel

if __name__ == "__main__":
    model = TFLiteModel.from_file(sys.argv[1])
    for line in sys.stdin:
        if int(line) < 8192:
            os.kill(os.getpid(), signal.SIGSEGV)
        print("1" if _tflm_runs_with(model, int(line)) else "0", flush=True)
