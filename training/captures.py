"""Recorded IMU data (`tinyml capture`) as a data set for `tinyml train activity --captures DIR`.

Each subdirectory of DIR that holds at least one `.imu` recording (the TMLIMU1 replay format of
tools/imu_replay.py) is a class, named after the subdirectory; labels are sorted by name.
Recordings are windowed the way the model sees the stream on the board: windows of the task's
length, sliding by half a window.

Windows cut from one stretch of a recording overlap, so a random split would put copies of the
same samples in training and test. Each recording is therefore split by time first (the first
70 % of its samples train, the next 15 % validate, the last 15 % test) and windowed within each
part: no sample is in two splits, and every recording session is in every split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import file_limits
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.imu_replay import read_replay
from tinyml_pipeline.tools.workspace import Workspace
from tinyml_pipeline.training import datasets
from tinyml_pipeline.training.datasets import Dataset

NAME = "captures"
RECORDING_SUFFIX = ".imu"
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
LAYOUT = "[time, channel]: acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z"
# All recordings of a captures directory are read into memory together (tools/imu_replay.py
# caps each file); minutes to hours of recordings are far below both.
MAX_RECORDINGS = 10_000
MAX_CAPTURES_BYTES = 1 << 30
MAX_WINDOW_STEPS = 1 << 20
SPLIT_RULE = ("each recording split by time: the first 70 % of its samples train, the next "
              "15 % validate, the last 15 % test; windows slide by half a window within each "
              "part, so no sample is in two splits")


@dataclass(frozen=True)
class Recording:
    path: Path
    label: str
    samples: np.ndarray  # (n, 6) float32


def hop_steps(window_steps: int) -> int:
    return max(1, window_steps // 2)


def split_bounds(length: int) -> list[tuple[int, int]]:
    """The sample ranges [start, stop) of the train, validation and test parts of a recording."""
    first = int(length * SPLIT_FRACTIONS[0])
    second = int(length * (SPLIT_FRACTIONS[0] + SPLIT_FRACTIONS[1]))
    return [(0, first), (first, second), (second, length)]


def min_recording_steps(window_steps: int) -> int:
    """The shortest recording whose three parts each hold at least one window."""
    length = window_steps * len(SPLITS)
    while any(stop - start < window_steps for start, stop in split_bounds(length)):
        length += 1
    return length


def cut_windows(samples: np.ndarray, window_steps: int, hop: int) -> np.ndarray:
    """Windows [k, window_steps, 6] starting every `hop` samples, none running past the end."""
    starts = range(0, len(samples) - window_steps + 1, hop)
    windows = [samples[start:start + window_steps] for start in starts]
    return np.stack(windows) if windows else np.empty((0, window_steps, samples.shape[1]),
                                                      np.float32)


def find_recordings(directory: Path) -> dict[str, list[Path]]:
    """{label: recordings}, labels sorted; only subdirectories holding a recording count."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"no captures directory {directory} (record some with "
                         "`tinyml capture --label LABEL --seconds S`)")
    classes = {}
    for child in sorted(directory.iterdir()):
        recordings = sorted(child.glob(f"*{RECORDING_SUFFIX}")) if child.is_dir() else []
        if recordings:
            classes[child.name] = recordings
    count = sum(len(paths) for paths in classes.values())
    if count > MAX_RECORDINGS:
        raise InputError(f"{directory}: {count:,} recordings; at most {MAX_RECORDINGS:,} are "
                         "read")
    total = sum(path.stat().st_size for paths in classes.values() for path in paths)
    if total > MAX_CAPTURES_BYTES:
        raise InputError(f"{directory}: {total:,} bytes of recordings; at most "
                         f"{MAX_CAPTURES_BYTES:,} are read at once")
    if len(classes) < 2:
        found = ", ".join(classes) or "none"
        raise InputError(f"{directory}: a classifier needs recordings of at least two classes "
                         f"(one subdirectory of .imu files per class); found: {found}")
    return classes


def read_recording(path: Path, label: str, sample_rate_hz: float,
                   window_steps: int) -> Recording:
    """One recording, refused when its rate is not the model's or it is too short to split."""
    samples, rate = read_replay(path)
    if not math.isclose(rate, sample_rate_hz, rel_tol=1e-6):
        raise InputError(f"{path}: recorded at {rate:g} Hz, but the model is trained at "
                         f"{sample_rate_hz:g} Hz (record with --rate {sample_rate_hz:g})")
    needed = min_recording_steps(window_steps)
    if len(samples) < needed:
        raise InputError(
            f"{path}: {len(samples) / rate:.1f} s of {label} is too little: each recording "
            f"needs at least {needed / rate:.1f} s so that its validation and test parts (15 % "
            f"each) hold a {window_steps / rate:g} s window; record longer or remove it")
    return Recording(Path(path), label, samples)


