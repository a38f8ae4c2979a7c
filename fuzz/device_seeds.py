"""The committed seed corpora of the device-core harnesses (fuzz/corpus/device_raw/ and
fuzz/corpus/device_frames/), written by `python -m fuzz.device --write-seeds`.

device_raw seeds are wire bytes: frames of every command, built with the host's own encoder
(tools/framing.py). device_frames seeds are scripts in firmware/fuzz/fuzz_device_frames.c's
grammar: a 10-byte header (flags: the board's and the backend's variant; IMU idle period, IMU
samples, IMU seed, first seq) and then one action byte and its arguments per request; each
request ends in its delivery bytes (read size, idle polls between reads)."""

from __future__ import annotations

import struct

from tinyml_pipeline.tools.framing import encode_frame

# The committed models' order in firmware/lib/models/tinyml_models.c, and their input sizes.
ACTIVITY, DIGITS, LINEAR = 0, 1, 2
INPUT_BYTES = {ACTIVITY: 600, DIGITS: 784, LINEAR: 1}

HELLO, MODEL_INFO, INFER, LIVE_START, CAPTURE_START, STOP = 1, 2, 3, 4, 5, 6
INPUT_CHUNK, OUTPUT_READ, LAYER_OUTPUT = 7, 8, 9


def _u16(value: int) -> bytes:
    return struct.pack("<H", value)


def _u32(value: int) -> bytes:
    return struct.pack("<I", value)


def raw_seeds() -> dict[str, bytes]:
    seq = iter(range(1, 1000))

    def frame(type_: int, payload: bytes = b"") -> bytes:
        return encode_frame(type_, next(seq), payload)

    staged = (frame(INPUT_CHUNK, _u16(ACTIVITY) + _u32(0) + _u16(600) + bytes(range(200)) * 3)
              + frame(INFER, _u16(ACTIVITY) + b"\x02")
              + frame(OUTPUT_READ, _u16(ACTIVITY) + _u32(0) + _u16(4)))
    return {
        "hello": b"\x00" + frame(HELLO),
        "model_info": b"".join(frame(MODEL_INFO, _u16(index)) for index in range(4)),
        "infer_raw": frame(INFER, _u16(LINEAR) + b"\x00\x05")
        + frame(INFER, _u16(DIGITS) + b"\x00" + bytes(784)),
        "infer_zero_runs": frame(INFER, _u16(DIGITS) + b"\x01" + b"\xff\x02\x10\x20" * 3
                                 + b"\x00\x00"),
        "staged": staged,
        "layer_output": frame(INPUT_CHUNK, _u16(LINEAR) + _u32(0) + _u16(1) + b"\x07")
        + frame(LAYER_OUTPUT, _u16(LINEAR) + _u16(0) + _u32(0) + _u16(16)),
        "live": frame(LIVE_START, _u16(ACTIVITY) + _u16(10)) + b"\x00" * 8 + frame(STOP),
        "capture": frame(CAPTURE_START, struct.pack("<f", 50.0) + _u32(20)) + frame(STOP),
        "link_trouble": b"\x00\x05\x01\x02\x03\x00" + frame(0x30, b"\x01") + b"\x03\x01\x01\x00",
    }


def _header(flags: int = 0, idle_every: int = 0, samples: int = 300, seed: int = 12345,
            seq: int = 1) -> bytes:
    return bytes([flags, idle_every]) + _u16(samples) + _u32(seed) + _u16(seq)


DELIVER = b"\x00\x00"          # whole reads, no idle polls
DELIVER_SLOW = b"\x07\x02"      # 7-byte reads, two idle polls after each


def frames_seeds() -> dict[str, bytes]:
    act_hello, act_info, act_infer, act_chunk, act_read = 0, 1, 2, 4, 6
    act_layer, act_live, act_capture, act_stop, act_unknown = 7, 8, 9, 10, 11
    act_crc, act_trouble, act_idle = 12, 13, 14

    def infer_raw(model: int) -> bytes:
        # model, encoding, length as is, tensor: no literals, pattern seed 3
        return bytes([act_infer, model, 0, 0, 0, 3]) + DELIVER

    return {
        "info": _header() + bytes([act_hello, 0]) + DELIVER
        + b"".join(bytes([act_info, model, 0]) + DELIVER for model in (0, 1, 2))
        + b"".join(infer_raw(model) for model in (0, 1, 2)),
        "staged": _header() + bytes([act_chunk, ACTIVITY, 0]) + _u16(0) + _u16(0) + b"\x00\x00\x09"
        + DELIVER_SLOW + bytes([act_infer, ACTIVITY, 2, 0]) + DELIVER
        + bytes([act_read, ACTIVITY, 0]) + _u16(0) + _u16(4) + b"\x00" + DELIVER,
        "zero_runs": _header() + bytes([act_infer, DIGITS, 1, 3, 255, 2, 2, 1, 2, 10, 0, 0, 0])
        + DELIVER,
        "layer": _header() + bytes([act_chunk, DIGITS, 0]) + _u16(0) + _u16(0) + b"\x00\x00\x05"
        + DELIVER + bytes([act_layer, DIGITS, 0, 2, 0]) + _u16(64) + b"\x00" + DELIVER
        + bytes([act_layer, DIGITS, 0, 2, 0x90, 0x40, 0x00]) + _u16(64) + b"\x00" + DELIVER,
        "live": _header(idle_every=3) + bytes([act_live, ACTIVITY, 0, 10, 0]) + DELIVER
        + bytes([act_idle, 31]) * 3 + bytes([act_stop, 0]) + DELIVER_SLOW,
        "capture": _header(samples=40) + bytes([act_capture, 4, 0, 30, 0]) + DELIVER
        + bytes([act_idle, 10]) + bytes([act_stop, 0]) + DELIVER,
        # flags 8: a backend without tensors in place; 16 | 1 << 5: model 1 fails to prepare
        "no_staging": _header(flags=8) + bytes([act_chunk, LINEAR, 0]) + _u16(0) + _u16(0)
        + b"\x00\x00\x05" + DELIVER + bytes([act_layer, LINEAR, 0, 0, 0]) + _u16(8) + b"\x00"
        + DELIVER + bytes([act_infer, LINEAR, 2, 0]) + DELIVER,
        "failing": _header(flags=16 | 1 << 5) + infer_raw(DIGITS) + infer_raw(LINEAR)
        + bytes([act_chunk, DIGITS, 0]) + _u16(0) + _u16(0) + b"\x00\x00\x05" + DELIVER
        + bytes([act_live, ACTIVITY, 0, 10, 0]) + DELIVER + bytes([act_idle, 31]) * 4,
        "trouble": _header(flags=1) + bytes([act_unknown, 0x81, 1, 0]) + DELIVER
        + bytes([act_crc, HELLO, 0]) + _u16(9) + DELIVER
        + bytes([act_trouble, 0, 2]) + DELIVER + bytes([act_trouble, 2, 3, 1, 2, 3]) + DELIVER
        + bytes([act_trouble, 3, 1, 5]) + DELIVER_SLOW
        + bytes([act_live, ACTIVITY, 0, 10, 0]) + DELIVER,
    }
