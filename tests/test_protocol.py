"""The host side of the serial protocol against docs/protocol.md: frames, COBS, CRC, the reader's
resynchronization, every request and reply layout, and the zero-runs input encoding.

Payloads here are built by hand with struct from the spec's tables, not with the code under test.
"""

import json
import random
import struct

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, REPO_ROOT
from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.framing import (
    BadCrc,
    BadFraming,
    DeviceError,
    Frame,
    FrameReader,
    OversizedFrame,
    ProtocolError,
    Status,
    TruncatedFrame,
    cobs_decode,
    cobs_encode,
    crc32,
    decode_frame,
    encode_frame,
    max_stuffed_length,
)
from tinyml_pipeline.tools.protocol import (
    Encoding,
    Event,
    Feature,
    ImuSamples,
    Reply,
    Request,
    StreamEndReason,
    capture_start_request,
    decode_zero_runs,
    encode_zero_runs,
    hello_request,
    infer_request,
    live_start_request,
    model_info_request,
    parse_capture_start,
    parse_event,
    parse_hello,
    parse_imu_samples,
    parse_infer,
    parse_live_result,
    parse_live_start,
    parse_model_info,
    parse_reply,
    parse_stop,
    parse_stream_end,
    stop_request,
)


def _str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return bytes([len(raw)]) + raw


# --- CRC, COBS, frames -------------------------------------------------------------------------

def test_worked_example_byte_for_byte():
    assert crc32(bytes([0x01, 0x01, 0x00])) == 0xE7988264
    wire = bytes.fromhex("03 01 01 05 64 82 98 e7 00")
    assert encode_frame(Request.HELLO, 1, hello_request()) == wire
    assert decode_frame(wire) == Frame(0x01, 1, b"")
    assert decode_frame(wire[:-1]) == Frame(0x01, 1, b"")


def test_crc_check_value():
    assert crc32(b"123456789") == 0xCBF43926


ASCENDING_254 = bytes(range(1, 255))
COBS_VECTORS = [  # worked by hand from the spec's description of COBS
    (b"", "01"),
    (b"\x00", "01 01"),
    (b"\x00\x00", "01 01 01"),
    (b"\x11\x22\x00\x33", "03 11 22 02 33"),
    (b"\x11\x22\x33\x44", "05 11 22 33 44"),
    (b"\x11\x00\x00\x00", "02 11 01 01 01"),
    (ASCENDING_254, "ff" + ASCENDING_254.hex()),
    (ASCENDING_254 + b"\xff", "ff" + ASCENDING_254.hex() + "02 ff"),
    (b"\x00" + ASCENDING_254, "01 ff" + ASCENDING_254.hex()),
    (ASCENDING_254 + b"\x00", "ff" + ASCENDING_254.hex() + "01 01"),
]


@pytest.mark.parametrize("data, stuffed", COBS_VECTORS)
def test_cobs_known_vectors(data, stuffed):
    assert cobs_encode(data) == bytes.fromhex(stuffed)
    assert cobs_decode(bytes.fromhex(stuffed)) == data


def test_cobs_decoder_accepts_a_final_empty_piece_after_a_full_block():
    assert cobs_decode(b"\xff" + ASCENDING_254 + b"\x01") == ASCENDING_254


def _cobs_cases():
    rng = random.Random(1)
    for length in (254, 255, 508, 509, 253 + 254):
        yield bytes(rng.randrange(1, 256) for _ in range(length))
        yield b"\x00" + bytes(rng.randrange(1, 256) for _ in range(length)) + b"\x00"
    for length in (1, 254, 255, 1000):
        yield bytes(length)
    for _ in range(300):
        zero_share = rng.choice((0.0, 0.01, 0.3, 0.9))
        yield bytes(0 if rng.random() < zero_share else rng.randrange(1, 256)
                    for _ in range(rng.randrange(0, 1200)))


def test_cobs_round_trips_without_zeros_and_within_the_overhead_bound():
    for data in _cobs_cases():
        stuffed = cobs_encode(data)
        assert 0 not in stuffed
        assert len(stuffed) <= len(data) + len(data) // 254 + 1
        assert cobs_decode(stuffed) == data


