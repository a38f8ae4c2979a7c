"""Fuzzer of the host's decoders: the COBS/CRC deframer (tools/framing.py), every reply and event
parser (tools/protocol.py) and `Device` (tools/device.py) talking to a fake device whose answers
are valid, mutated or garbage bytes.

    .venv/bin/python -m fuzz.host --seconds 10      (or --count N; --seed S)
    .venv/bin/python -m fuzz.host --replay build/fuzz/host/finding-S-I.json

A finding is an exception outside the project's error family (TinyMLError), a decoder that runs
longer than the watchdog, or a broken round trip (COBS, zero runs). Each execution draws from its
own random.Random(f"{seed}:{index}"), so a finding is replayed from its seed and index alone; its
details (finding-S-I.json) and the bytes the decoders were fed (finding-S-I.bin: for Device,
everything the fake device sent) are saved under build/fuzz/host/. Prints
`host: N executions, M findings` and exits 1 on any finding.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import struct
import sys
import time
import traceback
from pathlib import Path

from fuzz import host_replies as replies
from tinyml_pipeline.tools import device as device_module
from tinyml_pipeline.tools import framing, protocol
from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.framing import Frame, FrameReader, Status, encode_frame
from tinyml_pipeline.tools.protocol import Encoding, Event, Reply, Request

TARGET = "host"
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus" / TARGET
FINDINGS = ROOT / "build" / "fuzz" / TARGET
WATCHDOG_S = 2.0  # one execution; the slowest legitimate one takes milliseconds
INTERESTING_8 = (0, 1, 0x7F, 0x80, 0xFF)
INTERESTING_16 = (0, 1, 8, 9, 0x7FFF, 0x8000, 0xFFFF)
INTERESTING_32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7F800000, 0x7FC00000)


# The bytes the running execution feeds the decoders (for the device target, all the fake
# device's answers so far), saved beside a finding.
CURRENT_INPUT = bytearray()


class Hang(Exception):
    """The watchdog fired: an execution ran past WATCHDOG_S."""


class RoundTripBroken(Exception):
    """An encoder's output did not decode back to its input."""


# --- the mutator ---------------------------------------------------------------------------