def _split_windows(recordings: list[Recording], labels: list[str], window_steps: int):
    """{split: (x, y)} with every recording's windows, in label and recording order."""
    hop = hop_steps(window_steps)
    parts: dict[str, tuple[list, list]] = {split: ([], []) for split in SPLITS}
    for recording in recordings:
        index = labels.index(recording.label)
        for split, (start, stop) in zip(SPLITS, split_bounds(len(recording.samples)),
                                        strict=True):
            windows = cut_windows(recording.samples[start:stop], window_steps, hop)
            parts[split][0].append(windows)
            parts[split][1].append(np.full(len(windows), index, np.int64))
    return {split: (np.concatenate(x).astype(np.float32), np.concatenate(y))
            for split, (x, y) in parts.items()}


def _class_summary(recordings: list[Recording], labels: list[str], parts: dict,
                   sample_rate_hz: float) -> dict:
    """Per class: how many recordings, how long in all, and its windows in each split."""
    counts = {split: np.bincount(parts[split][1], minlength=len(labels)) for split in SPLITS}
    summary = {}
    for index, label in enumerate(labels):
        own = [r for r in recordings if r.label == label]
        seconds = sum(len(r.samples) for r in own) / sample_rate_hz
        summary[label] = {"recordings": len(own), "seconds": round(seconds, 1),
                          "windows": {split: int(counts[split][index]) for split in SPLITS}}
    return summary


def load_captures(directory: Path, sample_rate_hz: float, window_steps: int,
                  workspace: Workspace) -> Dataset:
    """The recordings under `directory` as windows [n, window_steps, 6], split by time. Paths
    are recorded relative to `workspace` when inside it."""

    def recorded(path: Path) -> str:
        return workspace.relative(Path(path).resolve())

    classes = find_recordings(directory)
    labels = list(classes)
    recordings = [read_recording(path, label, sample_rate_hz, window_steps)
                  for label, paths in classes.items() for path in paths]
    parts = _split_windows(recordings, labels, window_steps)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (parts[s] for s in SPLITS)
    return Dataset(
        name=NAME,
        x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
        x_test=x_test, y_test=y_test,
        labels=labels,
        files=[{"path": recorded(r.path), "sha256": sha256_of(r.path)} for r in recordings],
        notes={"directory": recorded(directory), "layout": LAYOUT,
               "sample_rate_hz": sample_rate_hz, "window_steps": window_steps,
               "hop_steps": hop_steps(window_steps), "split_rule": SPLIT_RULE,
               "classes": _class_summary(recordings, labels, parts, sample_rate_hz)},
    )


def load_from_card(entry: dict, workspace: Workspace) -> Dataset:
    """The captures a card was trained on, refused if any was added, removed or altered since:
    scores on different data would not be the card's."""
    source = "the card's dataset"
    directory = workspace.root / file_limits.need_str(entry.get("directory"), source,
                                                      "directory")  # an absolute one stays
    rate = file_limits.need_number(entry.get("sample_rate_hz"), source, "sample_rate_hz",
                                   positive=True)
    steps = file_limits.need_int(entry.get("window_steps"), source, "window_steps", 1,
                                 MAX_WINDOW_STEPS)
    files = entry.get("files")
    if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("path"), str)
            and isinstance(f.get("sha256"), str) for f in files):
        raise InputError(f"{source}: files is not a list of {{path, sha256}} objects")
    data = load_captures(directory, float(rate), steps, workspace)
    recorded = {f["path"]: f["sha256"] for f in files}
    found = {f["path"]: f["sha256"] for f in data.files}
    if found != recorded:
        changed = sorted(path for path in recorded.keys() | found.keys()
                         if recorded.get(path) != found.get(path))
        raise InputError(f"{directory}: the captures changed since the model was trained "
                         f"({', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''})")
    return data


def load_described(entry: dict, workspace: Workspace, seed: int = 0) -> Dataset:
    """The data set a card's "dataset" entry describes, from `workspace`: a bundled one by name,
    or the recorded captures the entry lists (they are not bundled, so the entry says where)."""
    if entry.get("name") == "captures":
        return load_from_card(entry, workspace)
    return datasets.load(entry["name"], workspace, seed)