@pytest.mark.parametrize("stuffed", ["05 11 22", "02", "ff 01 02", "03 11 00 22", "00"])
def test_invalid_cobs_is_bad_framing(stuffed):
    with pytest.raises(BadFraming) as caught:
        cobs_decode(bytes.fromhex(stuffed))
    assert caught.value.status == Status.BAD_FRAMING


def test_frame_errors_carry_the_spec_status_and_seq():
    good = encode_frame(0x03, 0x1234, b"\x01\x02\x03")[:-1]
    raw = bytearray(cobs_decode(good))
    raw[4] ^= 0x40
    with pytest.raises(BadCrc) as caught:
        decode_frame(cobs_encode(bytes(raw)))
    assert (caught.value.status, caught.value.seq) == (Status.BAD_CRC, 0x1234)

    with pytest.raises(TruncatedFrame) as caught:
        decode_frame(cobs_encode(b"\x01\x34\x12\x00\x00\x00"))
    assert (caught.value.status, caught.value.seq) == (Status.TRUNCATED, 0x1234)
    with pytest.raises(TruncatedFrame) as caught:
        decode_frame(cobs_encode(b"\x01\x34"))
    assert caught.value.seq is None

    with pytest.raises(BadFraming):
        decode_frame(b"\x09\x01\x02")
    for error in (BadCrc, TruncatedFrame, BadFraming, OversizedFrame):
        assert issubclass(error, ProtocolError) and issubclass(error, TinyMLError)
    assert ProtocolError("x").exit_code == 2


def test_encode_frame_refuses_out_of_range_header_fields():
    for type_, seq in ((256, 0), (1, 65536), (-1, 0)):
        with pytest.raises(ValueError):
            encode_frame(type_, seq, b"")


def test_frame_round_trip_with_a_payload_of_zeros_and_a_large_one():
    for payload in (bytes(100), bytes(range(256)) * 8):
        assert decode_frame(encode_frame(0x83, 65535, payload)) == Frame(0x83, 65535, payload)


# --- FrameReader -------------------------------------------------------------------------------

def _frames(*items):
    return [(item.type, item.seq, item.payload) if isinstance(item, Frame) else type(item)
            for item in items]


def test_reader_resynchronizes_after_garbage_and_skips_empty_frames():
    first, second = encode_frame(0x81, 1, b"\x00hello"), encode_frame(0x42, 7, b"")
    reader = FrameReader()
    results = reader.feed(b"\x00\x00\x17\x99garbage\x00" + first + b"\x00\x00" + second)
    assert _frames(*results) == [BadFraming, (0x81, 1, b"\x00hello"), (0x42, 7, b"")]
    assert reader.pending == 0


def test_reader_assembles_frames_delivered_byte_by_byte():
    long_payload, short_payload = bytes(range(256)) + bytes(range(44)), b"\x01\x05\x00\x00\x00"
    stream = encode_frame(0x83, 2, long_payload) + encode_frame(0x43, 3, short_payload)
    reader, results = FrameReader(), []
    for byte in stream:
        results += reader.feed(bytes([byte]))
    assert _frames(*results) == [(0x83, 2, long_payload), (0x43, 3, short_payload)]


def test_reader_reports_bad_frames_in_order_and_keeps_going():
    good = encode_frame(0x86, 9, b"\x00")
    bad_crc = bytearray(good)
    bad_crc[-2] ^= 0x01
    results = FrameReader().feed(bytes(bad_crc) + b"\x02\x05\x00" + good)
    assert _frames(*results) == [BadCrc, TruncatedFrame, (0x86, 9, b"\x00")]


def test_reader_drops_an_oversized_frame_once_up_to_the_next_delimiter():
    reader = FrameReader(max_frame_bytes=32)
    results = []
    for _ in range(10):  # 100 bytes in pieces, no delimiter yet
        results += reader.feed(b"\x0b" * 10)
    assert results == [] and reader.pending == 0
    results = reader.feed(b"\x0b" * 5 + b"\x00" + encode_frame(0x81, 4, b"\x00"))
    assert _frames(*results) == [OversizedFrame, (0x81, 4, b"\x00")]
    assert results[0].status == Status.OVERSIZED


