"""Console helpers shared by the layers above."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Silence what native code writes to fd 2 (TFLM logs every failed allocation there; the
    TFLite converter prints its settings)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow up front without its C++ start-up lines: they are printed before
    logging is set up, so no setting stops them. A failing import still raises."""
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
