"""IMU replay files: a recorded stream that the host and QEMU ports hand out as if it came from
the board's IMU, so the live and capture modes run without a board.

Layout, little-endian: the 8 bytes ``TMLIMU1\\0``, float32 sample rate in Hz, uint16 channel
count (6), uint16 reserved (0), then float32 samples, each acc x, y, z in m/s^2 and gyro x, y, z
in rad/s. firmware/README.md documents the same layout for port writers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import file_limits
from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.errors import InputError

MAGIC = b"TMLIMU1\0"
CHANNELS = 6
_HEADER = struct.Struct("<8sfHH")
# 256 MiB: over 30 hours of 6 channels at 100 Hz, read whole (recordings are minutes long).
MAX_REPLAY_BYTES = 256 << 20
# IMUs sample at up to a few kHz; a rate beyond this is a damaged header.
MAX_RATE_HZ = 100_000.0


def encode_replay(samples: np.ndarray, sample_rate_hz: float) -> bytes:
    samples = np.asarray(samples, dtype="<f4")
    if samples.ndim != 2 or samples.shape[1] != CHANNELS:
        raise InputError(f"IMU samples must have shape (n, {CHANNELS}), not {samples.shape}")
    if not 0 < sample_rate_hz <= MAX_RATE_HZ:
        raise InputError(f"sample rate must be more than 0 and at most {MAX_RATE_HZ:g} Hz, not "
                         f"{sample_rate_hz}")
    return _HEADER.pack(MAGIC, sample_rate_hz, CHANNELS, 0) + samples.tobytes()


def write_replay(path: Path, samples: np.ndarray, sample_rate_hz: float) -> Path:
    atomic_write_bytes(Path(path), encode_replay(samples, sample_rate_hz))
    return Path(path)


def read_replay(path: Path) -> tuple[np.ndarray, float]:
    """The samples (n, 6) float32 and the sample rate of a replay file, refused in one line
    when it is over MAX_REPLAY_BYTES, damaged, or holds a rate or samples that are not finite."""
    data = file_limits.read_bytes(path, MAX_REPLAY_BYTES, "an IMU recording")
    if len(data) < _HEADER.size:
        raise InputError(f"{path}: not an IMU replay file (too short)")
    magic, rate, channels, _ = _HEADER.unpack_from(data)
    body = len(data) - _HEADER.size
    if magic != MAGIC:
        raise InputError(f"{path}: not an IMU replay file (no TMLIMU1 header)")
    if channels != CHANNELS:
        raise InputError(f"{path}: {channels} channels; an IMU replay file has {CHANNELS}")
    if body % (4 * CHANNELS) != 0:
        raise InputError(f"{path}: truncated ({body} data bytes are not whole samples of "
                         f"{4 * CHANNELS} bytes)")
    if not 0 < rate <= MAX_RATE_HZ:  # also false for NaN
        raise InputError(f"{path}: sample rate {rate:g} Hz; expected more than 0 and at most "
                         f"{MAX_RATE_HZ:g}")
    samples = np.frombuffer(data, dtype="<f4", offset=_HEADER.size).reshape(-1, CHANNELS)
    if not np.isfinite(samples).all():
        first = int(np.argwhere(~np.isfinite(samples))[0][0])
        raise InputError(f"{path}: sample {first} is not a finite number")
    return samples.astype(np.float32), float(rate)


def series_stream(series: np.ndarray) -> np.ndarray:
    """Test series [n, steps, 6] played back to back as one stream [n * steps, 6]."""
    series = np.asarray(series, dtype=np.float32)
    return series.reshape(-1, series.shape[-1])