def test_reader_default_bound_admits_the_largest_standard_frame():
    largest = encode_frame(0x83, 1, bytes([0x55]) * 2048)
    assert len(largest) - 1 <= max_stuffed_length(2048)
    assert _frames(*FrameReader().feed(largest)) == [(0x83, 1, bytes([0x55]) * 2048)]


# --- requests ----------------------------------------------------------------------------------

def test_request_payloads():
    assert hello_request() == b"" and stop_request() == b""
    assert model_info_request(3) == b"\x03\x00"
    assert infer_request(258, b"\x80\x80\x05") == b"\x02\x01\x00\x80\x80\x05"
    zero_runs = infer_request(1, b"\x80\x80\x05", Encoding.ZERO_RUNS, zero_point=-128)
    assert zero_runs == b"\x01\x00\x01\x02\x01\x05"
    assert infer_request(0, np.array([[1, -1]], dtype=np.int8)) == b"\x00\x00\x00\x01\xff"
    assert live_start_request(2) == b"\x02\x00\x00\x00"
    assert live_start_request(1, 25) == b"\x01\x00\x19\x00"
    assert capture_start_request(50.0, 500) == struct.pack("<fI", 50.0, 500)
    assert capture_start_request(100.0) == struct.pack("<fI", 100.0, 0)


def test_request_fields_out_of_range_are_refused():
    with pytest.raises(ValueError):
        model_info_request(65536)
    with pytest.raises(ValueError):
        live_start_request(0, -1)
    with pytest.raises(ValueError):
        infer_request(0, b"", Encoding.ZERO_RUNS, zero_point=200)


# --- replies and events ------------------------------------------------------------------------

HELLO = (struct.pack("<BBHHBII", 0, 2, 2048, 3, 1, 64_000_000, 64_000_000)
         + _str("0.1.0") + _str("nano33ble-rev2") + _str("builtin") + _str("cycles"))
DIGITS_INPUT = struct.pack("<BB4iIfi", 0, 4, 1, 28, 28, 1, 784, 1 / 255, -128)
DIGITS_OUTPUT = struct.pack("<BB2iIfi", 0, 2, 1, 10, 10, 1 / 256, -128)
MODEL_INFO = (struct.pack("<BH", 0, 1) + _str("digits") + bytes(range(32))
              + struct.pack("<I", 12_345) + DIGITS_INPUT + DIGITS_OUTPUT
              + struct.pack("<fB", 0.0, 0) + struct.pack("<H", 2) + _str("zero") + _str("één"))
ACTIVITY_INPUT = struct.pack("<BB3iIfi", 1, 3, 1, 100, 6, 2400, 0.0, 0)
ACTIVITY_INFO = (struct.pack("<BH", 0, 2) + _str("activity") + bytes(32) + struct.pack("<I", 64)
                 + ACTIVITY_INPUT + DIGITS_OUTPUT + struct.pack("<fB", 10.0, 6)
                 + struct.pack("<6f", *range(6)) + struct.pack("<6f", *range(1, 7))
                 + struct.pack("<H", 0))
OUTPUT = bytes(range(10))
INFER = struct.pack("<BII", 0, 379_360, 5_930) + OUTPUT
LIVE_START = struct.pack("<BHHf", 0, 100, 10, 10.0)
CAPTURE_START = struct.pack("<BBf", 0, 6, 52.0)
STOP = b"\x00"
SAMPLES = np.arange(18, dtype=np.float32).reshape(3, 6) / 4
LIVE_RESULT = struct.pack("<IBfII", 199, 3, 0.75, 1_000, 16) + OUTPUT
IMU_SAMPLES = struct.pack("<IB", 40, 3) + SAMPLES.astype("<f4").tobytes()
STREAM_END = struct.pack("<BI", 1, 500)


