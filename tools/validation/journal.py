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

from tinyml_pipeline.tools.errors import InputError

FORMAT_VERSION = 1


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
        if resume and self.path.is_file():
            self._load(header)
            self._stream = self.path.open("a", encoding="utf-8")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("w", encoding="utf-8")
            self._write(header)

    def _load(self, header: dict) -> None:
        text = self.path.read_text(encoding="utf-8")
        complete = text[:text.rfind("\n") + 1]  # a kill can leave half a line at the end
        if len(complete) != len(text):
            with self.path.open("r+", encoding="utf-8") as stream:
                stream.truncate(len(complete.encode("utf-8")))
        try:
            lines = [json.loads(line) for line in complete.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise InputError(f"{self.path}: not a validation journal (line {error.lineno}: "
                             f"{error.msg}); move it away or run without --resume") from None
        if not lines or not isinstance(lines[0], dict) or lines[0].get("kind") != "run":
            raise InputError(f"{self.path}: not a validation journal; move it away or run "
                             "without --resume")
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
                if not isinstance(index, int) or not 0 <= index < header["samples"]:
                    raise InputError(f"{self.path}: line {number} is a sample {index!r} outside "
                                     f"0..{header['samples'] - 1}; move it away or run without "
                                     f"--resume")
                self.samples[index] = line
            elif kind == "session":
                self.sessions.append(line)
            elif kind == "end" and self.sessions:
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
