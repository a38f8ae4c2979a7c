"""The host side of the serial protocol, version 2 (docs/protocol.md): request payloads, reply
and event parsers, and the zero-runs input encoding. Pure encoding, no I/O; frames, CRC, COBS,
the status codes and the errors are in `tools.framing`.

Parsers take a frame's payload and return a dataclass. A reply whose status is not OK raises
DeviceError; a payload that is cut off or malformed raises ProtocolError. Bytes after the known
fields are ignored, as the spec's versioning section asks.
"""

from __future__ import annotations

import bisect
import math
import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np

from tinyml_pipeline.tools.framing import DeviceError, Frame, ProtocolError, Status

PROTOCOL_VERSION = 2
REPLY_BIT = 0x80
IMU_CHANNELS = 6
MAX_SAMPLES_PER_EVENT = 8
MAX_RANK = 6
MAX_GROUP = 255  # the zero-runs encoding's u8 counts
CHUNK_HEADER = struct.Struct("<HIH")  # INPUT_CHUNK's and OUTPUT_READ's model, offset, length
INFER_REPLY_HEADER = 9  # status, cost, micros: what an INFER reply holds besides the output
# The smallest max_payload a host can work with: a LAYER_OUTPUT request is 10 bytes, and a chunk
# (8 header bytes) or an output read must carry at least one byte.
MIN_MAX_PAYLOAD = 16


class Request(IntEnum):
    HELLO = 0x01
    MODEL_INFO = 0x02
    INFER = 0x03
    LIVE_START = 0x04
    CAPTURE_START = 0x05
    STOP = 0x06
    INPUT_CHUNK = 0x07
    OUTPUT_READ = 0x08
    LAYER_OUTPUT = 0x09


# A reply's type is its request's with the top bit set; ERROR answers a frame that is not a
# well-formed request.
Reply = IntEnum("Reply", [(r.name, r | REPLY_BIT) for r in Request] + [("ERROR", 0xFF)])


class Event(IntEnum):
    LIVE_RESULT = 0x41
    IMU_SAMPLES = 0x42
    STREAM_END = 0x43


class Encoding(IntEnum):
    RAW = 0
    ZERO_RUNS = 1
    STAGED = 2  # no data: the input that INPUT_CHUNK requests wrote


class StreamEndReason(IntEnum):
    STOPPED = 0
    COMPLETE = 1
    IMU_ENDED = 2
    IMU_FAILED = 3


class Feature(IntFlag):
    IMU = 0x01


DTYPES = {0: ("int8", 1), 1: ("float32", 4), 2: ("int16", 2)}  # code: (numpy name, item size)


@dataclass(frozen=True)
class Hello:
    protocol_version: int
    max_payload: int
    model_count: int
    features: Feature
    cpu_hz: int
    cost_hz: int
    firmware_version: str
    board: str
    backend: str
    cost_unit: str

    @property
    def has_imu(self) -> bool:
        return Feature.IMU in self.features


@dataclass(frozen=True)
class TensorDescription:
    dtype: str  # "int8", "int16" or "float32", a numpy dtype name
    shape: tuple[int, ...]
    nbytes: int
    scale: float
    zero_point: int