def test_parse_hello_and_ignore_trailing_bytes():
    for payload in (HELLO, HELLO + b"\x07new fields"):
        hello = parse_hello(payload)
        assert (hello.protocol_version, hello.max_payload, hello.model_count) == (2, 2048, 3)
        assert (hello.cpu_hz, hello.cost_hz) == (64_000_000, 64_000_000)
        assert (hello.firmware_version, hello.board, hello.backend, hello.cost_unit) == (
            "0.1.0", "nano33ble-rev2", "builtin", "cycles")
        assert hello.has_imu and Feature.IMU in hello.features
    assert not parse_hello(HELLO[:6] + b"\x00" + HELLO[7:]).has_imu
    assert parse_hello(HELLO[:6] + b"\xff" + HELLO[7:]).has_imu  # unknown feature bits ignored


def test_hello_with_another_protocol_version_is_refused():
    with pytest.raises(ProtocolError, match="protocol version 1, this host version 2"):
        parse_hello(b"\x00\x01" + HELLO[2:])
    with pytest.raises(ProtocolError, match="protocol version 3, this host version 2"):
        parse_hello(b"\x00\x03")  # refused before its (maybe different) layout is read


def test_parse_model_info():
    info = parse_model_info(MODEL_INFO)
    assert (info.index, info.name, info.ram_bytes) == (1, "digits", 12_345)
    assert info.sha256 == bytes(range(32)).hex()
    assert (info.input.dtype, info.input.shape, info.input.nbytes) == ("int8", (1, 28, 28, 1), 784)
    assert info.input.scale == pytest.approx(1 / 255) and info.input.zero_point == -128
    assert (info.output.shape, info.output.nbytes, info.output.scale) == ((1, 10), 10, 1 / 256)
    assert (info.sample_rate_hz, info.mean, info.std) == (0.0, (), ())
    assert info.labels == ("zero", "één")

    activity = parse_model_info(ACTIVITY_INFO + b"\x01")
    assert activity.input.dtype == "float32" and activity.input.shape == (1, 100, 6)
    assert activity.sample_rate_hz == 10.0
    assert activity.mean == (0, 1, 2, 3, 4, 5) and activity.std == (1, 2, 3, 4, 5, 6)
    assert activity.labels == ()


def test_parse_infer_live_capture_and_stop():
    result = parse_infer(INFER + b"\xee", output_bytes=10)
    assert (result.cost, result.micros, result.output) == (379_360, 5_930, OUTPUT)
    assert parse_infer(INFER).output == OUTPUT
    live = parse_live_start(LIVE_START)
    assert (live.steps, live.hop, live.sample_rate_hz) == (100, 10, 10.0)
    capture = parse_capture_start(CAPTURE_START + b"\x00")
    assert (capture.channels, capture.sample_rate_hz) == (6, 52.0)
    assert parse_stop(STOP) is None


def test_parse_events():
    result = parse_live_result(LIVE_RESULT, output_bytes=10)
    assert (result.sample_index, result.label, result.score) == (199, 3, 0.75)
    assert (result.cost, result.micros, result.output) == (1_000, 16, OUTPUT)
    samples = parse_imu_samples(IMU_SAMPLES + b"\x00\x00")
    assert samples.first_index == 40
    assert samples.samples.dtype == np.float32 and samples.samples.shape == (3, 6)
    assert np.array_equal(samples.samples, SAMPLES)
    end = parse_stream_end(STREAM_END)
    assert (end.reason, end.samples) == (StreamEndReason.COMPLETE, 500)

    assert isinstance(parse_event(Frame(Event.IMU_SAMPLES, 5, IMU_SAMPLES)), ImuSamples)
    assert parse_event(Frame(0x43, 6, STREAM_END)) == end
    assert parse_event(Frame(0x41, 7, LIVE_RESULT), output_bytes=10) == result
    with pytest.raises(ProtocolError, match="not an event"):
        parse_event(Frame(0x81, 0, HELLO))


REPLIES = [  # (request, payload, parser, output bytes)
    (Request.HELLO, HELLO, parse_hello),
    (Request.MODEL_INFO, MODEL_INFO, parse_model_info),
    (Request.MODEL_INFO, ACTIVITY_INFO, parse_model_info),
    (Request.INFER, INFER, lambda payload: parse_infer(payload, 10)),
    (Request.LIVE_START, LIVE_START, parse_live_start),
    (Request.CAPTURE_START, CAPTURE_START, parse_capture_start),
    (Request.STOP, STOP, parse_stop),
]
EVENTS = [
    (LIVE_RESULT, lambda payload: parse_live_result(payload, 10)),
    (IMU_SAMPLES, parse_imu_samples),
    (STREAM_END, parse_stream_end),
]


