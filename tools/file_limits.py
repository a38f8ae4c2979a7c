"""Size and type limits for the files users hand the tools (cards, journals, reports, labels, IMU
recordings): checked before a file is read whole or parsed, so a huge, deep or mistyped file is
refused in one line (InputError, exit 2) instead of exhausting memory or failing deep inside a
command. docs/models.md, "Limits on input files", lists them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError

# Cards and reports are kilobytes; 16 MiB leaves room for a report over a large test set.
MAX_JSON_BYTES = 16 << 20
# One line of a validation journal: a sample's output (at most a few thousand int8 values) or a
# session with its devices' identities.
MAX_JOURNAL_LINE = 1 << 20


def checked_size(path: Path, limit: int, what: str) -> int:
    """The file's size, refused when it is missing, not a file, or over `limit` bytes."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError(f"{path} is missing") from None
    except OSError as error:
        raise InputError(f"{path}: unreadable ({error.strerror})") from None
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    if size > limit:
        raise InputError(f"{path}: {size:,} bytes; {what} is at most {limit:,}")
    return size


def read_bytes(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a file of at most `limit` bytes (checked before reading, and while reading,
    since the file can grow in between)."""
    size = checked_size(path, limit, what)
    try:
        with open(path, "rb") as stream:
            # read(n) allocates n bytes up front: ask for the file's size, not the limit.
            data = stream.read(size + 1)
            if len(data) > size:
                data += stream.read(limit + 1 - len(data))
    except OSError as error:
        raise InputError(f"{path}: unreadable ({error.strerror})") from None
    if len(data) > limit:
        raise InputError(f"{path}: over {limit:,} bytes; {what} is at most {limit:,}")
    return data


def parse_json(text: str | bytes, source: str):
    """JSON, with every way it can fail (syntax, nesting too deep for the parser, bytes that
    are not UTF-8) as one InputError naming `source`."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{source}: not valid JSON ({error.msg} at line {error.lineno})"
                         ) from None
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None
    except RecursionError:
        raise InputError(f"{source}: JSON nested too deeply") from None


def read_json(path: Path, what: str, limit: int = MAX_JSON_BYTES):
    """A JSON file of at most `limit` bytes, parsed."""
    return parse_json(read_bytes(path, limit, what), str(path))


# --- field checks, for values the code indexes or allocates with ------------------------------

def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def need_int(value, source: str, field: str, low: int = 0, high: int | None = None) -> int:
    if not is_int(value) or value < low or (high is not None and value > high):
        bound = f"{low} to {high:,}" if high is not None else f"at least {low}"
        raise InputError(f"{source}: {field} is {_short(value)}; expected an integer {bound}")
    return value


def need_number(value, source: str, field: str, positive: bool = False) -> float:
    if not is_number(value) or (positive and not value > 0):
        kind = "a finite positive number" if positive else "a finite number"
        raise InputError(f"{source}: {field} is {_short(value)}; expected {kind}")
    return value


def need_str(value, source: str, field: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{source}: {field} is {_short(value)}; expected a string")
    return value


def need_shape(value, source: str, field: str, max_elements: int) -> list[int]:
    """A tensor shape: a list of 1 to 6 positive integers whose product is at most
    `max_elements`."""
    if (not isinstance(value, list) or not 1 <= len(value) <= 6
            or not all(is_int(dim) and dim >= 1 for dim in value)):
        raise InputError(f"{source}: {field} is {_short(value)}; expected a list of 1 to 6 "
                         "positive integers")
    if math.prod(value) > max_elements:
        raise InputError(f"{source}: {field} {value} has {math.prod(value):,} elements; at "
                         f"most {max_elements:,}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