@dataclass(frozen=True)
class ModelInfo:
    index: int
    name: str
    sha256: str  # hex
    ram_bytes: int
    input: TensorDescription
    output: TensorDescription
    sample_rate_hz: float
    mean: tuple[float, ...]  # one per normalization channel; empty for raw inputs
    std: tuple[float, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class InferResult:
    cost: int
    micros: int
    output: bytes


@dataclass(frozen=True)
class LiveStarted:
    steps: int
    hop: int
    sample_rate_hz: float


@dataclass(frozen=True)
class CaptureStarted:
    channels: int
    sample_rate_hz: float


@dataclass(frozen=True)
class LiveResult:
    sample_index: int
    label: int
    score: float
    cost: int
    micros: int
    output: bytes


@dataclass(frozen=True, eq=False)
class ImuSamples:
    first_index: int
    samples: np.ndarray  # (count, 6) float32: acc x, y, z in m/s^2, gyro x, y, z in rad/s


@dataclass(frozen=True)
class StreamEnd:
    reason: StreamEndReason
    samples: int


# --- requests ---------------------------------------------------------------------------------

def _pack(layout: str, *values) -> bytes:
    try:
        return struct.pack("<" + layout, *values)
    except struct.error as error:
        raise ValueError(f"request field out of range: {values} ({error})") from None


def hello_request() -> bytes:
    return b""


def model_info_request(index: int) -> bytes:
    return _pack("H", index)


def infer_request(model: int, tensor: bytes | np.ndarray, encoding: Encoding = Encoding.RAW,
                  zero_point: int = 0) -> bytes:
    """`tensor` is the input's bytes (or an array, sent as its bytes); `zero_point` is the input's,
    used only by the zero-runs encoding."""
    data = tensor.tobytes() if isinstance(tensor, np.ndarray) else bytes(tensor)
    if encoding == Encoding.ZERO_RUNS:
        data = encode_zero_runs(data, zero_point)
    elif encoding != Encoding.RAW:
        raise ValueError(f"unknown input encoding {encoding}")
    return _pack("HB", model, encoding) + data


def shortest_infer_request(model: int, tensor: bytes | np.ndarray, zero_point: int) -> bytes:
    """INFER with whichever encoding of the input is shorter: zero runs for an input that is
    mostly its zero point (an MNIST digit: about 194 bytes instead of 784), raw otherwise."""
    raw = infer_request(model, tensor, Encoding.RAW)
    runs = infer_request(model, tensor, Encoding.ZERO_RUNS, zero_point)
    return runs if len(runs) < len(raw) else raw


def staged_infer_request(model: int) -> bytes:
    """INFER of the input the INPUT_CHUNK requests wrote."""
    return _pack("HB", model, Encoding.STAGED)


def input_chunk_request(model: int, offset: int, data: bytes) -> bytes:
    """Writes `data` at byte `offset` of model `model`'s input tensor on the device."""
    return _pack(CHUNK_HEADER.format[1:], model, offset, len(data)) + bytes(data)


def output_read_request(model: int, offset: int, length: int) -> bytes:
    """Reads `length` bytes at `offset` of the last output of model `model`."""
    return _pack(CHUNK_HEADER.format[1:], model, offset, length)


LAYER_REQUEST = struct.Struct("<HHIH")  # LAYER_OUTPUT's model, layer, offset, length


def layer_output_request(model: int, layer: int, offset: int, length: int) -> bytes:
    """Reads `length` bytes at `offset` of layer `layer`'s output; offset 0 first runs layers
    0 to `layer` on the staged input."""
    return _pack(LAYER_REQUEST.format[1:], model, layer, offset, length)


def chunk_spans(total: int, per_chunk: int) -> list[tuple[int, int]]:
    """(offset, length) pieces, in order, that cover `total` bytes `per_chunk` at a time."""
    if per_chunk < 1:
        raise ValueError(f"a chunk must hold at least one byte, not {per_chunk}")
    return [(offset, min(per_chunk, total - offset)) for offset in range(0, total, per_chunk)]


def live_start_request(model: int, hop: int = 0) -> bytes:
    """hop 0 lets the device choose one second's worth of samples."""
    return _pack("HH", model, hop)


def capture_start_request(sample_rate_hz: float, limit: int = 0) -> bytes:
    """limit 0 captures until STOP."""
    return _pack("fI", sample_rate_hz, limit)


def stop_request() -> bytes:
    return b""


# --- replies and events -----------------------------------------------------------------------

class _PayloadReader:
    """Reads fields in order; running out of bytes is a ProtocolError naming the message."""

    def __init__(self, payload: bytes, what: str):
        self.data = bytes(payload)
        self.offset = 0
        self.what = what

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise ProtocolError(f"{self.what} is truncated: {len(self.data)} bytes, "
                                f"its fields need at least {end}")
        field = self.data[self.offset:end]
        self.offset = end
        return field

    def fields(self, layout: str) -> tuple:
        packed = struct.Struct("<" + layout)
        return packed.unpack(self.take(packed.size))

    def field(self, layout: str):
        return self.fields(layout)[0]

    def string(self) -> str:
        raw = self.take(self.field("B"))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.what}: a string is not UTF-8: {raw!r}") from None

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.offset)

    def status(self) -> Status:
        code = self.field("B")
        try:
            return Status(code)
        except ValueError:
            raise ProtocolError(f"{self.what}: unknown status code {code}") from None

    def tensor(self) -> TensorDescription:
        code, rank = self.fields("BB")
        if code not in DTYPES:
            raise ProtocolError(f"{self.what}: unknown tensor dtype code {code}")
        if not 1 <= rank <= MAX_RANK:
            raise ProtocolError(f"{self.what}: tensor rank {rank} is not 1 to {MAX_RANK}")
        shape = self.fields(f"{rank}i")
        nbytes, scale, zero_point = self.fields("Ifi")
        dtype, item_size = DTYPES[code]
        if min(shape) < 0 or math.prod(shape) * item_size != nbytes:
            raise ProtocolError(f"{self.what}: a {dtype} tensor of shape {list(shape)} "
                                f"cannot be {nbytes} bytes")
        return TensorDescription(dtype, tuple(shape), nbytes, scale, zero_point)