def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """A few stacked byte-level edits: flips, interesting values, inserts, deletions,
    truncation, duplication and splicing with another input of `pool`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(9)
        position = rng.randrange(len(out) + 1)
        if choice == 0 and out:
            out[position % len(out)] ^= 1 << rng.randrange(8)
        elif choice == 1 and out:
            out[position % len(out)] = rng.choice(INTERESTING_8)
        elif choice == 2 and len(out) >= 2:
            start = position % (len(out) - 1)
            out[start:start + 2] = struct.pack("<H", rng.choice(INTERESTING_16))
        elif choice == 3 and len(out) >= 4:
            start = position % (len(out) - 3)
            out[start:start + 4] = struct.pack("<I", rng.choice(INTERESTING_32))
        elif choice == 4:
            out[position:position] = rng.randbytes(rng.randint(1, 8))
        elif choice == 5 and out:
            del out[position:position + rng.randint(1, 8)]
        elif choice == 6:
            del out[position:]
        elif choice == 7 and out:
            start = rng.randrange(len(out))
            out[position:position] = out[start:start + rng.randint(1, 64)]
        elif choice == 8 and pool:
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            out = out[:position] + bytearray(other[cut:])
    return bytes(out)


def reframed(type_: int, seq: int, payload: bytes) -> bytes:
    """A frame with a correct CRC around a payload, so mutations reach the parsers."""
    return encode_frame(type_ & 0xFF, seq & 0xFFFF, payload)


def load_corpus() -> dict[str, bytes]:
    found = {path.stem: path.read_bytes() for path in sorted(CORPUS.glob("*.bin"))}
    return found or replies.seeds()


def payload_of(frame_bytes: bytes) -> tuple[int, bytes]:
    frame = framing.decode_frame(frame_bytes)
    return frame.type, frame.payload


# --- target 1: the deframer ----------------------------------------------------------------

def fuzz_framing(rng: random.Random, corpus: dict[str, bytes]) -> bytes:
    pool = list(corpus.values())
    stream = b"".join(mutate(rng.choice(pool), rng, pool) if rng.random() < 0.8
                      else rng.randbytes(rng.randint(0, 64)) for _ in range(rng.randint(1, 4)))
    CURRENT_INPUT[:] = stream
    reader = FrameReader(max_frame_bytes=rng.choice((framing.max_stuffed_length(), 16, 300)))
    position = 0
    while position < len(stream):  # fed in random pieces, as a serial port delivers them
        step = rng.randint(1, 64)
        for item in reader.feed(stream[position:position + step]):
            if not isinstance(item, (Frame, framing.FrameError)):
                raise AssertionError(f"FrameReader returned {item!r}")
        position += step
    for piece in stream.split(b"\x00"):
        try:
            framing.decode_frame(piece)
        except framing.FrameError:
            pass
    raw = rng.randbytes(rng.randint(0, 600))
    if rng.random() < 0.2:  # COBS's block edges: runs of 254 non-zero bytes
        raw = raw.replace(b"\0", b"\1")[:rng.choice((253, 254, 255, 508))]
    if framing.cobs_decode(framing.cobs_encode(raw)) != raw:
        raise RoundTripBroken(f"COBS round trip of {len(raw)} bytes")
    return stream


# --- target 2: the parsers -----------------------------------------------------------------

_PARSERS = [protocol.parse_hello, protocol.parse_model_info, protocol.parse_infer,
            protocol.parse_input_chunk, protocol.parse_output_read, protocol.parse_layer_output,
            protocol.parse_live_start, protocol.parse_capture_start, protocol.parse_stop,
            protocol.parse_live_result, protocol.parse_imu_samples, protocol.parse_stream_end]


def fuzz_parsers(rng: random.Random, corpus: dict[str, bytes]) -> bytes:
    frames = list(corpus.values())
    type_, payload = payload_of(rng.choice(frames))
    pool = [payload_of(frame)[1] for frame in frames]
    data = mutate(payload, rng, pool) if rng.random() < 0.95 else rng.randbytes(rng.randint(0, 40))
    CURRENT_INPUT[:] = data
    if rng.random() < 0.2:
        type_ = rng.choice((rng.randrange(256), *Reply, *Event))
    for parser in _PARSERS:
        _quietly(parser, data)
    request = rng.choice(list(Request))
    output_bytes = rng.choice((None, 0, 1, 3, 16, 70000))
    frame = Frame(type_, rng.randrange(0x10000), data)
    _quietly(protocol.parse_reply, request, frame, output_bytes)
    _quietly(protocol.parse_event, frame, output_bytes)
    _quietly(protocol.parse_error_reply, data, request)
    zero_point = rng.randint(-128, 127)
    _quietly(protocol.decode_zero_runs, data, zero_point, rng.randint(0, 2 * len(data) + 8))
    tensor = _runs_of(zero_point & 0xFF, rng.randint(0, 700), rng)
    encoded = protocol.encode_zero_runs(tensor, zero_point)
    if protocol.decode_zero_runs(encoded, zero_point, len(tensor)) != tensor:
        raise RoundTripBroken(f"zero-runs round trip of {len(tensor)} bytes")
    return data


def _runs_of(zero: int, length: int, rng: random.Random) -> bytes:
    """Bytes alternating runs of the zero point (some over the 255 a group can count) with
    random literals: the shapes the zero-runs encoder must split right."""
    pieces, total = [], 0
    while total < length:
        piece = (bytes([zero]) * rng.randint(1, 300) if rng.random() < 0.5
                 else rng.randbytes(rng.randint(1, 40)))
        pieces.append(piece)
        total += len(piece)
    return b"".join(pieces)[:length]


def _quietly(function, *args) -> None:
    try:
        function(*args)
    except TinyMLError:
        pass


# --- target 3: Device over a fake device ---------------------------------------------------

class VirtualClock:
    """Stands in for the `time` module in tools/device.py: each look advances 10 ms, so the
    timeouts and retries run at full speed and a wait that never ends is a real hang."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        self.now += 0.01
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeDevice:
    """A transport whose other end answers every request frame it reads: mostly correctly for
    its (random) models, otherwise with mutated, misnumbered, damaged, extra or no frames."""

    def __init__(self, rng: random.Random, corpus: dict[str, bytes], wild: float):
        self.rng = rng
        self.wild = wild  # how often an answer is anything but right
        self.pool = list(corpus.values())
        self.state = _random_state(rng)
        self.reader = FrameReader(max_frame_bytes=1 << 20)
        self.pending = bytearray()
        self.staged: dict[int, int] = {}
        self.events = 0
        # Mostly a link that stays up (a loop that never ends is then a hang the watchdog
        # reports); sometimes one that closes early.
        self.reads_left = rng.choice((rng.randint(1, 500), 1 << 40))

    def write(self, data: bytes) -> None:
        for item in self.reader.feed(data):
            if isinstance(item, Frame):
                answer = self.answer(item)
                self.pending += answer
                CURRENT_INPUT.extend(answer)  # everything the device said, for a finding

    def read(self, size: int) -> bytes:
        self.reads_left -= 1
        if self.reads_left < 0:  # as a pipe or a pyserial port report it
            raise self.rng.choice((device_module.ConnectionLost("fake device: the link closed"),
                                   OSError(5, "Input/output error")))
        if not self.pending:
            return b""
        step = min(size, self.rng.choice((1, 7, 64, len(self.pending))))
        data = bytes(self.pending[:step])
        del self.pending[:step]
        return data

    def close(self) -> None:
        pass

    def answer(self, frame: Frame) -> bytes:
        rng = self.rng
        out = b""
        if rng.random() < self.wild * 0.3:  # an event ahead of the reply
            out += self._event()
        try:
            request = Request(frame.type)
            type_, payload = request | protocol.REPLY_BIT, self._reply(request, frame.payload)
        except (ValueError, struct.error, IndexError):
            type_, payload = Reply.ERROR, replies.error(Status.BAD_LENGTH)
        seq = frame.seq
        if rng.random() < self.wild:
            choice = rng.randrange(8)
            if choice == 0:
                payload = mutate(payload, rng, [payload_of(f)[1] for f in self.pool])
            elif choice == 1:
                seq = rng.choice((seq + 1, 0xFFFF, rng.randrange(0x10000)))
            elif choice == 2:
                type_ = rng.choice((Reply.ERROR, rng.randrange(256), *Reply))
                if type_ == Reply.ERROR:
                    payload = bytes([rng.randrange(256)]) + payload[1:]
            elif choice == 3:
                return out + mutate(reframed(type_, seq, payload), rng, self.pool)
            elif choice == 4:
                return out  # no answer
            elif choice == 5:
                return out + rng.randbytes(rng.randint(1, 32))
            elif choice == 6:
                payload = bytes([rng.choice(list(Status))]) + payload[1:]
            else:
                return out + reframed(type_, seq, payload) * 2
        return out + reframed(type_, seq, payload)

    def _event(self) -> bytes:
        self.events += 1
        model = self.state.models[0]
        type_, payload = self.rng.choice((
            (Event.LIVE_RESULT, replies.live_result(bytes(model.output_bytes))),
            (Event.IMU_SAMPLES, replies.imu_samples(self.events, self.rng.randint(0, 9))),
            (Event.STREAM_END, replies.stream_end(self.rng.randrange(5)))))
        if self.rng.random() < 0.5:
            payload = mutate(payload, self.rng, [])
        return reframed(type_, self.events, payload)

    def _reply(self, request: Request, payload: bytes) -> bytes:
        state = self.state
        if request == Request.HELLO:
            return replies.hello(state)
        if request == Request.MODEL_INFO:
            (index,) = struct.unpack_from("<H", payload)
            return replies.model_info(state, index)
        if request in (Request.LIVE_START, Request.CAPTURE_START, Request.STOP):
            return {Request.LIVE_START: replies.live_start, Request.CAPTURE_START:
                    replies.capture_start, Request.STOP: replies.stop}[request]()
        model_index = struct.unpack_from("<H", payload)[0]
        model = state.models[model_index % len(state.models)]
        if request == Request.INFER:
            fits = model.output_bytes + protocol.INFER_REPLY_HEADER <= state.max_payload
            return replies.infer(bytes(model.output_bytes) if fits else b"")
        if request == Request.INPUT_CHUNK:
            _, offset, length = protocol.CHUNK_HEADER.unpack_from(payload)
            self.staged[model_index] = offset + length
            return replies.input_chunk(offset + length)
        if request == Request.OUTPUT_READ:
            _, offset, length = protocol.CHUNK_HEADER.unpack_from(payload)
            return replies.output_read(bytes(max(0, min(length, model.output_bytes - offset))))
        _, layer, offset, length = protocol.LAYER_REQUEST.unpack_from(payload)
        total = self.rng.choice((16, 300, 5000, 0, 0xFFFFFFFF))
        return replies.layer_output(model.layers, total, "CONV_2D",
                                    bytes(max(1, min(length - 20, total - offset))))


