"""Frames of the serial protocol (docs/protocol.md, "Framing"): CRC-32, COBS, the frame layout
and an incremental reader that resynchronizes at every 0x00. Pure encoding, no I/O.

The status codes and the errors live here because frame-level errors carry the code the device
would answer them with.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum

from tinyml_pipeline.tools.errors import TinyMLError

DEFAULT_MAX_PAYLOAD = 2048
DELIMITER = 0x00
HEADER = struct.Struct("<BH")  # type, seq
CRC = struct.Struct("<I")
MIN_FRAME = HEADER.size + CRC.size
COBS_BLOCK = 254  # data bytes a 0xFF code byte carries


class Status(IntEnum):
    OK = 0
    BAD_CRC = 1
    TRUNCATED = 2
    OVERSIZED = 3
    BAD_FRAMING = 4
    UNKNOWN_COMMAND = 5
    BAD_LENGTH = 6
    UNKNOWN_MODEL = 7
    BAD_INPUT_LENGTH = 8
    BAD_ENCODING = 9
    INVOKE_FAILED = 10
    UNSUPPORTED = 11
    BUSY = 12
    BAD_ARGUMENT = 13


STATUS_MEANINGS = {
    Status.OK: "success",
    Status.BAD_CRC: "the frame's CRC did not match",
    Status.TRUNCATED: "the frame is shorter than a header and a CRC",
    Status.OVERSIZED: "the frame was longer than the receive buffer, or a reply would not fit "
                      "max_payload",
    Status.BAD_FRAMING: "not valid COBS",
    Status.UNKNOWN_COMMAND: "the type is not a request",
    Status.BAD_LENGTH: "the payload is the wrong length for the request",
    Status.UNKNOWN_MODEL: "no model has that index",
    Status.BAD_INPUT_LENGTH: "the input tensor, after decoding, is not exactly the model's "
                             "input size",
    Status.BAD_ENCODING: "unknown input encoding, or an encoded input that ends inside a group",
    Status.INVOKE_FAILED: "the runtime failed to run the model",
    Status.UNSUPPORTED: "the board has no IMU, does not support the rate, or the model does not "
                        "fit the live mode",
    Status.BUSY: "a live or capture mode is already running",
    Status.BAD_ARGUMENT: "an argument is out of range, for example a hop larger than the window "
                         "or a chunk outside its tensor",
}


class ProtocolError(TinyMLError):
    """The link or the device's bytes are not what the protocol says: garbled, cut off, or from
    an incompatible version. `status` is the code the spec assigns to the problem, if any."""

    def __init__(self, message: str, status: Status | None = None):
        super().__init__(message)
        self.status = status


# Error replies after which the spec says to send the same request again.
RETRY_STATUSES = frozenset({Status.BAD_CRC, Status.TRUNCATED, Status.BAD_FRAMING})


class DeviceError(TinyMLError):
    """The device answered a request with a status other than OK."""

    def __init__(self, status: Status, request: str):
        self.status = status
        self.request = request
        super().__init__(f"device: {request} failed: {status.name} ({STATUS_MEANINGS[status]})")

    @property
    def retriable(self) -> bool:
        return self.status in RETRY_STATUSES


class FrameError(ProtocolError):
    """A frame that cannot be trusted. `seq` is its sequence number when at least the header
    decoded (after a CRC mismatch it may be wrong), else None."""

    status_code: Status

    def __init__(self, message: str, seq: int | None = None):
        super().__init__(message, self.status_code)
        self.seq = seq


class BadFraming(FrameError):
    status_code = Status.BAD_FRAMING


class TruncatedFrame(FrameError):
    status_code = Status.TRUNCATED


class BadCrc(FrameError):
    status_code = Status.BAD_CRC


class OversizedFrame(FrameError):
    status_code = Status.OVERSIZED


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, as zlib computes it; check value 0xCBF43926."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS without the delimiter. A piece that ends the data exactly at a 254-byte block gets no
    trailing 0x01 (the shortest form); cobs_decode accepts both forms."""
    pieces = bytes(data).split(b"\x00")
    out = bytearray()
    for number, piece in enumerate(pieces):
        is_last = number == len(pieces) - 1
        while len(piece) >= COBS_BLOCK:
            out.append(0xFF)
            out += piece[:COBS_BLOCK]
            piece = piece[COBS_BLOCK:]
            if is_last and not piece:
                return bytes(out)
        out.append(len(piece) + 1)
        out += piece
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Inverse of cobs_encode; raises BadFraming for a code byte that points past the end or a
    0x00 inside the data."""
    data = bytes(data)
    out = bytearray()
    position = 0
    while position < len(data):
        code = data[position]
        end = position + code
        if code == 0 or end > len(data):
            raise BadFraming(f"not valid COBS: code byte {code:#04x} at offset {position} of "
                             f"{len(data)}")
        block = data[position + 1:end]
        if 0 in block:
            raise BadFraming("not valid COBS: a 0x00 inside the frame")
        out += block
        position = end
        # Every piece but the last was followed by a zero; 0xFF blocks never are.
        if code != 0xFF and position < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(type: int, seq: int, payload: bytes = b"") -> bytes:
    """The frame as sent: COBS-stuffed header, payload and CRC, then the 0x00 delimiter."""
    try:
        body = HEADER.pack(type, seq) + bytes(payload)
    except struct.error:
        raise ValueError(f"type {type} or seq {seq} out of range") from None
    return cobs_encode(body + CRC.pack(crc32(body))) + bytes([DELIMITER])


def decode_frame(stuffed: bytes) -> Frame:
    """One frame's bytes between delimiters (a trailing 0x00 is allowed) -> Frame, or raises
    BadFraming, TruncatedFrame or BadCrc."""
    stuffed = bytes(stuffed)
    if stuffed.endswith(b"\x00"):
        stuffed = stuffed[:-1]
    raw = cobs_decode(stuffed)
    seq = HEADER.unpack_from(raw)[1] if len(raw) >= HEADER.size else None
    if len(raw) < MIN_FRAME:
        raise TruncatedFrame(f"frame of {len(raw)} bytes, shorter than a header and a CRC", seq)
    body, (received,) = raw[:-CRC.size], CRC.unpack(raw[-CRC.size:])
    if crc32(body) != received:
        raise BadCrc(f"frame CRC mismatch: computed {crc32(body):#010x}, "
                     f"received {received:#010x}", seq)
    return Frame(raw[0], seq, body[HEADER.size:])


def max_stuffed_length(max_payload: int = DEFAULT_MAX_PAYLOAD) -> int:
    """Longest frame on the wire, delimiter excluded: COBS adds at most one byte per 254 plus
    one (the +1 covers encoders that write a final 0x01 after a full block)."""
    raw = MIN_FRAME + max_payload
    return raw + raw // COBS_BLOCK + 1


class FrameReader:
    """Splits a byte stream into frames at each 0x00. Empty frames are skipped; a frame longer
    than `max_frame_bytes` (stuffed) is dropped up to the next 0x00 and reported once, when that
    0x00 arrives, as OversizedFrame. Errors are returned in order with the frames, not raised,
    so one bad frame does not lose the good ones after it."""

    def __init__(self, max_frame_bytes: int = max_stuffed_length()):
        self.max_frame_bytes = max_frame_bytes
        self._buffer = bytearray()
        self._oversized = False

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held (0 while dropping an oversized one)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        data = bytes(data)
        results: list[Frame | FrameError] = []
        start = 0
        while (end := data.find(DELIMITER, start)) >= 0:
            self._collect(data[start:end])
            if (result := self._finish()) is not None:
                results.append(result)
            start = end + 1
        self._collect(data[start:])
        return results

    def _collect(self, part: bytes) -> None:
        if self._oversized:
            return
        if len(self._buffer) + len(part) > self.max_frame_bytes:
            self._oversized = True
            self._buffer.clear()
        else:
            self._buffer += part

    def _finish(self) -> Frame | FrameError | None:
        if self._oversized:
            self._oversized = False
            return OversizedFrame(f"frame longer than {self.max_frame_bytes} bytes, dropped")
        if not self._buffer:
            return None
        stuffed = bytes(self._buffer)
        self._buffer.clear()
        try:
            return decode_frame(stuffed)
        except FrameError as error:
            return error
