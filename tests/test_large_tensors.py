"""Tensors larger than one frame (protocol version 2): a 96x96x1 model (input and output
chunked) and a 32x32x3 one (input chunked), built here, converted, built into the host port and
the QEMU image, and checked bit for bit against TFLM; the chunk requests' range and length
checks, a chunked exchange across a damaged request and lost replies, the version refusal, and
the bench's RAM check."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest

from tests.conftest import FIRMWARE
from tests.support.firmware_link import device_process
from tests.support.large_tensors import build_models
from tinyml_pipeline.tools import protocol, qemu
from tinyml_pipeline.tools.bench import fit
from tinyml_pipeline.tools.device import Device, PipeTransport
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.framing import (
    DeviceError,
    Frame,
    FrameReader,
    ProtocolError,
    Status,
    encode_frame,
)
from tinyml_pipeline.tools.protocol import REPLY_BIT, Request
from tinyml_pipeline.tools.reference import TFLMRunner
from tinyml_pipeline.tools.tflite_model import TFLiteModel

NEEDS_HOST = shutil.which("cmake") is None or shutil.which("cc") is None
SAMPLES = 3
CIFAR, PERSON = 0, 1  # the registry's order, by name


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if NEEDS_HOST:
        pytest.skip("cmake and a C compiler are needed for the host port")
    directory = tmp_path_factory.mktemp("large")
    models_dir, paths = build_models(directory)
    host = FIRMWARE.build("host", models_dir=models_dir, build_dir=directory / "host",
                          quiet=True)
    return directory, models_dir, paths, host


def _check_against_tflm(device: Device, paths: dict) -> None:
    assert device.hello().protocol_version == protocol.PROTOCOL_VERSION == 2
    infos = device.models()
    assert [info.name for info in infos] == ["cifar32", "person96"]
    assert (infos[CIFAR].input.nbytes, infos[PERSON].input.nbytes) == (3072, 9216)
    assert infos[PERSON].output.nbytes == 9216  # larger than a frame too
    rng = np.random.default_rng(1)
    for info in infos:
        runner = TFLMRunner(TFLiteModel.from_file(paths[info.name]))
        for _ in range(SAMPLES):
            sample = rng.integers(-128, 128, size=info.input.shape[1:], dtype=np.int8)
            result = device.infer(info.index, sample, encoding=None)
            expected = runner.invoke(sample).reshape(-1)
            assert np.array_equal(np.frombuffer(result.output, np.int8), expected), info.name
            assert result.cost > 0


def test_large_tensors_agree_with_tflm_on_the_host_port(built):
    _, _, paths, host = built
    with device_process([str(host)]) as (device, _):
        _check_against_tflm(device, paths)
        assert device.retries_used == 0


def test_large_tensors_agree_with_tflm_on_qemu(built):
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("qemu-system-arm and arm-none-eabi-gcc are needed")
    directory, models_dir, paths, _ = built
    image = FIRMWARE.build("qemu", models_dir=models_dir, build_dir=directory / "qemu",
                           quiet=True)
    with device_process(qemu.qemu_command(image), timeout=30) as (device, _):
        _check_against_tflm(device, paths)


def _status(device: Device, request: Request, payload: bytes) -> Status:
    with pytest.raises(DeviceError) as raised:
        device.request(request, payload)
    return raised.value.status


def test_chunk_requests_check_ranges_and_lengths(built):
    _, _, _, host = built
    chunk, read = protocol.input_chunk_request, protocol.output_read_request
    with device_process([str(host)]) as (device, _):
        # Offsets and lengths against the 3,072-byte input and the 10-byte output.
        assert _status(device, Request.INPUT_CHUNK, chunk(CIFAR, 3072, b"\x01")) == \
            Status.BAD_ARGUMENT
        assert _status(device, Request.INPUT_CHUNK, chunk(CIFAR, 3000, bytes(73))) == \
            Status.BAD_ARGUMENT
        assert _status(device, Request.INPUT_CHUNK, chunk(CIFAR, 0, b"")) == Status.BAD_ARGUMENT
        assert _status(device, Request.INPUT_CHUNK, chunk(CIFAR, 2000, bytes(8))) == \
            Status.BAD_ARGUMENT  # a gap: nothing written before it
        assert _status(device, Request.INPUT_CHUNK, chunk(9, 0, b"\x01")) == \
            Status.UNKNOWN_MODEL
        # The length field must match the bytes that follow; the header must be whole.
        bad = struct.pack("<HIH", CIFAR, 0, 10) + bytes(9)
        assert _status(device, Request.INPUT_CHUNK, bad) == Status.BAD_LENGTH
        assert _status(device, Request.INPUT_CHUNK, bad[:5]) == Status.BAD_LENGTH
        assert _status(device, Request.OUTPUT_READ, read(CIFAR, 0, 10) + b"\x00") == \
            Status.BAD_LENGTH
        # No output before an inference; a staged INFER needs the whole input.
        assert _status(device, Request.OUTPUT_READ, read(CIFAR, 0, 10)) == Status.BAD_ARGUMENT
        assert device.request(Request.INPUT_CHUNK, chunk(CIFAR, 0, bytes(2040))) == 2040
        assert device.request(Request.INPUT_CHUNK, chunk(CIFAR, 1000, bytes(40))) == 2040
        assert _status(device, Request.INFER, protocol.staged_infer_request(CIFAR)) == \
            Status.BAD_INPUT_LENGTH
        assert _status(device, Request.INFER, protocol.staged_infer_request(CIFAR) + b"\x00") \
            == Status.BAD_LENGTH
        assert device.request(Request.INPUT_CHUNK, chunk(CIFAR, 2040, bytes(1032))) == 3072
        result = device.request(Request.INFER, protocol.staged_infer_request(CIFAR),
                                output_bytes=10)
        assert len(result.output) == 10
        # The staged input is used up by the invoke; the output stays readable.
        assert _status(device, Request.INFER, protocol.staged_infer_request(CIFAR)) == \
            Status.BAD_INPUT_LENGTH
        assert device.request(Request.OUTPUT_READ, read(CIFAR, 4, 6)) == result.output[4:]
        for offset, length in ((0, 11), (10, 1), (0, 0)):
            assert _status(device, Request.OUTPUT_READ, read(CIFAR, offset, length)) == \
                Status.BAD_ARGUMENT
        assert _status(device, Request.OUTPUT_READ, read(PERSON, 0, 1)) == Status.BAD_ARGUMENT
        # A new input ends the readable output.
        device.request(Request.INPUT_CHUNK, chunk(CIFAR, 0, b"\x01"))
        assert _status(device, Request.OUTPUT_READ, read(CIFAR, 0, 1)) == Status.BAD_ARGUMENT


class _Saboteur:
    """Damages the n-th request of some types on the way out, and swallows the n-th reply of
    some types on the way back: a noisy line and a lost reply, one frame at a time."""

    def __init__(self, transport, damage: dict, drop: dict):
        self.transport, self.damage, self.drop = transport, damage, drop
        self.seen: dict = {}
        self._reader = FrameReader()

    def _nth(self, kind: str, type_: int, wanted: dict) -> bool:
        key = (kind, type_)
        self.seen[key] = self.seen.get(key, 0) + 1
        return self.seen[key] in wanted.get(type_, ())

    def write(self, data: bytes) -> None:
        if len(data) > 8 and self._nth("sent", data[1], self.damage):  # not the lone 0x00
            data = data[:5] + bytes([data[5] ^ 0x10]) + data[6:]  # bad CRC, or bad COBS
        self.transport.write(data)

    def read(self, size: int) -> bytes:
        out = bytearray()
        for item in self._reader.feed(self.transport.read(size)):
            assert isinstance(item, Frame), "the wrapped link itself is clean"
            if not self._nth("received", item.type & ~REPLY_BIT, self.drop):
                out += encode_frame(item.type, item.seq, item.payload)
        return bytes(out)

    def close(self) -> None:
        self.transport.close()


def test_a_chunked_exchange_survives_damaged_and_lost_frames(built):
    _, _, paths, host = built
    runner = TFLMRunner(TFLiteModel.from_file(paths["person96"]))
    sample = np.random.default_rng(2).integers(-128, 128, size=(96, 96, 1), dtype=np.int8)
    process = subprocess.Popen([str(host)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # A frame's type is its second byte on the wire, after the first COBS code (never 0).
    saboteur = _Saboteur(PipeTransport(process),
                         damage={Request.INPUT_CHUNK: {2}, Request.OUTPUT_READ: {3}},
                         drop={Request.INPUT_CHUNK: {4}, Request.INFER: {1},
                               Request.OUTPUT_READ: {1}})
    try:
        with Device(saboteur, timeout=1.0) as device:
            device.hello()
            device.models()
            result = device.infer(PERSON, sample)
            assert np.array_equal(np.frombuffer(result.output, np.int8),
                                  runner.invoke(sample).reshape(-1))
            # One resend each for the damaged chunk and read and the lost chunk and read
            # replies, and one restaged input for the lost INFER reply.
            assert device.retries_used == 5
    finally:
        process.wait(timeout=5)


def _hello_payload(version: int) -> bytes:
    strings = b"".join(bytes([len(s)]) + s for s in (b"0.1.0", b"host", b"builtin", b"ns"))
    return struct.pack("<BBHHBII", 0, version, 2048, 1, 0, 0, 10**9) + strings


def test_another_protocol_version_is_refused_with_both_named():
    assert protocol.parse_hello(_hello_payload(2)).max_payload == 2048
    with pytest.raises(ProtocolError, match=r"device speaks protocol version 1, this host "
                                            r"version 2: reflash the device"):
        protocol.parse_hello(_hello_payload(1))
    with pytest.raises(ProtocolError, match=r"version 3, this host version 2: upgrade this host"):
        protocol.parse_hello(_hello_payload(3))


def test_the_device_answers_an_unknown_request_type(built):
    # A host of a later version asking for something this firmware does not know gets
    # UNKNOWN_COMMAND, and the link goes on.
    _, _, _, host = built
    with device_process([str(host)]) as (device, _):
        device._write(encode_frame(0x0A, 7, b""))
        frames = []
        while not frames:
            frames = [item for item in device._receive() if isinstance(item, Frame)]
        assert (frames[0].type, frames[0].seq, frames[0].payload) == \
            (0xFF, 7, bytes([Status.UNKNOWN_COMMAND]))
        assert device.hello().protocol_version == 2


def test_the_bench_refuses_a_model_too_large_for_qemu_before_building():
    fit.check_qemu_fit("small", 18_480)
    with pytest.raises(InputError, match=r"big does not fit the QEMU board's RAM: its arena of "
                                         r"1,500,000 bytes .* --target host"):
        fit.check_qemu_fit("big", 1_500_000)