class SerialLikeFake(FakeDevice):
    """The same device behind a pyserial-like port, which Device reads through in_waiting."""

    @property
    def in_waiting(self) -> int:
        return len(self.pending)


def _random_state(rng: random.Random) -> replies.FakeState:
    max_payload = rng.choice((2048, 2048, 256, 64, rng.choice(INTERESTING_16), rng.randint(0, 40)))
    models = []
    for number in range(rng.randint(1, 3)):
        rank = rng.randint(1, 4)
        input_shape = (1, *(rng.randint(1, 40) for _ in range(rank - 1)))
        models.append(replies.FakeModel(
            name=f"m{number}", input_shape=input_shape,
            output_shape=(1, rng.choice((1, 3, 10, 3000))),
            labels=tuple(f"l{i}" for i in range(rng.randint(0, 5))),
            channels=rng.randint(0, 6), layers=rng.randint(1, 9)))
    version = rng.choice((protocol.PROTOCOL_VERSION,) * 8 + (0, 1, 3, 255))
    return replies.FakeState(max_payload=max_payload, models=models, features=rng.randrange(4),
                             version=version)


def fuzz_device(rng: random.Random, corpus: dict[str, bytes]) -> bytes:
    wild = rng.choice((0.0, 0.05, 0.3, 0.9))
    CURRENT_INPUT.clear()
    fake = rng.choice((FakeDevice, SerialLikeFake))(rng, corpus, wild)
    device = device_module.Device(fake, timeout=rng.choice((0.05, 1.0)),
                                  retries=rng.randint(0, 3))
    device._seq = rng.choice((0, 0, 0xFFFD))  # sometimes a long session, near the wrap-around
    log = bytearray()
    for _ in range(rng.randint(1, 6)):
        model = rng.randrange(len(fake.state.models) + 1)
        size = rng.choice((16, 100, 600, 3000))
        operation = rng.randrange(9)
        try:
            if operation == 0:
                device.hello()
            elif operation == 1:
                device.models()
            elif operation == 2:
                device.model_info(model)
            elif operation == 3:
                encoding = rng.choice((Encoding.RAW, Encoding.ZERO_RUNS, None))
                device.infer(model, rng.randbytes(size), encoding, rng.randint(-128, 127))
            elif operation == 4:
                device.layer_output(model, rng.randrange(4), rng.randbytes(size))
            elif operation == 5:
                device.live_start(model, rng.randrange(60))
            elif operation == 6:
                device.capture_start(rng.choice((50.0, 100.0)), rng.randrange(100))
            elif operation == 7:
                device.stop()
            else:
                device.next_event(timeout=0.05)
        except TinyMLError:
            pass
        log.append(operation)
    return bytes(log)