@pytest.mark.parametrize("request_, payload, parser", REPLIES)
def test_every_error_status_raises_device_error(request_, payload, parser):
    for status in Status:
        if status == Status.OK:
            continue
        for reply in (bytes([status]), bytes([status]) + b"\x01\x02"):
            with pytest.raises(DeviceError) as caught:
                parser(reply)
            assert (caught.value.status, caught.value.request) == (status, request_.name)
            assert caught.value.exit_code == 2 and "\n" not in str(caught.value)


def test_device_error_message_and_error_replies():
    with pytest.raises(DeviceError) as caught:
        parse_reply(Request.INFER, Frame(Reply.ERROR, 0xFFFF, b"\x08"))
    assert str(caught.value) == ("device: INFER failed: BAD_INPUT_LENGTH (the input tensor, "
                                 "after decoding, is not exactly the model's input size)")
    assert not caught.value.retriable
    with pytest.raises(DeviceError) as caught:
        parse_reply(Request.HELLO, Frame(0xFF, 3, b"\x01"))
    assert caught.value.status == Status.BAD_CRC and caught.value.retriable
    with pytest.raises(ProtocolError, match="unknown status code 200"):
        parse_reply(Request.STOP, Frame(0x86, 3, b"\xc8"))
    with pytest.raises(ProtocolError):
        parse_reply(Request.STOP, Frame(0xFF, 3, b"\x00"))


def test_parse_reply_dispatches_on_the_request_and_checks_the_type():
    assert parse_reply(Request.HELLO, Frame(0x81, 1, HELLO)).board == "nano33ble-rev2"
    assert parse_reply(Request.INFER, Frame(0x83, 2, INFER + b"\x00"), 10).output == OUTPUT
    assert parse_reply(Request.STOP, Frame(Reply.STOP, 3, STOP)) is None
    with pytest.raises(ProtocolError, match="expected the reply to INFER"):
        parse_reply(Request.INFER, Frame(0x81, 2, HELLO))


@pytest.mark.parametrize("payload, parser", [(p, parse) for _, p, parse in REPLIES] + EVENTS)
def test_every_truncated_payload_is_a_protocol_error(payload, parser):
    parser(payload)
    for cut in range(len(payload)):
        with pytest.raises(ProtocolError):
            parser(payload[:cut])


@pytest.mark.parametrize("payload, parser, message", [
    (HELLO[:16] + b"\xff\xfe\xfd\xfc\xfb" + HELLO[21:], parse_hello, "not UTF-8"),
    (MODEL_INFO.replace(DIGITS_INPUT, b"\x03" + DIGITS_INPUT[1:]), parse_model_info, "dtype"),
    (MODEL_INFO.replace(DIGITS_INPUT, b"\x00\x00" + DIGITS_INPUT[2:]), parse_model_info, "rank"),
    (MODEL_INFO.replace(DIGITS_INPUT, b"\x00\x07" + DIGITS_INPUT[2:] + bytes(12)),
     parse_model_info, "rank"),
    (MODEL_INFO.replace(DIGITS_INPUT, DIGITS_INPUT.replace(struct.pack("<I", 784),
                                                         struct.pack("<I", 785))),
     parse_model_info, "cannot be 785 bytes"),
    (struct.pack("<IB", 0, 0), parse_imu_samples, "0 samples"),
    (struct.pack("<IB", 0, 9) + bytes(9 * 24), parse_imu_samples, "9 samples"),
    (struct.pack("<BI", 4, 0), parse_stream_end, "unknown reason 4"),
])
def test_garbled_payloads_are_protocol_errors(payload, parser, message):
    with pytest.raises(ProtocolError, match=message):
        parser(payload)


# --- zero-runs encoding ------------------------------------------------------------------------

