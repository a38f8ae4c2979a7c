"""A firmware speaking the serial protocol (docs/protocol.md), seen from the host: one method
per command, a context manager, timeouts on every read, and retries when a frame arrives
damaged either way.

The transport is anything with ``read(size) -> bytes`` that returns what has arrived (``b""``
when nothing came within its own short timeout), ``write(data)`` and ``close()``: a pyserial
port (``serial_for_url``) or `PipeTransport` over a process's stdin and stdout.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import select
import subprocess
import time

import numpy as np

from tinyml_pipeline.tools import protocol
from tinyml_pipeline.tools.framing import (
    DEFAULT_MAX_PAYLOAD,
    DeviceError,
    Frame,
    FrameError,
    FrameReader,
    ProtocolError,
    encode_frame,
)
from tinyml_pipeline.tools.protocol import Encoding, Request

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 3
EVENT_TYPES = range(0x40, 0x80)
# Larger than the RAM of any board this serves: a layer output claimed larger is a garbled or
# hostile reply, and reading it would loop and accumulate for as long as the device pleased.
MAX_LAYER_BYTES = 1 << 24


class DeviceTimeout(ProtocolError):
    """The device did not answer in time: it hung, reset or was unplugged."""


class ConnectionLost(ProtocolError):
    """The link closed: the emulator exited or the port went away."""


class _ReplyLost(ProtocolError):
    """A request that must not simply be sent again lost its reply (see Device.request)."""


class PipeTransport:
    """The link of a process that speaks the protocol on its stdin and stdout (the host port)."""

    def __init__(self, process: subprocess.Popen, poll_s: float = 0.05):
        self.process = process
        self.poll_s = poll_s

    def read(self, size: int) -> bytes:
        fd = self.process.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], self.poll_s)
        if not ready:
            return b""
        data = os.read(fd, size)
        if not data:
            raise ConnectionLost(f"the device process exited (status {self.process.poll()})")
        return data

    def write(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise ConnectionLost("the device process is gone") from None

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except BrokenPipeError:
                    pass


@dataclasses.dataclass(frozen=True)
class LayerOutput:
    op: str
    layer_count: int
    data: bytes


class Device:
    """Talks to one device. Replies are matched to requests by seq; events that arrive in
    between are kept in `events`, in order."""

    def __init__(self, transport, timeout: float = DEFAULT_TIMEOUT_S,
                 retries: int = DEFAULT_RETRIES):
        self.transport = transport
        self.timeout = timeout
        self.retries = retries
        self.retries_used = 0  # requests sent again after a damaged frame either way
        self.bytes_sent = 0  # on the wire, framing and retries included
        self.events: collections.deque = collections.deque()
        self._reader = FrameReader()
        self._seq = 0
        self._output_bytes: dict[int, int] = {}
        self._max_payload: int | None = None  # from HELLO
        self._write(b"\x00")  # ends whatever partial frame the device holds

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    # --- the commands -----------------------------------------------------------------------

    def hello(self, timeout: float | None = None) -> protocol.Hello:
        hello = self.request(Request.HELLO, protocol.hello_request(), timeout=timeout)
        self._max_payload = hello.max_payload
        return hello

    def model_info(self, index: int) -> protocol.ModelInfo:
        info = self.request(Request.MODEL_INFO, protocol.model_info_request(index))
        self._output_bytes[index] = info.output.nbytes
        return info

    def models(self, count: int | None = None) -> list[protocol.ModelInfo]:
        if count is None:
            count = self.hello().model_count
        return [self.model_info(index) for index in range(count)]

    def infer(self, model: int, tensor: bytes | np.ndarray,
              encoding: Encoding | None = Encoding.RAW, zero_point: int = 0,
              timeout: float | None = None) -> protocol.InferResult:
        """encoding None sends the input in whichever encoding is shorter. An input or output
        larger than the device's max_payload travels in chunks (docs/protocol.md, "Tensors
        larger than a frame"), the input raw."""
        if encoding is None:
            payload = protocol.shortest_infer_request(model, tensor, zero_point)
        else:
            payload = protocol.infer_request(model, tensor, encoding, zero_point)
        output_bytes = self._output_bytes.get(model)
        limit = self._max_payload or DEFAULT_MAX_PAYLOAD
        if len(payload) > limit or (output_bytes or 0) + protocol.INFER_REPLY_HEADER > limit:
            return self._infer_chunked(model, tensor, timeout)
        return self.request(Request.INFER, payload, timeout=timeout, output_bytes=output_bytes)

    def _infer_chunked(self, model: int, tensor: bytes | np.ndarray,
                       timeout: float | None) -> protocol.InferResult:
        data = tensor.tobytes() if isinstance(tensor, np.ndarray) else bytes(tensor)
        if self._max_payload is None:
            self.hello()
        if model not in self._output_bytes:
            self.model_info(model)
        limit, output_bytes = self._max_payload, self._output_bytes[model]
        for attempt in range(self.retries + 1):
            if attempt:
                self.retries_used += 1
            # Chunks rewrite the same bytes when resent, so they retry as any request does.
            per_chunk = limit - protocol.CHUNK_HEADER.size
            for offset, length in protocol.chunk_spans(len(data), per_chunk):
                self.request(Request.INPUT_CHUNK, protocol.input_chunk_request(
                    model, offset, data[offset:offset + length]))
            # The invoke consumes the staged input, so an INFER whose reply is lost cannot be
            # sent alone again: the input is staged anew first.
            try:
                result = self.request(Request.INFER, protocol.staged_infer_request(model),
                                      timeout=timeout, output_bytes=_inline(output_bytes, limit),
                                      resend=False)
            except _ReplyLost:
                continue
            if _inline(output_bytes, limit) == output_bytes:
                return result
            output = b"".join(
                self.request(Request.OUTPUT_READ, protocol.output_read_request(model, *span))
                for span in protocol.chunk_spans(output_bytes, limit - 1))
            return protocol.InferResult(result.cost, result.micros, output)
        raise ProtocolError(f"INFER: reply still lost after {self.retries} retries; "
                            "check the cable or the baud rate")

    def layer_output(self, model: int, layer: int, tensor: bytes | np.ndarray) -> LayerOutput:
        """Layer `layer`'s output for the input `tensor`: the input is staged in chunks, the
        device runs layers 0 to `layer` on it, and the output is read piece by piece."""
        data = tensor.tobytes() if isinstance(tensor, np.ndarray) else bytes(tensor)
        if self._max_payload is None:
            self.hello()
        limit = self._max_payload
        for attempt in range(self.retries + 1):
            if attempt:
                self.retries_used += 1
            for offset, length in protocol.chunk_spans(len(data),
                                                       limit - protocol.CHUNK_HEADER.size):
                self.request(Request.INPUT_CHUNK, protocol.input_chunk_request(
                    model, offset, data[offset:offset + length]))
            # The run consumes the staged input: after a lost reply the input is staged anew.
            try:
                first = self.request(Request.LAYER_OUTPUT, protocol.layer_output_request(
                    model, layer, 0, limit), resend=False)
                break
            except _ReplyLost:
                continue
        else:
            raise ProtocolError(f"LAYER_OUTPUT: reply still lost after {self.retries} retries")
        if first.total_bytes > MAX_LAYER_BYTES:
            raise ProtocolError(f"LAYER_OUTPUT: the device claims a layer output of "
                                f"{first.total_bytes:,} bytes, more than the {MAX_LAYER_BYTES:,} "
                                "a device can hold")
        pieces = [first.data]
        received = len(first.data)
        while received < first.total_bytes:
            piece = self.request(Request.LAYER_OUTPUT, protocol.layer_output_request(
                model, layer, received, min(limit, first.total_bytes - received)))
            if not piece.data:
                raise ProtocolError(f"LAYER_OUTPUT: the device sent no bytes at offset {received}")
            pieces.append(piece.data)
            received += len(piece.data)
        return LayerOutput(first.op, first.layer_count, b"".join(pieces)[:first.total_bytes])

    def live_start(self, model: int, hop: int = 0) -> protocol.LiveStarted:
        return self.request(Request.LIVE_START, protocol.live_start_request(model, hop))

    def capture_start(self, sample_rate_hz: float, limit: int = 0) -> protocol.CaptureStarted:
        return self.request(Request.CAPTURE_START,
                            protocol.capture_start_request(sample_rate_hz, limit))

    def stop(self) -> None:
        self.request(Request.STOP, protocol.stop_request())

    def next_event(self, timeout: float | None = None):
        """The next event (LiveResult, ImuSamples or StreamEnd), waiting up to `timeout`."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while not self.events:
            if time.monotonic() > deadline:
                raise DeviceTimeout(f"no event from the device within {timeout:g} s")
            self._receive()
        return self.events.popleft()

    # --- requests and replies ---------------------------------------------------------------

    def request(self, request: Request, payload: bytes, timeout: float | None = None,
                output_bytes: int | None = None, resend: bool = True):
        """Sends a request and returns its parsed reply. Sends it again, with a new seq, when
        the request or its reply was damaged on the way, and once after a silence (a damaged
        frame end leaves a reply unfinished until the next frame arrives); raises DeviceError
        for an error status, DeviceTimeout when the device stays silent twice running. With
        resend False, a request the device may have carried out is not sent again: _ReplyLost
        is raised instead, for the caller to start over."""
        timeout = self.timeout if timeout is None else timeout
        silent_before = False
        for attempt in range(self.retries + 1):
            if attempt:
                self.retries_used += 1
            self._seq = (self._seq + 1) & 0xFFFF
            if self._seq == 0xFFFF:  # the seq the device uses when it cannot read one
                self._seq = 0
            self._write(encode_frame(request, self._seq, payload))
            try:
                frame = self._await_reply(request, self._seq, timeout)
            except DeviceTimeout:
                if silent_before or attempt == self.retries:
                    raise
                if not resend:
                    raise _ReplyLost(f"{request.name}: no reply") from None
                silent_before = True
                continue
            silent_before = False
            if frame is None:
                if not resend:
                    raise _ReplyLost(f"{request.name}: the reply was damaged")
                continue
            try:
                return protocol.parse_reply(request, frame, output_bytes)
            except DeviceError as error:
                if not error.retriable:
                    raise
                if not resend:
                    raise _ReplyLost(f"{request.name}: the request was damaged") from None
        raise ProtocolError(f"{request.name}: still damaged after {self.retries} retries; "
                            "check the cable or the baud rate")

    def _await_reply(self, request: Request, seq: int, timeout: float) -> Frame | None:
        """The reply frame to `seq`, or None when a damaged frame arrived instead of it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self._receive():
                if isinstance(item, FrameError):
                    return None
                if item.type == protocol.Reply.ERROR and item.seq in (seq, 0xFFFF):
                    return item
                if item.seq == seq and item.type == request | protocol.REPLY_BIT:
                    return item
        raise DeviceTimeout(f"the device did not answer {request.name} within {timeout:g} s "
                            "(did it reset, or is this the wrong port?)")

    def _write(self, data: bytes) -> None:
        try:
            self.transport.write(data)
            self.bytes_sent += len(data)
        except OSError as error:  # pyserial's SerialException is an OSError
            raise ConnectionLost(f"the link broke while sending: {error}") from None

    def _read_available(self) -> bytes:
        """What has arrived, waiting at most the transport's poll time for the first byte.
        pyserial's read(n) waits for all n bytes, so it is asked for what is already there."""
        try:
            if not hasattr(self.transport, "in_waiting"):
                return self.transport.read(4096)
            data = self.transport.read(1)
            waiting = self.transport.in_waiting if data else 0
            return data + self.transport.read(waiting) if waiting else data
        except OSError as error:  # a USB board reset or unplugged, an emulator gone
            raise ConnectionLost(f"the link broke: {error} (did the device reset or "
                                 "disconnect?)") from None

    def _receive(self) -> list:
        """Reads what has arrived; returns the replies and damaged frames, keeps the events."""
        data = self._read_available()
        replies = []
        for item in self._reader.feed(data) if data else ():
            if isinstance(item, Frame) and item.type in EVENT_TYPES:
                self.events.append(protocol.parse_event(item))
            else:
                replies.append(item)
        return replies


def _inline(output_bytes: int, max_payload: int) -> int:
    """The output bytes an INFER reply carries: all of them, or none when they do not fit."""
    return output_bytes if output_bytes + protocol.INFER_REPLY_HEADER <= max_payload else 0
