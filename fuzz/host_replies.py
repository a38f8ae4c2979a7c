"""Valid reply and event payloads of protocol version 2 (docs/protocol.md), as a device would
send them: the seeds of the host-decoder fuzzer and the answers of its fake device. The host
package has parsers only, so these builders are the device's side, checked against those
parsers by tests/test_fuzz_host.py."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from tinyml_pipeline.tools.framing import Status, encode_frame
from tinyml_pipeline.tools.protocol import (
    PROTOCOL_VERSION,
    Event,
    Reply,
    Request,
)


def _str(text: str) -> bytes:
    raw = text.encode("utf-8")[:255]
    return bytes([len(raw)]) + raw


def _tensor(shape: tuple[int, ...], scale: float = 0.5, zero_point: int = -3,
            dtype_code: int = 0) -> bytes:
    item = 1 if dtype_code == 0 else 4
    count = 1
    for dim in shape:
        count *= dim
    return (struct.pack("<BB", dtype_code, len(shape)) + struct.pack(f"<{len(shape)}i", *shape)
            + struct.pack("<Ifi", count * item, scale, zero_point))


@dataclass
class FakeModel:
    """What the fake device says about one model."""

    name: str = "digits"
    input_shape: tuple[int, ...] = (1, 4, 4, 1)
    output_shape: tuple[int, ...] = (1, 3)
    labels: tuple[str, ...] = ("a", "b", "c")
    channels: int = 0
    layers: int = 3

    @property
    def input_bytes(self) -> int:
        count = 1
        for dim in self.input_shape:
            count *= dim
        return count

    @property
    def output_bytes(self) -> int:
        count = 1
        for dim in self.output_shape:
            count *= dim
        return count


@dataclass
class FakeState:
    max_payload: int = 2048
    models: list[FakeModel] = field(default_factory=lambda: [FakeModel()])
    features: int = 1
    version: int = PROTOCOL_VERSION


def hello(state: FakeState) -> bytes:
    return (struct.pack("<BBHHBII", Status.OK, state.version, state.max_payload,
                        len(state.models), state.features, 64_000_000, 64_000_000)
            + _str("0.1.0") + _str("host") + _str("builtin") + _str("cycles"))


def model_info(state: FakeState, index: int) -> bytes:
    model = state.models[index % len(state.models)]
    return (struct.pack("<BH", Status.OK, index) + _str(model.name) + bytes(range(32))
            + struct.pack("<I", 4096) + _tensor(model.input_shape)
            + _tensor(model.output_shape, 0.00390625, -128) + struct.pack("<f", 50.0)
            + struct.pack("<B", model.channels)
            + struct.pack(f"<{2 * model.channels}f", *([0.5, 2.0] * model.channels))
            + struct.pack("<H", len(model.labels))
            + b"".join(_str(label) for label in model.labels))


def infer(output: bytes) -> bytes:
    return struct.pack("<BII", Status.OK, 1234, 56) + output


def input_chunk(written: int) -> bytes:
    return struct.pack("<BI", Status.OK, written)


def output_read(data: bytes) -> bytes:
    return bytes([Status.OK]) + data


def layer_output(layer_count: int, total: int, op: str, data: bytes) -> bytes:
    return struct.pack("<BHI", Status.OK, layer_count, total) + _str(op) + data


def live_start(steps: int = 50, hop: int = 25, rate: float = 50.0) -> bytes:
    return struct.pack("<BHHf", Status.OK, steps, hop, rate)


def capture_start(channels: int = 6, rate: float = 50.0) -> bytes:
    return struct.pack("<BBf", Status.OK, channels, rate)


def stop() -> bytes:
    return bytes([Status.OK])


def error(status: Status = Status.BAD_ARGUMENT) -> bytes:
    return bytes([status])


def live_result(output: bytes, sample_index: int = 100) -> bytes:
    return struct.pack("<IBfII", sample_index, 1, 0.75, 1000, 20) + output


def imu_samples(first_index: int = 0, count: int = 2) -> bytes:
    values = [float(i) / 8 for i in range(count * 6)]
    return struct.pack("<IB", first_index, count) + struct.pack(f"<{len(values)}f", *values)


def stream_end(reason: int = 0, samples: int = 10) -> bytes:
    return struct.pack("<BI", reason, samples)


def seeds() -> dict[str, bytes]:
    """{name: frame as sent}: one valid frame of every reply and event."""
    state = FakeState()
    model = state.models[0]
    payloads = {
        "hello": (Reply.HELLO, hello(state)),
        "model_info": (Reply.MODEL_INFO, model_info(state, 0)),
        "infer": (Reply.INFER, infer(bytes(model.output_bytes))),
        "input_chunk": (Reply.INPUT_CHUNK, input_chunk(model.input_bytes)),
        "output_read": (Reply.OUTPUT_READ, output_read(b"\x01\x02\x03")),
        "layer_output": (Reply.LAYER_OUTPUT, layer_output(3, 16, "CONV_2D", bytes(16))),
        "live_start": (Reply.LIVE_START, live_start()),
        "capture_start": (Reply.CAPTURE_START, capture_start()),
        "stop": (Reply.STOP, stop()),
        "error": (Reply.ERROR, error()),
        "event_live_result": (Event.LIVE_RESULT, live_result(bytes(model.output_bytes))),
        "event_imu_samples": (Event.IMU_SAMPLES, imu_samples()),
        "event_stream_end": (Event.STREAM_END, stream_end()),
    }
    return {name: encode_frame(type_, 1, payload) for name, (type_, payload) in payloads.items()}


# The request each reply seed answers (events and ERROR answer none of their own).
SEED_REQUESTS = {name: Request[name.upper()] for name in
                 ("hello", "model_info", "infer", "input_chunk", "output_read", "layer_output",
                  "live_start", "capture_start", "stop")}