def _shortest_zero_runs_length(data: bytes, zero: int) -> int:
    """Every split into groups, for short data: the length the encoder must reach."""
    best = [0] + [len(data) * 3 + 2] * len(data)
    for start in range(len(data)):
        zeros = 0
        while True:
            for count in range(min(255, len(data) - start - zeros) + 1):
                end = start + zeros + count
                if end > start:
                    best[end] = min(best[end], best[start] + 2 + count)
            if start + zeros < len(data) and data[start + zeros] == zero and zeros < 255:
                zeros += 1
            else:
                break
    return best[len(data)]


@pytest.mark.parametrize("data, zero_point, encoded", [
    (b"", -128, ""),
    (b"\x80\x80\x80\x05\x06\x80\x07", -128, "03 04 05 06 80 07"),
    (b"\x80\x80\x80\x05\x06\x80\x80\x80\x07", -128, "03 02 05 06 03 01 07"),
    (b"\x05\x00", 0, "00 02 05 00"),
    (bytes(600), 0, "ff 00 ff 00 5a 00"),
    (b"\x7f" * 300, -128, "00 ff" + "7f" * 255 + "00 2d" + "7f" * 45),
])
def test_zero_runs_known_encodings(data, zero_point, encoded):
    assert encode_zero_runs(data, zero_point) == bytes.fromhex(encoded)
    assert decode_zero_runs(bytes.fromhex(encoded), zero_point, len(data)) == data


def test_zero_runs_round_trip_on_random_sparse_tensors():
    rng = np.random.default_rng(3)
    for _ in range(200):
        zero_point = int(rng.choice([-128, -1, 0, 127]))
        length = int(rng.integers(0, 3000))
        values = rng.integers(-128, 128, length).astype(np.int8)
        run_ends = np.cumsum(rng.geometric(rng.choice([0.002, 0.05, 0.5]), length))
        values[(run_ends // 2) % 2 == 0] = zero_point  # long alternating runs
        values[rng.random(length) < rng.random() * 0.5] = zero_point
        data = values.tobytes()
        encoded = encode_zero_runs(data, zero_point)
        assert decode_zero_runs(encoded, zero_point, length) == data
        assert len(encoded) <= length + 2 * (length // 255 + 1)


def test_zero_runs_encoding_is_the_shortest_on_short_inputs():
    rng = random.Random(5)
    for _ in range(300):
        data = bytes(rng.choice((0x80, 0x80, 0x01, 0x7f)) for _ in range(rng.randrange(1, 24)))
        assert len(encode_zero_runs(data, -128)) == _shortest_zero_runs_length(data, 0x80)


def test_zero_runs_decoding_errors():
    for data in (b"\x03", b"\x00\x03\x01\x02", b"\x01\x00\x02"):
        with pytest.raises(ProtocolError) as caught:
            decode_zero_runs(data, 0, 3)
        assert caught.value.status == Status.BAD_ENCODING
    for data in (b"\x02\x00", b"\x02\x02\x01\x01"):
        with pytest.raises(ProtocolError) as caught:
            decode_zero_runs(data, 0, 3)
        assert caught.value.status == Status.BAD_INPUT_LENGTH


def test_zero_runs_on_mnist_digits():
    """The digits model's int8 inputs (pixel / 255, quantized); prints the size it saves."""
    card = json.loads((MODELS_DIR / "digits" / "card.json").read_text())
    scale, zero_point = card["input"]["scale"], card["input"]["zero_point"]
    with np.load(REPO_ROOT / "data" / "mnist" / "mnist.npz") as arrays:
        images = arrays["x_test"][:1000]
    quantized = np.clip(np.round(images / 255.0 / scale) + zero_point, -128, 127).astype(np.int8)
    sizes = []
    for image in quantized:
        encoded = encode_zero_runs(image.tobytes(), zero_point)
        assert decode_zero_runs(encoded, zero_point, 784) == image.tobytes()
        sizes.append(len(encoded))
    mean = float(np.mean(sizes))
    print(f"zero runs on MNIST: {mean:.1f} bytes per image vs 784 ({784 / mean:.2f}x), "
          f"max {max(sizes)}")
    assert mean < 784 / 3 and max(sizes) < 784
