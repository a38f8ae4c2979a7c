"""The host port (firmware/boards/host) against tools/device.py, the independent host side of
docs/protocol.md: hello, the model list, inference bit for bit against TFLM, every malformed
frame class, the IMU live and capture modes on a replayed BasicMotions stream, a pty, and a
run under AddressSanitizer and UndefinedBehaviorSanitizer."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, FIRMWARE, MODELS_DIR, REPO_ROOT, WORKSPACE
from tests.support.firmware_link import committed_sha256, device_process, first_test_input
from tinyml_pipeline.tools.device import Device
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.framing import DeviceError, Status, cobs_encode, crc32, encode_frame
from tinyml_pipeline.tools.imu_replay import series_stream, write_replay
from tinyml_pipeline.tools.protocol import Encoding, Request, StreamEndReason
from tinyml_pipeline.tools.reference import TFLMRunner, run_all

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                                reason="cmake and a C compiler are needed for the host port")

MODEL_INDEX = {name: index for index, name in enumerate(sorted(COMMITTED_MODELS))}
ACTIVITY_SERIES = 8  # replayed test series; each fills one live window exactly


@pytest.fixture(scope="module")
def host_firmware():
    return FIRMWARE.build("host", quiet=True)


@pytest.fixture(scope="module")
def sanitized_firmware():
    return FIRMWARE.build("host", sanitize=True, quiet=True)


@pytest.fixture(scope="module")
def activity_replay(tmp_path_factory):
    """The first test series of BasicMotions back to back, and TFLM's outputs for them."""
    card, model, test = load_test_set(WORKSPACE, MODELS_DIR / "activity",
                                      limit=ACTIVITY_SERIES)
    inputs = test.inputs
    path = tmp_path_factory.mktemp("imu") / "basic_motions_test.bin"
    write_replay(path, series_stream(test.raw_x[:ACTIVITY_SERIES]),
                 card.sample_rate_hz)
    return path, run_all(TFLMRunner(model), inputs).reshape(ACTIVITY_SERIES, -1)


def test_hello_reports_the_build(host_firmware):
    with device_process([str(host_firmware)]) as (device, _):
        hello = device.hello()
    assert (hello.protocol_version, hello.board, hello.backend) == (2, "host", "builtin")
    assert hello.model_count == len(COMMITTED_MODELS)
    assert (hello.cost_unit, hello.cost_hz, hello.max_payload) == ("ns", 10**9, 2048)
    assert hello.firmware_version == _package_version()
    assert not hello.has_imu


def test_model_list_matches_the_committed_models(host_firmware):
    manifest = json.loads((REPO_ROOT / "firmware/lib/models/tinyml_models.json").read_text())
    plan_arena = {entry["name"]: entry["plan_arena_bytes"] for entry in manifest["models"]}
    with device_process([str(host_firmware)]) as (device, _):
        models = device.models()
    assert [m.name for m in models] == sorted(COMMITTED_MODELS)
    for info in models:
        card = json.loads((MODELS_DIR / info.name / "card.json").read_text())
        assert info.sha256 == committed_sha256(info.name)
        assert list(info.input.shape) == card["input"]["shape"]
        assert list(info.output.shape) == card["output"]["shape"]
        assert (info.input.dtype, info.output.dtype) == ("int8", "int8")
        assert info.input.zero_point == card["input"]["zero_point"]
        assert info.input.scale == pytest.approx(card["input"]["scale"], rel=1e-6)
        assert info.labels == tuple(card.get("labels") or ())
        assert info.ram_bytes == plan_arena[info.name]
    assert models[MODEL_INDEX["activity"]].sample_rate_hz == 10.0
    assert len(models[MODEL_INDEX["activity"]].mean) == 6


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_inference_equals_tflm_bit_for_bit(host_firmware, name):
    sample, expected = first_test_input(name)
    with device_process([str(host_firmware)]) as (device, _):
        info = device.model_info(MODEL_INDEX[name])
        raw = device.infer(MODEL_INDEX[name], sample)
        runs = device.infer(MODEL_INDEX[name], sample, Encoding.ZERO_RUNS,
                            info.input.zero_point)
    assert raw.output == expected.tobytes()
    assert runs.output == expected.tobytes()
    assert raw.cost > 0


def _raw_frame(frame_type: int, seq: int, payload: bytes, crc_xor: int = 0) -> bytes:
    body = struct.pack("<BH", frame_type, seq) + payload
    return cobs_encode(body + struct.pack("<I", crc32(body) ^ crc_xor)) + b"\0"


