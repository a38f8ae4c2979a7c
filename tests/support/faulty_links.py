"""Transports that misbehave on purpose, wrapped around a real one: a noisy line that flips
bits both ways, and a device that answers with a wrong output now and then (valid frames, so
only the comparison with the reference can catch it)."""

from __future__ import annotations

import random

from tinyml_pipeline.tools.framing import Frame, FrameReader, encode_frame
from tinyml_pipeline.tools.protocol import REPLY_BIT, Request


class _Wrapper:
    def __init__(self, transport):
        self.transport = transport

    @property
    def in_waiting(self) -> int:
        return self.transport.in_waiting

    def close(self) -> None:
        self.transport.close()


class BitFlippingTransport(_Wrapper):
    """Flips one random bit in a byte with probability `rate`, in both directions."""

    def __init__(self, transport, rate: float, seed: int):
        super().__init__(transport)
        self.rate = rate
        self.random = random.Random(seed)
        self.flips = {"sent": 0, "received": 0}

    def _damage(self, data: bytes, direction: str) -> bytes:
        damaged = bytearray(data)
        for offset in range(len(damaged)):
            if self.random.random() < self.rate:
                damaged[offset] ^= 1 << self.random.randrange(8)
                self.flips[direction] += 1
        return bytes(damaged)

    def write(self, data: bytes) -> None:
        self.transport.write(self._damage(data, "sent"))

    def read(self, size: int) -> bytes:
        return self._damage(self.transport.read(size), "received")


class TamperingTransport(_Wrapper):
    """Flips the lowest bit of the first output byte of every `every`-th INFER reply, and
    frames the reply again with a correct CRC."""

    def __init__(self, transport, every: int):
        super().__init__(transport)
        self.every = every
        self.replies = 0
        self.tampered = 0
        self._reader = FrameReader()

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def read(self, size: int) -> bytes:
        data = self.transport.read(size)
        if not data:
            return data
        out = bytearray()
        for item in self._reader.feed(data):
            assert isinstance(item, Frame), "the wrapped link itself is clean"
            payload = item.payload
            if item.type == Request.INFER | REPLY_BIT and payload[0] == 0:
                self.replies += 1
                if self.replies % self.every == 0:
                    # status u8, cost u32, micros u32, then the output tensor
                    payload = payload[:9] + bytes([payload[9] ^ 1]) + payload[10:]
                    self.tampered += 1
            out += encode_frame(item.type, item.seq, payload)
        return bytes(out)
