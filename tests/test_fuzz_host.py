"""The host-decoder fuzzer (fuzz/host.py): a bounded smoke run that fails on any finding, its
seeds, that it does report a decoder that escapes the error family, and the regressions of
what it found."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz import host, host_replies
from tinyml_pipeline.tools import device as device_module
from tinyml_pipeline.tools import framing, protocol
from tinyml_pipeline.tools.framing import FrameReader, ProtocolError, encode_frame
from tinyml_pipeline.tools.protocol import Reply, Request

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_run_has_no_findings(tmp_path):
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "fuzz.host", "--seconds", "8", "--seed",
                             str(int(time.time()))], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    executions = int(result.stdout.split("host: ")[1].split(" executions")[0])
    assert result.stdout.strip().endswith(" executions, 0 findings")
    assert executions > 1000
    assert time.monotonic() - started < 30


def test_committed_seeds_are_the_builders_frames():
    committed = {path.stem: path.read_bytes() for path in (ROOT / "fuzz/corpus/host").glob("*.bin")}
    assert committed == host_replies.seeds()


@pytest.mark.parametrize("name", sorted(host_replies.SEED_REQUESTS))
def test_each_reply_seed_parses(name):
    frame = framing.decode_frame(host_replies.seeds()[name])
    request = host_replies.SEED_REQUESTS[name]
    assert frame.type == Reply[request.name]
    protocol.parse_reply(request, frame)


def test_event_and_error_seeds_parse():
    seeds = host_replies.seeds()
    for name in ("event_live_result", "event_imu_samples", "event_stream_end"):
        protocol.parse_event(framing.decode_frame(seeds[name]))
    with pytest.raises(framing.DeviceError, match="BAD_ARGUMENT"):
        protocol.parse_reply(Request.STOP, framing.decode_frame(seeds["error"]))


def test_a_decoder_escaping_the_error_family_is_a_finding(monkeypatch, tmp_path):
    def broken(payload):
        return payload[1000]  # IndexError: what a decoder without a length check raises

    monkeypatch.setattr(protocol, "parse_stream_end", broken)
    monkeypatch.setattr(host, "_PARSERS", [*host._PARSERS[:-1], broken])
    executions, findings = host.campaign(None, 300, 1, out=tmp_path, quiet=True)
    assert executions == 300 and findings
    assert findings[0]["error"].startswith("IndexError")
    saved = sorted(tmp_path.glob("finding-1-*.json"))
    assert saved and saved[0].with_suffix(".bin").is_file()
    record = json.loads(saved[0].read_text())
    assert record["seed"] == 1 and "IndexError" in record["error"]


def test_the_watchdog_reports_a_hang(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "WATCHDOG_S", 0.2)
    monkeypatch.setattr(host, "TARGETS", {"framing": lambda rng, corpus: time.sleep(5)})
    executions, findings = host.campaign(None, 1, 0, out=tmp_path, quiet=True)
    assert findings[0]["error"].startswith("Hang")


# --- regressions of the findings ------------------------------------------------------------

def test_hello_with_a_max_payload_too_small_to_carry_a_chunk_is_refused():
    # It made Device's chunked INFER fail with a ValueError from chunk_spans.
    state = host_replies.FakeState(max_payload=8)
    with pytest.raises(ProtocolError, match="max_payload 8 is below the protocol's minimum"):
        protocol.parse_hello(host_replies.hello(state))
    state.max_payload = protocol.MIN_MAX_PAYLOAD
    assert protocol.parse_hello(host_replies.hello(state)).max_payload == 16


class _HugeLayerDevice:
    """Answers HELLO, then every LAYER_OUTPUT with one byte of a layer claimed 4 GiB long."""

    def __init__(self):
        self.reader = FrameReader()
        self.pending = bytearray()
        self.requests = 0

    def write(self, data):
        for frame in self.reader.feed(data):
            self.requests += 1
            if frame.type == Request.HELLO:
                payload = host_replies.hello(host_replies.FakeState())
            elif frame.type == Request.INPUT_CHUNK:
                payload = host_replies.input_chunk(4)
            else:
                payload = host_replies.layer_output(3, 0xFFFFFFFF, "CONV_2D", b"\x01")
            self.pending += encode_frame(frame.type | protocol.REPLY_BIT, frame.seq, payload)

    def read(self, size):
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def close(self):
        pass


def test_a_layer_output_claimed_larger_than_any_device_is_refused():
    # It kept Device.layer_output asking for the next byte for as long as the device answered.
    fake = _HugeLayerDevice()
    started = time.monotonic()
    with pytest.raises(ProtocolError, match="layer output of 4,294,967,295 bytes"):
        device_module.Device(fake, timeout=1.0).layer_output(0, 0, b"\x00" * 4)
    assert fake.requests == 3 and time.monotonic() - started < 1