MALFORMED = {
    "bad CRC": (_raw_frame(Request.HELLO, 7, b"", crc_xor=1), Status.BAD_CRC),
    "truncated": (cobs_encode(b"\x01\x07\x00\x01") + b"\0", Status.TRUNCATED),
    "oversized": (b"\x55" * 6000 + b"\0", Status.OVERSIZED),
    "bad COBS": (b"\x05\x01\x02\0", Status.BAD_FRAMING),
    "unknown command": (_raw_frame(0x3A, 7, b""), Status.UNKNOWN_COMMAND),
    "hello with a payload": (_raw_frame(Request.HELLO, 7, b"\x01"), Status.BAD_LENGTH),
    "wrong input length": (_raw_frame(Request.INFER, 7, b"\x01\x00\x00" + b"\x00" * 783),
                           Status.BAD_INPUT_LENGTH),
    "unknown model": (_raw_frame(Request.INFER, 7, b"\x09\x00\x00\x00"), Status.UNKNOWN_MODEL),
    "unknown encoding": (_raw_frame(Request.INFER, 7, b"\x02\x00\x07\x00"),
                         Status.BAD_ENCODING),
    "zero runs cut off": (_raw_frame(Request.INFER, 7, b"\x01\x00\x01\x10\x05\x01"),
                          Status.BAD_ENCODING),
    "zero runs too long": (_raw_frame(Request.INFER, 7, b"\x02\x00\x01\x02\x00"),
                           Status.BAD_INPUT_LENGTH),
    "model index out of range": (_raw_frame(Request.MODEL_INFO, 7, b"\x03\x00"),
                                 Status.UNKNOWN_MODEL),
}


def test_every_malformed_frame_gets_its_error_code_and_the_link_recovers(host_firmware):
    with device_process([str(host_firmware)]) as (device, _):
        for what, (wire, status) in MALFORMED.items():
            device.transport.write(wire)
            reply = _next_reply(device)
            assert reply.payload == bytes([status]), what
            assert device.hello().protocol_version == 2, f"no recovery after: {what}"
        device.transport.write(b"\x13\x37garbage\xff" * 20 + b"\0")
        assert _next_reply(device).payload[0] != Status.OK
        assert device.hello().model_count == len(COMMITTED_MODELS)


def _next_reply(device: Device, timeout: float = 5.0):
    deadline_reads = int(timeout / 0.05)
    for _ in range(deadline_reads):
        replies = device._receive()
        if replies:
            assert len(replies) == 1, replies
            return replies[0]
    raise AssertionError("no reply")


def test_device_errors_name_the_problem(host_firmware):
    with device_process([str(host_firmware)]) as (device, _):
        with pytest.raises(DeviceError, match="UNKNOWN_MODEL"):
            device.infer(9, b"\x00")
        with pytest.raises(DeviceError, match="UNSUPPORTED"):
            device.live_start(MODEL_INDEX["activity"])  # no IMU without --imu


def test_live_mode_classifies_the_replayed_stream_like_tflm(host_firmware, activity_replay):
    path, expected = activity_replay
    with device_process([str(host_firmware), "--imu", str(path)]) as (device, _):
        assert device.hello().has_imu
        with pytest.raises(DeviceError, match="UNSUPPORTED"):
            device.live_start(MODEL_INDEX["digits"])  # not a [1, steps, 6] time series
        started = device.live_start(MODEL_INDEX["activity"], hop=100)
        assert (started.steps, started.hop, started.sample_rate_hz) == (100, 100, 10.0)
        results = [device.next_event() for _ in range(ACTIVITY_SERIES)]
        end = device.next_event()
    assert [r.sample_index for r in results] == [100 * k + 99 for k in range(ACTIVITY_SERIES)]
    outputs = np.array([np.frombuffer(r.output, np.int8) for r in results])
    np.testing.assert_array_equal(outputs, expected)
    assert [r.label for r in results] == list(expected.argmax(axis=1))
    assert (end.reason, end.samples) == (StreamEndReason.IMU_ENDED, 100 * ACTIVITY_SERIES)