def _ok_reply(payload: bytes, request: Request) -> _PayloadReader:
    reader = _PayloadReader(payload, f"{request.name} reply")
    if (status := reader.status()) != Status.OK:
        raise DeviceError(status, request.name)
    return reader


def _output(reader: _PayloadReader, output_bytes: int | None) -> bytes:
    # The output is the last field, so its length comes from MODEL_INFO; without it, take the rest.
    return reader.rest() if output_bytes is None else reader.take(output_bytes)


def parse_hello(payload: bytes) -> Hello:
    reader = _ok_reply(payload, Request.HELLO)
    version = reader.field("B")
    # Checked before the rest: another version may lay the rest out differently.
    if version != PROTOCOL_VERSION:
        advice = ("reflash the device with this package's firmware (tinyml firmware build, "
                  "then tinyml firmware flash)" if version < PROTOCOL_VERSION else
                  "upgrade this host tool to the release the firmware came from, or reflash the "
                  "device with this package's firmware")
        raise ProtocolError(f"the device speaks protocol version {version}, this host version "
                            f"{PROTOCOL_VERSION}: {advice}")
    max_payload, model_count, features, cpu_hz, cost_hz = reader.fields("HHBII")
    if max_payload < MIN_MAX_PAYLOAD:
        raise ProtocolError(f"HELLO reply: max_payload {max_payload} is below the protocol's "
                            f"minimum of {MIN_MAX_PAYLOAD} bytes")
    return Hello(version, max_payload, model_count, Feature(features), cpu_hz, cost_hz,
                 reader.string(), reader.string(), reader.string(), reader.string())


def parse_model_info(payload: bytes) -> ModelInfo:
    reader = _ok_reply(payload, Request.MODEL_INFO)
    index = reader.field("H")
    name = reader.string()
    sha256 = reader.take(32).hex()
    ram_bytes = reader.field("I")
    input_tensor, output_tensor = reader.tensor(), reader.tensor()
    sample_rate_hz = reader.field("f")
    channels = reader.field("B")
    mean, std = reader.fields(f"{channels}f"), reader.fields(f"{channels}f")
    labels = tuple(reader.string() for _ in range(reader.field("H")))
    return ModelInfo(index, name, sha256, ram_bytes, input_tensor, output_tensor, sample_rate_hz,
                     mean, std, labels)


