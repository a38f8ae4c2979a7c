"""The per-sample results of a validation, one JSON object per line, written as they arrive so
that an interrupted run keeps what it measured and `--resume` carries on from it.

Lines, in order: a "run" line naming the model (sha256) and the test set size; then, for each
session (the first run and every resume), a "session" line with the devices' identities and the
"sample" lines it produced, and an "end" line when it stopped (its reason and streaming time).
A line cut off by a kill is dropped on resume.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.file_limits import MAX_JOURNAL_LINE, is_int, is_number

FORMAT_VERSION = 1
# A run is resumed a handful of times; more sessions than this is not a journal this wrote.
MAX_SESSIONS = 100_000
# The most samples a run line may announce (tools/testset.py reads at most this many).
MAX_SAMPLES = 10_000_000


def read_lines(path: Path, advice: str) -> tuple[list, int]:
    """The complete lines of a journal, parsed, and the byte length they take (a last line
    without its newline is left out: a kill cut it off). Each line is at most MAX_JOURNAL_LINE
    bytes, read one at a time, so a file without newlines is refused without being held whole;
    the first line must be a run line."""
    lines, complete = [], 0
    try:
        with open(path, "rb") as stream:
            while raw := stream.readline(MAX_JOURNAL_LINE + 1):
                if not raw.endswith(b"\n"):
                    if len(raw) > MAX_JOURNAL_LINE:
                        raise InputError(f"{path}: line {len(lines) + 1} is over "
                                         f"{MAX_JOURNAL_LINE:,} bytes: not a validation journal; "
                                         f"move it away or {advice}")
                    break
                complete += len(raw)
                if raw.strip():
                    lines.append(_parsed(raw, path, len(lines) + 1, advice))
                    if len(lines) == 1:
                        _check_run_line(lines[0], path, advice)
    except OSError as error:
        raise InputError(f"{path}: {error.strerror}") from None
    if not lines:
        raise InputError(f"{path}: not a validation journal; move it away or {advice}")
    return lines, complete


def _parsed(raw: bytes, path: Path, number: int, advice: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        problem = error.msg
    except UnicodeDecodeError:
        problem = "not UTF-8"
    except RecursionError:
        problem = "nested too deeply"
    raise InputError(f"{path}: not a validation journal (line {number}: {problem}); move it "
                     f"away or {advice}")


def _check_run_line(line, path: Path, advice: str) -> None:
    if not isinstance(line, dict) or line.get("kind") != "run":
        raise InputError(f"{path}: not a validation journal; move it away or {advice}")
    samples = line.get("samples")
    if not is_int(samples) or not 0 <= samples <= MAX_SAMPLES:
        raise InputError(f"{path}: its run line has samples {samples!r}; expected 0 to "
                         f"{MAX_SAMPLES:,}")
    shard = line.get("shard")
    if shard is not None and not (
            isinstance(shard, dict) and is_int(shard.get("index")) and is_int(shard.get("count"))
            and 1 <= shard["index"] <= shard["count"] <= MAX_SAMPLES):
        raise InputError(f"{path}: its run line has shard {shard!r}; expected index and count "
                         f"with 1 <= index <= count <= {MAX_SAMPLES:,}")


def check_sample(line: dict, source: str, width: int | None = None,
                 dtype: np.dtype | type = np.int8, type_name: str | None = None) -> None:
    """The fields the report builds on: `width` output values (when known) of the model's output
    type `dtype` (int8, or int16 for a 16x8 model; `type_name` names it in the error when the
    check is looser than one type), cost, micros and retries."""
    output = line.get("output")
    limits = np.iinfo(dtype)
    if (not isinstance(output, list) or (width is not None and len(output) != width)
            or not all(is_int(v) and limits.min <= v <= limits.max for v in output)):
        size = f"{width} " if width is not None else ""
        raise InputError(f"{source}: output is not a list of {size}"
                         f"{type_name or np.dtype(dtype).name} values")
    _need_counts(line, ("cost", "micros", "retries"), source)
    if not isinstance(line.get("exact"), bool):
        raise InputError(f"{source}: exact is {line.get('exact')!r}; expected true or false")


def check_session(line: dict, source: str) -> None:
    """A session line as the report reads it: jobs, and links that are objects naming their
    cost unit."""
    _need_counts(line, ("jobs",), source)
    links = line.get("links")
    if not isinstance(links, list) or not all(
            isinstance(link, dict) and isinstance(link.get("cost_unit"), str) for link in links):
        raise InputError(f"{source}: links is not a list of link objects with a cost_unit")


def check_end(line: dict, source: str) -> None:
    """An end line as the report reads it: samples, bytes_sent and seconds."""
    _need_counts(line, ("samples", "bytes_sent"), source)
    seconds = line.get("seconds")
    if not (is_number(seconds) and seconds >= 0):
        raise InputError(f"{source}: seconds is {seconds!r}; expected a duration")


def _need_counts(line: dict, fields: tuple[str, ...], source: str) -> None:
    for field in fields:
        if not (is_int(line.get(field)) and 0 <= line[field] < 1 << 63):
            raise InputError(f"{source}: {field} is {line.get(field)!r}; expected a count")


class Journal:
    def __init__(self, path: Path, reference, resume: bool,
                 shard: tuple[int, int] | None = None):
        self.path = Path(path)
        self.samples: dict[int, dict] = {}  # index -> its sample line, from every session
        self.sessions: list[dict] = []  # "session" lines, each with its "end" merged in
        header = {"kind": "run", "format": FORMAT_VERSION, "model": reference.name,
                  "sha256": reference.sha256, "dataset": reference.dataset,
                  "samples": reference.count}
        if shard is not None:  # which slice of the test set (tools/validation/shard.py)
            header["shard"] = {"index": shard[0], "count": shard[1]}
        self.header = header
        tflm = getattr(reference, "tflm", None)  # the reference outputs, [samples, width]
        self._width = int(tflm.shape[1]) if getattr(tflm, "ndim", 0) == 2 else None
        self._dtype = tflm.dtype if getattr(tflm, "dtype", None) == np.int16 else np.int8
        if resume and self.path.is_file():
            self._load(header)
            self._stream = self.path.open("a", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("w", encoding="utf-8")
            self._write(header)

    def _load(self, header: dict) -> None:
        lines, complete = read_lines(self.path, "run without --resume")
        if complete != self.path.stat().st_size:  # a kill can leave half a line at the end
            with self.path.open("r+b") as stream:
                stream.truncate(complete)
        found = lines[0]
        for key in ("model", "sha256", "dataset", "samples", "shard"):
            if found.get(key) != header.get(key):
                raise InputError(f"{self.path} holds results for {key} {found.get(key)!r}, this "
                                 f"run has {header.get(key)!r}; run without --resume to start "
                                 "over")
        for number, line in enumerate(lines[1:], start=2):
            kind = line.get("kind") if isinstance(line, dict) else None
            if kind == "sample":
                index = line.get("index")
                if not is_int(index) or not 0 <= index < header["samples"]:
                    raise InputError(f"{self.path}: line {number} is a sample {index!r} outside "
                                     f"0..{header['samples'] - 1}; move it away or run without "
                                     f"--resume")
                check_sample(line, f"{self.path}: line {number}", self._width, self._dtype)
                self.samples[index] = line
            elif kind == "session":
                if len(self.sessions) >= MAX_SESSIONS:
                    raise InputError(f"{self.path}: over {MAX_SESSIONS:,} sessions; move it away "
                                     "or run without --resume")
                check_session(line, f"{self.path}: line {number}")
                self.sessions.append(line)
            elif kind == "end" and self.sessions:
                check_end(line, f"{self.path}: line {number}")
                self.sessions[-1].update(end=line)

    def _write(self, line: dict) -> None:
        self._stream.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._stream.flush()

    def start_session(self, links: list[dict], jobs: int) -> None:
        line = {"kind": "session", "started": _now(), "jobs": jobs, "links": links,
                "already_done": len(self.samples)}
        self.sessions.append(line)
        self._write(line)

    def add(self, sample: dict) -> None:
        sample = {"kind": "sample", **sample}
        self.samples[sample["index"]] = sample
        self._write(sample)

    def end_session(self, reason: str, samples: int, seconds: float, bytes_sent: int) -> None:
        line = {"kind": "end", "reason": reason, "samples": samples,
                "seconds": round(seconds, 3), "bytes_sent": bytes_sent, "ended": _now()}
        self.sessions[-1].update(end=line)
        self._write(line)

    def close(self) -> None:
        self._stream.close()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
