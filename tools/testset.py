"""A model's test set: the file a card points to (or `--data` names), read with its size checked
before any array is allocated, and turned into the int8 tensors the device receives.

A test set is an `.npz` holding `x` and optionally `y` (other key names as the card records
them), or an `x` `.npy` with an optional labels `.npy` beside it. The card records each file's
path (relative to the workspace), its sha256 and the float transform applied to `x` before the
model's own normalization and quantization (docs/models.md, "The test set").
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.workspace import Workspace, shown

# Checked from the array headers before reading: larger test sets are split (--shard) or
# subsampled by the user, not loaded into memory whole.
MAX_TEST_BYTES = 2 << 30
MAX_SAMPLES = 10_000_000
# An .npz holds a few arrays; zipfile builds an object per member of the central directory on
# opening, so a directory of millions of members is refused from its end record first.
MAX_NPZ_MEMBERS = 1000
_END_RECORD = struct.Struct("<4s4H2LH")  # signature, disk numbers, entries (disk, total), ...
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk, offset of the zip64 end record
KINDS = ("classification", "regression", "tensors")
METRICS = {"classification": "accuracy", "regression": "mean_abs_error", "tensors": "rmse"}


@dataclass(frozen=True)
class TestArrays:
    x: np.ndarray  # float32 [n, ...], the transform applied
    y: np.ndarray | None
    source: str  # what messages and reports call it


def _check_header(shape: tuple, dtype: np.dtype, source: str,
                  per_sample: int | None = None) -> None:
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InputError(f"{source}: arrays of {dtype} are not tensors (expected numbers)")
    if not shape:
        raise InputError(f"{source}: a single value, not samples (expected an array [n, ...])")
    if any(dim < 0 for dim in shape):
        raise InputError(f"{source}: negative dimension in shape {shape}")
    if shape[0] > MAX_SAMPLES:
        raise InputError(f"{source}: {shape[0]:,} samples; at most {MAX_SAMPLES:,} are read")
    # Inputs become float32 once read, so the larger of the two sizes is what memory holds.
    size = int(np.prod(shape, dtype=object)) * max(dtype.itemsize, 4)
    if size > MAX_TEST_BYTES:
        raise InputError(f"{source}: {size:,} bytes of data; at most {MAX_TEST_BYTES:,} are "
                         "read at once (split it, or use --limit)")
    if per_sample is not None and int(np.prod(shape[1:], dtype=object)) != per_sample:
        raise InputError(f"{source}: samples of shape {tuple(shape[1:])} do not fit the "
                         f"model's input ({per_sample} values each)")


def _read_header(stream, source: str) -> tuple[tuple, bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(stream)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        return read_header(stream)
    except (ValueError, OSError, SyntaxError, TypeError, EOFError) as error:
        raise InputError(f"{source}: not a readable .npy array ({error})") from None


def _read_npy(stream, source: str, per_sample: int | None = None,
              declared_size: int | None = None, rows: int | None = None) -> np.ndarray:
    """`declared_size`: the file's size, or an .npz member's uncompressed size from its zip
    entry, compared with what its header needs before anything is read or decompressed.
    `rows`: read only the first rows samples (a C-order array stores them first; a
    Fortran-order one is read whole)."""
    shape, fortran, dtype = _read_header(stream, source)
    stored = int(np.prod(shape, dtype=object)) * dtype.itemsize
    shape = _first_rows(shape, fortran, rows)
    _check_header(shape, dtype, source, per_sample)
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared_size is not None and declared_size - stream.tell() < stored:
        raise InputError(f"{source}: truncated (it holds {declared_size:,} bytes, its header "
                         f"needs {stream.tell() + stored:,})")
    raw = stream.read(needed)
    if len(raw) != needed:
        raise InputError(f"{source}: truncated ({len(raw)} of {needed} bytes)")
    array = np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C")
    return np.ascontiguousarray(array)


def _zip_member_count(stream) -> int | None:
    """The member count a zip's end-of-central-directory record declares (its zip64 record's
    when it has one), or None when there is no such record (zipfile then refuses the file)."""
    size = stream.seek(0, os.SEEK_END)
    tail_start = max(0, size - (_END_RECORD.size + 0xFFFF))  # the record ends in a comment
    stream.seek(tail_start)
    tail = stream.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _END_RECORD.size > len(tail):
        return None
    count = _END_RECORD.unpack_from(tail, at)[4]
    locator = at - _ZIP64_LOCATOR.size
    if count == 0xFFFF and locator >= 0 and tail[locator:locator + 4] == b"PK\x06\x07":
        stream.seek(_ZIP64_LOCATOR.unpack_from(tail, locator)[2] + 32)
        raw = stream.read(8)
        count = struct.unpack("<Q", raw)[0] if len(raw) == 8 else None
    return count


def _with_stream(path: Path, key: str | None, read):
    """Calls read(stream, source, declared_size) on the .npy, or the .npz member `key`."""
    path = Path(path)
    source = f"{shown(path)}[{key}]" if key else shown(path)
    if not path.is_file():
        raise InputError(f"{shown(path)} is missing")
    try:
        if path.suffix == ".npz" or zipfile.is_zipfile(path):
            with _opened_npz(path) as archive:
                members = {name.removesuffix(".npy"): name for name in archive.namelist()}
                if key not in members:
                    raise InputError(f"{shown(path)} has no array {key!r} (it has "
                                     f"{', '.join(sorted(members)) or 'none'})")
                info = archive.getinfo(members[key])
                with archive.open(info) as stream:
                    return read(stream, source, info.file_size)
        with open(path, "rb") as stream:
            return read(stream, source, os.fstat(stream.fileno()).st_size)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError,
            zlib.error) as error:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        raise InputError(f"{source}: unreadable ({error})") from None


def array_header(path: Path, key: str | None = None,
                 rows: int | None = None) -> tuple[tuple, np.dtype]:
    """The stored shape and dtype of a .npy, or of `key` of a .npz, from its header alone,
    checked as read_array with the same `rows` checks it."""
    def read(stream, source, declared_size):
        stored, fortran, dtype = _read_header(stream, source)
        _check_header(_first_rows(stored, fortran, rows), dtype, source)
        return tuple(stored), dtype

    return _with_stream(path, key, read)


def _first_rows(shape: tuple, fortran: bool, rows: int | None) -> tuple:
    """The shape read when only `rows` samples are wanted (all of a Fortran-order array)."""
    if rows is None or not shape or fortran or rows >= shape[0]:
        return tuple(shape)
    return (max(rows, 0), *shape[1:])


def read_array(path: Path, key: str | None = None, per_sample: int | None = None,
               rows: int | None = None) -> np.ndarray:
    """One array of a .npy, or `key` of a .npz, with its header checked first; `per_sample`:
    the values each sample must hold (the model's input size), when known; `rows`: at most
    this many samples are read (the limits apply to those)."""
    return _with_stream(path, key, lambda stream, source, declared_size: _read_npy(
        stream, source, per_sample, declared_size, rows))


def _opened_npz(path: Path) -> zipfile.ZipFile:
    with open(path, "rb") as stream:
        count = _zip_member_count(stream)
    if count is not None and count > MAX_NPZ_MEMBERS:
        raise InputError(f"{shown(path)}: {count:,} members; an .npz of arrays holds at most "
                         f"{MAX_NPZ_MEMBERS:,}")
    return zipfile.ZipFile(path)


def npz_keys(path: Path) -> list[str]:
    try:
        with _opened_npz(path) as archive:
            return [name.removesuffix(".npy") for name in archive.namelist()]
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(f"{shown(path)}: not a .npz archive ({error})") from None


def describe_file(path: Path, workspace: Workspace, key: str | None,
                  model_dir: Path | None = None) -> dict:
    """A test file as a card records it: relative to the model directory when it lies in it
    (the directory then moves as one piece), else relative to the workspace."""
    path = Path(path).resolve()
    if model_dir is not None and path.parent == Path(model_dir).resolve():
        return {"path": path.name, "base": "model", "key": key, "sha256": sha256_of(path)}
    return {"path": workspace.relative(path), "base": "workspace", "key": key,
            "sha256": sha256_of(path)}


def locate(path: Path) -> dict[str, tuple[Path, str | None]]:
    """The x and y arrays of a user's test file: an .npz's `x` and `y`, or an `x` .npy and a
    `y` .npy beside it (`NAME_x.npy` / `NAME_y.npy`, or `x.npy` / `y.npy`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{shown(path)} is missing")
    if path.suffix == ".npz":
        keys = npz_keys(path)
        if "x" not in keys:
            raise InputError(f"{shown(path)} has no array 'x' (it has {', '.join(keys)}); a "
                             "test set holds x and optionally y")
        return {"x": (path, "x")} | ({"y": (path, "y")} if "y" in keys else {})
    if path.suffix != ".npy":
        raise InputError(f"{shown(path)}: a test set is an .npz (x, y) or an x .npy")
    found = {"x": (path, None)}
    stem = path.stem
    if stem == "x" or stem.endswith("_x"):
        labels = path.with_name(stem[:-1] + "y.npy")
        if labels.is_file():
            found["y"] = (labels, None)
    return found


def describe(path: Path, workspace: Workspace, model_dir: Path,
             divide_by: float | None = None) -> dict:
    """The card's "test_set" entry for a user's test file. A file outside the workspace is
    copied into the model directory first, so that the card never points outside both."""
    path = Path(path)
    if not _inside(path, workspace.root) and not _inside(path, model_dir):
        files = locate(path)
        copies = {Path(file): Path(model_dir) / (Path(file).name if Path(file).name.startswith(
            "test") else f"test_{Path(file).name}") for file, _ in files.values()}
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        for source, target in copies.items():
            if source.stat().st_size > MAX_TEST_BYTES:
                raise InputError(f"{shown(source)}: over {MAX_TEST_BYTES:,} bytes")
            atomic_write_bytes(target, source.read_bytes())
        path = copies[Path(files["x"][0])]
    files = locate(path)
    shape, _ = array_header(*files["x"])  # the count, without reading the samples
    entry = {name: describe_file(file, workspace, key, model_dir)
             for name, (file, key) in files.items()}
    return {"x": entry["x"], "y": entry.get("y"), "count": int(shape[0]),
            "transform": {"divide_by": divide_by}}


def _inside(path: Path, directory: Path) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
        return True
    except ValueError:
        return False


def _recorded_path(described: dict, workspace: Workspace, model_dir: Path) -> Path:
    path = Path(described["path"])
    if path.is_absolute():
        return path
    return (Path(model_dir) if described.get("base") == "model" else workspace.root) / path


def load(entry: dict, workspace: Workspace, model_dir: Path, override: Path | None = None,
         limit: int | None = None, per_sample: int | None = None) -> TestArrays:
    """The test set of a card's entry (files checked against their sha256), or the file
    `override` (--data) read the same way. `per_sample`: the model's input size, checked
    against the files' headers before their data is read."""
    if override is not None:
        files = locate(override)
        source = shown(override)
    else:
        if not entry or not entry.get("x"):
            raise InputError("the card names no test set: give --data FILE, or write the card "
                             "with `tinyml card MODEL.tflite --test FILE`")
        files = {}
        for name in ("x", "y"):
            described = entry.get(name)
            if not described:
                continue
            path = _recorded_path(described, workspace, model_dir)
            if not path.is_file():
                raise InputError(f"test set file {shown(path)} is missing (the card names "
                                 f"{described['path']})")
            if described.get("sha256") and sha256_of(path) != described["sha256"]:
                raise InputError(f"test set file {shown(path)} differs from the one the card "
                                 "records (sha256 mismatch); give --data to use it anyway")
            files[name] = (path, described.get("key"))
        source = entry["x"]["path"]
    x_shape, x_dtype = array_header(*files["x"], rows=limit)
    if "y" in files:
        y_shape, y_dtype = array_header(*files["y"], rows=limit)
        if y_shape[0] != x_shape[0]:
            raise InputError(f"{source}: {x_shape[0]} inputs but {y_shape[0]} labels")
        read = min(x_shape[0], limit) if limit is not None else x_shape[0]
        both = read * (int(np.prod(x_shape[1:], dtype=object)) * max(x_dtype.itemsize, 4)
                       + int(np.prod(y_shape[1:], dtype=object)) * max(y_dtype.itemsize, 4))
        if both > MAX_TEST_BYTES:
            raise InputError(f"{source}: {both:,} bytes of inputs and labels; at most "
                             f"{MAX_TEST_BYTES:,} are read at once (split it, or use --limit)")
    x = read_array(*files["x"], per_sample=per_sample, rows=limit)
    y = read_array(*files["y"], rows=limit) if "y" in files else None
    if not len(x):
        raise InputError(f"{source}: the test set is empty")
    divide_by = (entry or {}).get("transform", {}).get("divide_by")
    x = x.astype(np.float32)
    if divide_by:
        x = x / np.float32(divide_by)
    return TestArrays(x=x, y=y, source=source)


def sample_size(input_shape: tuple) -> int:
    """The values one sample of a model's input holds (its batch dimension dropped)."""
    return int(np.prod(input_shape[1:], dtype=np.int64))


def shaped_for(x: np.ndarray, input_shape: tuple, source: str) -> np.ndarray:
    """Samples reshaped to the model's input (batch dimension dropped); the element count of a
    sample must match, so (n, 28, 28) feeds a (1, 28, 28, 1) model."""
    per_sample = sample_size(input_shape)
    if x.ndim < 1 or int(np.prod(x.shape[1:], dtype=np.int64)) != per_sample:
        raise InputError(f"{source}: samples of shape {tuple(x.shape[1:])} do not fit the "
                         f"model's input {tuple(input_shape)} ({per_sample} values each)")
    return x.reshape(len(x), *input_shape[1:])