def test_capture_streams_the_replayed_samples(host_firmware, activity_replay):
    path, _ = activity_replay
    recorded = series_stream(load_test_set(WORKSPACE, MODELS_DIR / "activity",
                                           limit=ACTIVITY_SERIES)[2].raw_x[:ACTIVITY_SERIES])
    with device_process([str(host_firmware), "--imu", str(path)]) as (device, _):
        assert device.capture_start(10.0, limit=20).channels == 6
        events = [device.next_event() for _ in range(4)]
        with pytest.raises(DeviceError, match="UNSUPPORTED"):
            device.capture_start(50.0)  # the recording is at 10 Hz
    # Paced at 10 Hz so that STOP arrives mid-stream; unpaced, the 800 samples can all be sent
    # before it does, and the stream ends IMU_ENDED instead.
    paced = [str(host_firmware), "--imu", str(path), "--imu-paced"]
    with device_process(paced) as (device, _):
        device.capture_start(10.0)
        first = device.next_event()
        device.stop()
        rest = list(device.events)
    assert [e.first_index for e in events[:3]] == [0, 8, 16]
    captured = np.concatenate([e.samples for e in events[:3]])
    np.testing.assert_array_equal(captured, recorded[:20])
    assert (events[3].reason, events[3].samples) == (StreamEndReason.COMPLETE, 20)
    np.testing.assert_array_equal(first.samples, recorded[:8])
    assert rest[-1].reason == StreamEndReason.STOPPED


def test_busy_while_a_mode_runs_and_stop_while_idle(host_firmware, activity_replay):
    path, _ = activity_replay
    paced = [str(host_firmware), "--imu", str(path), "--imu-paced"]  # 10 Hz: still running
    with device_process(paced) as (device, _):
        device.stop()  # idle: OK, no events
        assert not device.events
        device.capture_start(10.0)
        with pytest.raises(DeviceError, match="BUSY"):
            device.live_start(MODEL_INDEX["activity"])
        device.stop()
        assert device.events[-1].reason == StreamEndReason.STOPPED
        assert device.hello().protocol_version == 2


def test_pty_link(host_firmware):
    serial = pytest.importorskip("serial")
    process = subprocess.Popen([str(host_firmware), "--pty"], stdout=subprocess.PIPE, text=True)
    try:
        kind, path = process.stdout.readline().split()
        assert kind == "pty"
        for _ in range(2):  # a second client after the first closed the pty
            port = serial.serial_for_url(path, baudrate=115200, timeout=0.05)
            with Device(port) as device:
                assert device.hello().board == "host"
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_a_session_under_asan_and_ubsan_is_clean(sanitized_firmware, activity_replay):
    path, _ = activity_replay
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    argv = [str(sanitized_firmware), "--imu", str(path)]
    with device_process(argv, timeout=30, env=env) as (device, process):
        device.hello()
        device.models()
        for name in COMMITTED_MODELS:
            sample, expected = first_test_input(name)
            assert device.infer(MODEL_INDEX[name], sample).output == expected.tobytes()
        for wire, _ in MALFORMED.values():
            device.transport.write(wire)
            _next_reply(device)
        device.transport.write(encode_frame(Request.HELLO, 1, b"")[:-3] + b"\0")
        _next_reply(device)
        device.live_start(MODEL_INDEX["activity"], hop=7)
        device.next_event(timeout=30)
        device.stop()
        device.capture_start(10.0, limit=9)
        for _ in range(3):
            device.next_event(timeout=30)
    assert process.wait(timeout=30) == 0
    errors = process.stderr.read().decode()
    assert "runtime error" not in errors and "AddressSanitizer" not in errors, errors


def _package_version() -> str:
    import tomllib

    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_firmware_version_matches_the_package():
    header = (REPO_ROOT / "firmware/include/firmware_version.h").read_text()
    assert f'#define TINYML_FIRMWARE_VERSION "{_package_version()}"' in header


@pytest.mark.parametrize("rate", [float("inf"), float("nan"), 0.0, -10.0])
def test_a_replay_header_with_an_unusable_rate_is_refused(host_firmware, tmp_path, rate):
    """The ports share one header check (tinyml/imu_replay.h): an infinite, NaN, zero or
    negative rate is refused as a wrong one is."""
    path = tmp_path / "bad_rate.bin"
    # Written by hand: tools/imu_replay.py refuses to write most of these.
    path.write_bytes(struct.pack("<8sfHH", b"TMLIMU1\0", rate, 6, 0) + bytes(24 * 10))
    with device_process([str(host_firmware), "--imu", str(path)]) as (device, _):
        with pytest.raises(DeviceError, match="UNSUPPORTED"):
            device.capture_start(10.0)