TARGETS = {"framing": fuzz_framing, "parsers": fuzz_parsers, "device": fuzz_device}


# --- the campaign --------------------------------------------------------------------------

def _alarm(signum, frame):
    raise Hang(f"an execution ran past {WATCHDOG_S} s")


def execute(seed: int, index: int, corpus: dict[str, bytes]) -> dict | None:
    """One execution; None when it passed, else the finding's record."""
    rng = random.Random(f"{seed}:{index}")
    target = rng.choice(list(TARGETS))
    signal.setitimer(signal.ITIMER_REAL, WATCHDOG_S)
    try:
        TARGETS[target](rng, corpus)
    except TinyMLError:
        return None  # a clean refusal
    except Exception as error:  # noqa: BLE001 - anything else escaping is a finding
        return {"target": TARGET, "part": target, "seed": seed, "index": index,
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(), "input": bytes(CURRENT_INPUT)}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return None


def campaign(seconds: float | None, count: int | None, seed: int,
             out: Path = FINDINGS, quiet: bool = False) -> tuple[int, list[dict]]:
    corpus = load_corpus()
    previous_clock = device_module.time
    previous_handler = signal.signal(signal.SIGALRM, _alarm)
    device_module.time = VirtualClock()
    findings: list[dict] = []
    seen: set[str] = set()
    executions = 0
    deadline = time.monotonic() + seconds if seconds is not None else None
    try:
        while (count is None or executions < count) and (
                deadline is None or time.monotonic() < deadline):
            finding = execute(seed, executions, corpus)
            executions += 1
            if finding is None:
                continue
            findings.append(finding)
            where = finding["traceback"].strip().splitlines()[-3:-1]
            key = finding["error"].split(":")[0] + "|" + "|".join(where)
            if key not in seen:  # one file per distinct place
                seen.add(key)
                out.mkdir(parents=True, exist_ok=True)
                path = out / f"finding-{seed}-{finding['index']}.json"
                path.with_suffix(".bin").write_bytes(finding.pop("input"))
                path.write_text(json.dumps(finding, indent=2) + "\n")
                if not quiet:
                    print(f"finding: {finding['error']} ({finding['part']}, saved to {path})",
                          file=sys.stderr)
    finally:
        device_module.time = previous_clock
        signal.signal(signal.SIGALRM, previous_handler)
    return executions, findings