def parse_infer(payload: bytes, output_bytes: int | None = None) -> InferResult:
    reader = _ok_reply(payload, Request.INFER)
    cost, micros = reader.fields("II")
    return InferResult(cost, micros, _output(reader, output_bytes))


def parse_input_chunk(payload: bytes) -> int:
    """The bytes of the input written so far, from offset 0 without a gap."""
    return _ok_reply(payload, Request.INPUT_CHUNK).field("I")


def parse_output_read(payload: bytes) -> bytes:
    return _ok_reply(payload, Request.OUTPUT_READ).rest()


@dataclass(frozen=True)
class LayerPiece:
    layer_count: int
    total_bytes: int  # of the layer's output
    op: str
    data: bytes  # the requested piece (the device may send less than asked)


def parse_layer_output(payload: bytes) -> LayerPiece:
    reader = _ok_reply(payload, Request.LAYER_OUTPUT)
    layer_count, total = reader.fields("HI")
    return LayerPiece(layer_count, total, reader.string(), reader.rest())


def parse_live_start(payload: bytes) -> LiveStarted:
    return LiveStarted(*_ok_reply(payload, Request.LIVE_START).fields("HHf"))


def parse_capture_start(payload: bytes) -> CaptureStarted:
    return CaptureStarted(*_ok_reply(payload, Request.CAPTURE_START).fields("Bf"))


def parse_stop(payload: bytes) -> None:
    _ok_reply(payload, Request.STOP)


def parse_error_reply(payload: bytes, request: Request) -> None:
    """A 0xFF reply to `request` (the one outstanding): always raises DeviceError."""
    status = _PayloadReader(payload, f"error reply to {request.name}").status()
    if status == Status.OK:
        raise ProtocolError(f"error reply to {request.name} with status OK")
    raise DeviceError(status, request.name)


def parse_live_result(payload: bytes, output_bytes: int | None = None) -> LiveResult:
    reader = _PayloadReader(payload, "LIVE_RESULT event")
    sample_index, label, score, cost, micros = reader.fields("IBfII")
    return LiveResult(sample_index, label, score, cost, micros, _output(reader, output_bytes))


def parse_imu_samples(payload: bytes) -> ImuSamples:
    reader = _PayloadReader(payload, "IMU_SAMPLES event")
    first_index, count = reader.fields("IB")
    if not 1 <= count <= MAX_SAMPLES_PER_EVENT:
        raise ProtocolError(f"IMU_SAMPLES event with {count} samples, not 1 to "
                            f"{MAX_SAMPLES_PER_EVENT}")
    values = np.frombuffer(reader.take(count * IMU_CHANNELS * 4), dtype="<f4")
    return ImuSamples(first_index, values.reshape(count, IMU_CHANNELS).astype(np.float32))


def parse_stream_end(payload: bytes) -> StreamEnd:
    reason, samples = _PayloadReader(payload, "STREAM_END event").fields("BI")
    try:
        return StreamEnd(StreamEndReason(reason), samples)
    except ValueError:
        raise ProtocolError(f"STREAM_END event with unknown reason {reason}") from None


def parse_reply(request: Request, frame: Frame, output_bytes: int | None = None):
    """The reply frame to `request`, parsed by its type; DeviceError for an error status."""
    request = Request(request)
    if frame.type == Reply.ERROR:
        parse_error_reply(frame.payload, request)
    if frame.type != request | REPLY_BIT:
        raise ProtocolError(f"expected the reply to {request.name} "
                            f"({request | REPLY_BIT:#04x}), got a frame of type {frame.type:#04x}")
    if request == Request.INFER:
        return parse_infer(frame.payload, output_bytes)
    return {Request.HELLO: parse_hello, Request.MODEL_INFO: parse_model_info,
            Request.LIVE_START: parse_live_start, Request.CAPTURE_START: parse_capture_start,
            Request.STOP: parse_stop, Request.INPUT_CHUNK: parse_input_chunk,
            Request.OUTPUT_READ: parse_output_read,
            Request.LAYER_OUTPUT: parse_layer_output}[request](frame.payload)


