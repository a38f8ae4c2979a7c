"""Exceptions that the CLI turns into one-line messages and exit codes (1 a check failed, 2 bad
usage or bad input)."""


class TinyMLError(Exception):
    """Base class: a problem the user can act on, reported without a traceback."""

    exit_code = 2


class InputError(TinyMLError):
    """Bad input: a missing or altered file, a corrupt model, an unknown name."""

    exit_code = 2


class ModelError(InputError):
    """A .tflite that is malformed or that the runtime cannot run."""

    exit_code = 2


class CheckFailed(TinyMLError):
    """The work ran, but a check it was asked to make did not pass."""

    exit_code = 1
