"""`tinyml capture`: record a board's IMU stream (the protocol's capture mode, docs/protocol.md)
as training data for `tinyml train activity --captures`.

A recording is `<out>/<label>/<label>-<UTC time>.imu` in the TMLIMU1 replay format
(tools/imu_replay.py), so it can also be replayed into the host port or QEMU, with a sidecar
`.json` that holds its rate, units, how it ended and which device it came from.

Samples are appended to a hidden `.partial` file as they arrive and the file is renamed into
place at the end, also after Ctrl-C or a device that stops answering: what arrived is kept, and
a reader never sees a half-written recording.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import protocol
from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.card import load_card
from tinyml_pipeline.tools.device import Device
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.framing import DeviceError, ProtocolError, Status
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.imu_replay import CHANNELS, encode_replay

LABEL_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
CHANNEL_NAMES = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
UNITS = {"acceleration": "m/s^2", "angular_rate": "rad/s"}
SAMPLE_BYTES = 4 * CHANNELS
HEADER_BYTES = len(encode_replay(np.empty((0, CHANNELS), np.float32), 1.0))
# The device sends up to this many samples per event, so at a slow rate events come far apart.
SAMPLES_PER_EVENT = protocol.MAX_SAMPLES_PER_EVENT
MIN_EVENT_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 1.0

# How a recording ended: the device's STREAM_END reasons, and the two endings the host sees.
INTERRUPTED = "interrupted"  # Ctrl-C
LINK_LOST = "link_lost"  # the device stopped answering or disconnected
ENDINGS = {
    protocol.StreamEndReason.COMPLETE: "complete",
    protocol.StreamEndReason.STOPPED: "stopped",
    protocol.StreamEndReason.IMU_ENDED: "imu_ended",
    protocol.StreamEndReason.IMU_FAILED: "imu_failed",
}
EXIT_INTERRUPTED = 130  # as the CLI answers Ctrl-C elsewhere


def is_safe_label(label: str) -> bool:
    """A label becomes a directory and file name: letters, digits, '-' and '_' only, so it can
    name nothing outside <out>/ and no hidden file."""
    return LABEL_PATTERN.fullmatch(label) is not None


def default_rate_hz(models_dir: Path) -> float:
    """The rate the activity model in `models_dir` was trained at (its card's data set), so
    that recordings can train it; the task's own rate if the card is missing."""
    try:
        return float(load_card(Path(models_dir) / "activity").sample_rate_hz)
    except (InputError, TypeError):
        from tinyml_pipeline.training.tasks import get_task

        return float(get_task("activity").sample_rate_hz)


@dataclasses.dataclass
class Capture:
    """What one `tinyml capture` recorded, and how it ended."""

    label: str
    path: Path | None  # None when no sample arrived, so nothing was written
    sidecar: Path | None
    sample_rate_hz: float
    requested_samples: int
    samples: int = 0
    ending: str = LINK_LOST
    detail: str = ""  # the error behind LINK_LOST
    gaps: list = dataclasses.field(default_factory=list)  # [[first missing index, count]]

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate_hz

    @property
    def dropped(self) -> int:
        return sum(count for _, count in self.gaps)

    @property
    def exit_code(self) -> int:
        if self.ending == INTERRUPTED:
            return EXIT_INTERRUPTED
        return 0 if self.problem is None else 1

    @property
    def problem(self) -> str | None:
        """One line on what went wrong, or None for a whole recording."""
        kept = (f"kept the {self.samples} samples that arrived" if self.samples
                else "nothing was written")
        asked = self.requested_samples / self.sample_rate_hz
        endings = {
            INTERRUPTED: f"capture interrupted after {self.seconds:.1f} s; {kept}",
            LINK_LOST: f"the device stopped answering after {self.seconds:.1f} s "
                       f"({self.detail}); {kept}",
            "imu_ended": f"the device's IMU stream ended after {self.seconds:.1f} s of the "
                         f"{asked:g} s asked (a replayed recording ran out); {kept}",
            "imu_failed": f"the board's IMU stopped answering after {self.seconds:.1f} s; {kept}",
            "stopped": f"the capture was stopped after {self.seconds:.1f} s; {kept}",
        }
        problems = [endings[self.ending]] if self.ending in endings else []
        if self.dropped:
            where = ", ".join(f"{count} at sample {index}" for index, count in self.gaps[:3])
            problems.append(f"{self.dropped} samples were lost on the link ({where}"
                            f"{', ...' if len(self.gaps) > 3 else ''}); the recording skips "
                            "them")
        return "; ".join(problems) or None

    def summary(self) -> str:
        if self.path is None:
            return f"{self.label}: no samples arrived ({self.ending}); nothing written"
        lost = f", {self.dropped} lost" if self.dropped else ""
        return (f"{self.label}: {self.samples} samples at {self.sample_rate_hz:g} Hz "
                f"({self.seconds:.1f} s, {self.ending}{lost}) -> {self.path}")


class RecordingFile:
    """A recording written as samples arrive: a hidden `.partial` file next to its final name,
    flushed per batch, cut back to whole samples and renamed into place by `finish`."""

    def __init__(self, final: Path, sample_rate_hz: float):
        self.final = final
        self.partial = final.with_name(f".{final.name}.partial")
        self.samples = 0
        final.parent.mkdir(parents=True, exist_ok=True)
        self._stream = open(self.partial, "wb")
        self._stream.write(encode_replay(np.empty((0, CHANNELS), np.float32), sample_rate_hz))
        self._stream.flush()

    def append(self, samples: np.ndarray) -> None:
        self._stream.write(np.asarray(samples, dtype="<f4").tobytes())
        self._stream.flush()  # a crash loses at most the batch being written
        self.samples += len(samples)

    def finish(self) -> str | None:
        """Closes the file holding whole samples only (an append cut short by Ctrl-C may have
        left part of one); returns its sha256, or None, with the file removed, when no sample
        arrived. `publish` then renames it into place."""
        self._stream.truncate(HEADER_BYTES + self.samples * SAMPLE_BYTES)
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()
        if not self.samples:
            self.partial.unlink(missing_ok=True)
            return None
        return sha256_of(self.partial)

    def publish(self) -> None:
        os.replace(self.partial, self.final)

    def discard(self) -> None:
        if not self._stream.closed:
            self._stream.close()
        self.partial.unlink(missing_ok=True)


def recording_paths(out: Path, label: str, started: datetime.datetime) -> tuple[Path, Path]:
    """The .imu and .json paths of a new recording, with a suffix if that second is taken."""
    directory = Path(out) / label
    stem = f"{label}-{started:%Y%m%dT%H%M%SZ}"
    candidate, number = stem, 1
    while any((directory / name).exists() for name in
              (f"{candidate}.imu", f"{candidate}.json", f".{candidate}.imu.partial")):
        number += 1
        candidate = f"{stem}-{number}"
    return directory / f"{candidate}.imu", directory / f"{candidate}.json"


def _start(device: Device, rate_hz: float, limit: int) -> tuple[protocol.Hello, float]:
    """HELLO, then CAPTURE_START; returns the identity and the rate the device samples at."""
    hello = device.hello()
    if not hello.has_imu:
        raise InputError(f"the device ({hello.board}, firmware {hello.firmware_version}) has no "
                         "IMU, so it cannot capture; connect a Nano 33 BLE Sense, or start an "
                         "emulator with an IMU replay file (tinyml emulate --imu FILE)")
    try:
        started = device.capture_start(rate_hz, limit)
    except DeviceError as error:
        if error.status in (Status.UNSUPPORTED, Status.BAD_ARGUMENT):
            raise InputError(f"the device ({hello.board}) cannot sample its IMU at {rate_hz:g} Hz "
                             f"({error.status.name}); try another --rate") from None
        raise
    return hello, float(started.sample_rate_hz)


def _event_timeout(rate_hz: float) -> float:
    # A full event takes SAMPLES_PER_EVENT samples to gather; allow twice that and a margin.
    return max(MIN_EVENT_TIMEOUT_S, 2 * SAMPLES_PER_EVENT / rate_hz + 1.0)


def _stream(device: Device, recording: RecordingFile, capture: Capture, progress) -> None:
    """Appends IMU_SAMPLES events until STREAM_END, noting gaps in first_index (a lost event)
    and samples the device counted that never arrived."""
    timeout = _event_timeout(capture.sample_rate_hz)
    expected = 0  # the index of the next sample, counted from CAPTURE_START
    while True:
        event = device.next_event(timeout)
        if isinstance(event, protocol.StreamEnd):
            if event.samples > expected:  # events lost at the end
                capture.gaps.append([expected, event.samples - expected])
            capture.ending = ENDINGS[event.reason]
            return
        if not isinstance(event, protocol.ImuSamples):
            continue  # a stray LIVE_RESULT from a mode another host started: not ours
        if event.first_index < expected:
            raise ProtocolError(f"IMU_SAMPLES from index {event.first_index} after "
                                f"{expected} samples: the device restarted the capture")
        if event.first_index > expected:
            capture.gaps.append([expected, event.first_index - expected])
        recording.append(event.samples)
        capture.samples = recording.samples
        expected = event.first_index + len(event.samples)
        progress.update(len(event.samples))


def _stop_quietly(device: Device) -> None:
    """Leaves the device idle after Ctrl-C; a device that does not answer is left as it is."""
    try:
        device.request(protocol.Request.STOP, protocol.stop_request(), timeout=STOP_TIMEOUT_S)
    except (ProtocolError, DeviceError, OSError, KeyboardInterrupt):  # a second Ctrl-C too
        pass


def _sidecar(capture: Capture, hello: protocol.Hello, port: str, requested_rate_hz: float,
             started_at: datetime.datetime, sha256: str) -> dict:
    return {
        "label": capture.label,
        "file": capture.path.name,
        "format": "TMLIMU1 IMU replay file (tools/imu_replay.py, firmware/README.md)",
        "sha256": sha256,
        "sample_rate_hz": capture.sample_rate_hz,
        "requested_sample_rate_hz": requested_rate_hz,
        "channels": list(CHANNEL_NAMES),
        "units": UNITS,
        "samples": capture.samples,
        "seconds": round(capture.seconds, 3),
        "requested_seconds": round(capture.requested_samples / capture.sample_rate_hz, 3),
        "end": capture.ending,
        **({"end_detail": capture.detail} if capture.detail else {}),
        "dropped_samples": capture.dropped,
        "gaps": capture.gaps,
        "started_at": f"{started_at:%Y-%m-%dT%H:%M:%SZ}",
        "device": {"board": hello.board, "backend": hello.backend,
                   "firmware_version": hello.firmware_version,
                   "protocol_version": hello.protocol_version, "port": port},
    }


def record(transport, label: str, seconds: float, rate_hz: float, out: Path,
           progress: bool = True, port: str = "") -> Capture:
    """Records `seconds` of the IMU of the device on `transport` into `out`/`label`/.

    Errors before the first sample (no IMU, a refused rate) raise InputError and write
    nothing. Afterwards every ending is returned, with what arrived kept on disk.
    """
    if not is_safe_label(label):
        raise InputError(f"label {label!r}: use letters, digits, '-' and '_' only")
    limit = round(seconds * rate_hz)
    with Device(transport) as device:
        hello, rate_in_use = _start(device, rate_hz, limit)
        started_at = datetime.datetime.now(datetime.UTC)
        path, sidecar = recording_paths(out, label, started_at)
        capture = Capture(label, path, sidecar, rate_in_use, limit)
        recording = RecordingFile(path, rate_in_use)
        try:
            _record_into(device, recording, capture, progress)
            sha256 = recording.finish()
        except BaseException:
            recording.discard()
            raise
    if sha256 is None:
        capture.path = capture.sidecar = None
        return capture
    # The sidecar first: every .imu in place has its description.
    atomic_write_text(sidecar, json.dumps(_sidecar(capture, hello, port, rate_hz, started_at,
                                                   sha256), indent=2) + "\n")
    recording.publish()
    return capture


def _record_into(device: Device, recording: RecordingFile, capture: Capture,
                 progress: bool) -> None:
    from tqdm import tqdm

    bar = tqdm(total=capture.requested_samples, desc=f"capture {capture.label}", unit="sample",
               disable=not progress, leave=False, mininterval=0.5)
    try:
        _stream(device, recording, capture, bar)
    except KeyboardInterrupt:
        capture.ending = INTERRUPTED
        _stop_quietly(device)
    except (ProtocolError, OSError) as error:  # timeouts, a closed link, a garbled stream
        capture.ending, capture.detail = LINK_LOST, str(error)
    finally:
        bar.close()