def parse_event(frame: Frame, output_bytes: int | None = None):
    """An event frame -> LiveResult, ImuSamples or StreamEnd; its seq is the event counter."""
    if frame.type == Event.LIVE_RESULT:
        return parse_live_result(frame.payload, output_bytes)
    if frame.type == Event.IMU_SAMPLES:
        return parse_imu_samples(frame.payload)
    if frame.type == Event.STREAM_END:
        return parse_stream_end(frame.payload)
    raise ProtocolError(f"frame of type {frame.type:#04x} is not an event")


# --- zero-runs input encoding (INFER encoding 1) ----------------------------------------------

def _zero_byte(zero_point: int) -> int:
    if not -128 <= zero_point <= 127:
        raise ValueError(f"zero point {zero_point} is not an int8 value")
    return zero_point & 0xFF


def encode_zero_runs(tensor_bytes: bytes, zero_point: int) -> bytes:
    """Groups of (zeros, count, literals), the shortest such encoding for inputs without
    zero-point runs over 255 bytes (and close to it with them).

    Shortest path over group boundaries: a group takes every zero-point byte it can (taking them
    is free, a literal costs a byte), then its literals end where a zero-point run starts, at the
    data's end, or at the 255-byte limit; no other end can save bytes.
    """
    data = bytes(tensor_bytes)
    zero, length = _zero_byte(zero_point), len(data)
    zero_run = [0] * (length + 1)  # zero-point bytes starting at each offset
    for offset in range(length - 1, -1, -1):
        zero_run[offset] = zero_run[offset + 1] + 1 if data[offset] == zero else 0
    run_starts = [offset for offset in range(length)
                  if zero_run[offset] and (offset == 0 or not zero_run[offset - 1])]

    cost = [math.inf] * (length + 1)
    group_start = [0] * (length + 1)
    cost[0] = 0
    for start in range(length):
        if cost[start] == math.inf:
            continue
        literals = start + min(zero_run[start], MAX_GROUP)
        last = min(literals + MAX_GROUP, length)
        ends = run_starts[bisect.bisect_right(run_starts, literals):
                          bisect.bisect_right(run_starts, last)]
        for end in {*ends, last, literals} - {start}:
            if cost[start] + 2 + end - literals < cost[end]:
                cost[end] = cost[start] + 2 + end - literals
                group_start[end] = start

    groups, end = [], length
    while end > 0:
        start = group_start[end]
        zeros = min(zero_run[start], MAX_GROUP)
        groups.append(bytes([zeros, end - start - zeros]) + data[start + zeros:end])
        end = start
    return b"".join(reversed(groups))


def decode_zero_runs(data: bytes, zero_point: int, expected_length: int) -> bytes:
    """The device's side of encoding 1, for tests: ProtocolError with status BAD_ENCODING for a
    group cut off, BAD_INPUT_LENGTH when the result is not `expected_length` bytes."""
    data, zero = bytes(data), _zero_byte(zero_point)
    out, offset = bytearray(), 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ProtocolError("zero-runs data ends inside a group header", Status.BAD_ENCODING)
        zeros, count = data[offset], data[offset + 1]
        offset += 2
        if offset + count > len(data):
            raise ProtocolError("zero-runs data ends inside a group's literals",
                                Status.BAD_ENCODING)
        out += bytes([zero]) * zeros + data[offset:offset + count]
        offset += count
    if len(out) != expected_length:
        raise ProtocolError(f"zero-runs data decodes to {len(out)} bytes, not {expected_length}",
                            Status.BAD_INPUT_LENGTH)
    return bytes(out)