def replay(path: Path) -> dict | None:
    record = json.loads(Path(path).read_text())
    previous_clock = device_module.time
    device_module.time = VirtualClock()
    previous_handler = signal.signal(signal.SIGALRM, _alarm)
    try:
        return execute(int(record["seed"]), int(record["index"]), load_corpus())
    finally:
        device_module.time = previous_clock
        signal.signal(signal.SIGALRM, previous_handler)


def write_corpus() -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    for name, frame in replies.seeds().items():
        (CORPUS / f"{name}.bin").write_bytes(frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.host", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="run for this long")
    parser.add_argument("--count", type=int, help="run this many executions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay", type=Path, metavar="FINDING.json",
                        help="run one saved finding again and show its traceback")
    parser.add_argument("--write-corpus", action="store_true",
                        help="write the seed frames into fuzz/corpus/host/")
    args = parser.parse_args(argv)
    if args.write_corpus:
        write_corpus()
        return 0
    if args.replay:
        finding = replay(args.replay)
        if finding is None:
            print(f"{args.replay}: no longer a finding")
            return 0
        print(finding["traceback"], file=sys.stderr)
        return 1
    if args.seconds is None and args.count is None:
        parser.error("give --seconds or --count")
    executions, findings = campaign(args.seconds, args.count, args.seed)
    print(f"{TARGET}: {executions} executions, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
