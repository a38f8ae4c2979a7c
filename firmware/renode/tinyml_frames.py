"""Robot Framework keywords for hello.robot: decode the device's reply frames (docs/protocol.md).

Not runnable on the development machine as part of the Robot test (no Renode there); see README.md.
The decoding itself is plain Python, tested by tests/test_firmware_nano33ble.py.

Self-contained on purpose: Renode's test runner imports this file by path, without the
repository's Python package on sys.path.
"""

import struct
import zlib

HELLO_REPLY = 0x81
FRAME_ERROR = 0xFF


def cobs_decode(data: bytes) -> bytes:
    """Undo COBS stuffing (the data between two 0x00 delimiters, without them)."""
    out = bytearray()
    index = 0
    while index < len(data):
        code = data[index]
        end = index + code
        if code == 0 or end > len(data):
            raise AssertionError(f"bad COBS at byte {index}: code {code:#04x}")
        out += data[index + 1:end]
        index = end
        # A zero follows every block except a full one (code 0xFF) and the last.
        if code != 0xFF and index < len(data):
            out.append(0)
    return bytes(out)


def decode_frame(wire) -> dict:
    """Decode one frame's bytes (COBS, without the 0x00 delimiter) and check its CRC-32."""
    frame = cobs_decode(_as_bytes(wire))
    if len(frame) < 7:
        raise AssertionError(f"frame of {len(frame)} bytes is shorter than a header and a CRC")
    body, crc = frame[:-4], struct.unpack("<I", frame[-4:])[0]
    if zlib.crc32(body) != crc:
        raise AssertionError(f"CRC mismatch: frame says {crc:#010x}, bytes give "
                             f"{zlib.crc32(body):#010x}")
    return {"type": body[0], "seq": struct.unpack("<H", body[1:3])[0], "payload": body[3:]}


def decode_hello_reply(wire, seq=1) -> dict:
    """Decode a HELLO reply and check that it answers request `seq` with status OK."""
    frame = decode_frame(wire)
    if frame["type"] != HELLO_REPLY:
        raise AssertionError(f"expected a hello reply (0x81), got type {frame['type']:#04x} "
                             f"with payload {frame['payload'].hex(' ')}")
    if frame["seq"] != int(seq):
        raise AssertionError(f"reply has seq {frame['seq']}, the request had {seq}")
    payload = frame["payload"]
    if not payload or payload[0] != 0:
        raise AssertionError(f"hello reply status {payload[:1].hex() or 'missing'}, not OK (00)")
    fields = {}
    (fields["protocol_version"], fields["max_payload"], fields["model_count"],
     fields["features"], fields["cpu_hz"], fields["cost_hz"]) = struct.unpack_from(
        "<BHHBII", payload, 1)
    at = 1 + struct.calcsize("<BHHBII")
    for name in ("firmware_version", "board", "backend", "cost_unit"):
        length = payload[at]
        fields[name] = payload[at + 1:at + 1 + length].decode("utf-8")
        at += 1 + length
    return fields


def _as_bytes(data) -> bytes:
    # Renode's binary tester hands over bytes; a Latin-1 string holds the same byte values.
    if isinstance(data, str):
        return data.encode("latin-1")
    return bytes(data)
