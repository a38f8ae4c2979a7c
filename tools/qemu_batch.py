"""Inferences on the QEMU image without the serial link: its batch mode.

The image's emulated UART carries about 25 KiB/s, so validating a test set over the protocol
measures the link more than the emulator. In batch mode (firmware/boards/common/batch_file.h)
the image reads the samples from a host file through semihosting, runs each through the same
invoke path as the protocol's INFER (same outputs, same instruction counts), writes the
outputs to another file and exits. `run_batch` splits the samples into contiguous shards, runs
one QEMU per shard at once, and times the whole run, each shard and, separately, QEMU's boot
(an empty batch), so that `wall_s - boot_s` is the floor of executing the inferences in QEMU.

With `profile_layers`, the image also times every layer of every sample (after the measured
invoke, which it does not change) and what the invoke costs around the layers; tools/bench
reports it.

Files, little-endian (the same as firmware/boards/common/batch_file.h):
  batch_inputs.bin   b"TMLBAT1\\0", u16 model index, u16 flags (bit 0: profile the layers),
                     u32 sample count, u32 input bytes per sample, then the samples.
  batch_outputs.bin  b"TMLOUT1\\0", u32 sample count, u32 output bytes per sample, u32 record
                     bytes, then per sample a record: the output tensor bytes, u32 cost
                     (instructions), u32 micros (virtual microseconds), then, from images that
                     have them, u32 stack high-water mark (bytes), u32 invoke stack (bytes),
                     u32 layer count L, u32 empty invoke cost and L u32 layer costs; fields may
                     be appended to a record later, so a reader steps by the record bytes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import qemu
from tinyml_pipeline.tools.errors import InputError

INPUT_MAGIC = b"TMLBAT1\0"
OUTPUT_MAGIC = b"TMLOUT1\0"
INPUTS_NAME = "batch_inputs.bin"
OUTPUTS_NAME = "batch_outputs.bin"
_INPUT_HEADER = struct.Struct("<8sHHII")
_OUTPUT_HEADER = struct.Struct("<8sIII")
_TRAILER_BYTES = 8  # u32 cost, u32 micros after the output tensor
# Then u32 stack high-water, u32 invoke stack, u32 layer count, u32 empty invoke, the layer
# costs (newer images).
_PROFILE_FIELDS_BYTES = 16
PROFILE_LAYERS = 0x0001  # the input header's flag

# How long a shard may take: QEMU's start plus a generous time per sample. The digits model
# takes 1.7 M instructions, a few milliseconds in QEMU; a loaded machine may take ten times that.
BOOT_TIMEOUT_S = 30.0
SAMPLE_TIMEOUT_S = 0.1


class QemuBatchError(InputError):
    """A batch did not complete: QEMU is missing, exited with an error, wrote no valid outputs,
    or ran out of time."""


@dataclasses.dataclass
class BatchResult:
    """What a batch returned and how long it took."""

    outputs: np.ndarray  # (N, output bytes) int8
    costs: np.ndarray  # (N,) uint32, board_cycles() counts: executed instructions
    micros: np.ndarray  # (N,) uint32, virtual microseconds
    wall_s: float  # the whole run: every shard started to the last one finished
    shard_wall_s: list[float]  # each shard's QEMU, start to exit
    shard_sizes: list[int]
    boot_s: float | None  # an empty batch's QEMU, start to exit; None when not measured
    # From images that report them (None otherwise):
    stack_high_water: np.ndarray | None = None  # (N,) bytes, deepest stack since reset
    invoke_stack: np.ndarray | None = None  # (N,) bytes, the invoke's own deepest stack
    empty_invoke: np.ndarray | None = None  # (N,) the invoke's cost with no layers (profiled)
    layer_costs: np.ndarray | None = None  # (N, layers) uint32 (profiled)

    @property
    def floor_s(self) -> float | None:
        """Wall time minus QEMU's boot: the inferences' own execution time."""
        return None if self.boot_s is None else self.wall_s - self.boot_s

    @property
    def instructions(self) -> int:
        return int(self.costs.sum(dtype=np.uint64))


@dataclasses.dataclass
class Records:
    """What batch_outputs.bin holds; the fields after micros are None when the image that wrote
    it has none."""

    outputs: np.ndarray  # (N, output bytes) int8
    costs: np.ndarray  # (N,) uint32
    micros: np.ndarray  # (N,) uint32
    stack_high_water: np.ndarray | None = None  # (N,) uint32
    invoke_stack: np.ndarray | None = None  # (N,) uint32
    empty_invoke: np.ndarray | None = None  # (N,) uint32, profiled batches only
    layer_costs: np.ndarray | None = None  # (N, L) uint32, profiled batches only


def write_inputs(path: Path, model_index: int, samples: np.ndarray, flags: int = 0) -> None:
    """batch_inputs.bin for `samples` (N, ...) int8; `flags`: PROFILE_LAYERS or 0."""
    samples = np.ascontiguousarray(samples)
    per_sample = int(np.prod(samples.shape[1:], dtype=np.int64)) if samples.ndim > 1 else 1
    header = _INPUT_HEADER.pack(INPUT_MAGIC, model_index, flags, len(samples), per_sample)
    with Path(path).open("wb") as stream:
        stream.write(header)
        stream.write(samples.tobytes())


def read_outputs(path: Path, expected_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs (N, output bytes) int8, costs (N,) uint32, micros (N,) uint32) from
    batch_outputs.bin; QemuBatchError when it is missing, short or not the expected count."""
    records = read_records(path, expected_count)
    return records.outputs, records.costs, records.micros


def read_records(path: Path, expected_count: int) -> Records:
    """Every field of batch_outputs.bin that the image wrote; QemuBatchError when the file is
    missing, short or not the expected count."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise QemuBatchError(f"QEMU exited without writing {path}") from None
    if len(data) < _OUTPUT_HEADER.size:
        raise QemuBatchError(f"{path} is shorter than its header ({len(data)} bytes)")
    magic, count, output_bytes, record_bytes = _OUTPUT_HEADER.unpack_from(data)
    if magic != OUTPUT_MAGIC:
        raise QemuBatchError(f"{path} is not a batch output file (magic {magic!r})")
    if record_bytes < output_bytes + _TRAILER_BYTES:
        raise QemuBatchError(f"{path}: records of {record_bytes} bytes cannot hold "
                             f"{output_bytes} output bytes, cost and micros")
    body = len(data) - _OUTPUT_HEADER.size
    if count != expected_count or body != count * record_bytes:
        raise QemuBatchError(f"{path} holds {body} bytes of records for {count} samples "
                             f"(records of {record_bytes} bytes; {expected_count} were sent)")
    records = np.frombuffer(data, np.uint8, offset=_OUTPUT_HEADER.size).reshape(
        count, record_bytes)
    outputs = records[:, :output_bytes].view(np.int8).copy()

    def column(offset: int, words: int = 1) -> np.ndarray:
        raw = records[:, offset:offset + 4 * words].copy().view("<u4")
        return raw.reshape(count, words).astype(np.uint32)

    result = Records(outputs, column(output_bytes)[:, 0], column(output_bytes + 4)[:, 0])
    extra = output_bytes + _TRAILER_BYTES
    if record_bytes < extra + _PROFILE_FIELDS_BYTES:
        return result  # an older image's records
    result.stack_high_water = column(extra)[:, 0]
    result.invoke_stack = column(extra + 4)[:, 0]
    layers = column(extra + 8)[:, 0]
    if count and np.any(layers != layers[0]):
        raise QemuBatchError(f"{path}: records disagree on their layer count")
    layer_count = int(layers[0]) if count else 0
    if layer_count:
        if record_bytes < extra + _PROFILE_FIELDS_BYTES + 4 * layer_count:
            raise QemuBatchError(f"{path}: records of {record_bytes} bytes cannot hold "
                                 f"{layer_count} layer costs")
        result.empty_invoke = column(extra + 12)[:, 0]
        result.layer_costs = column(extra + _PROFILE_FIELDS_BYTES, layer_count)
    return result


@dataclasses.dataclass
class _Shard:
    index: int
    directory: Path
    samples: int
    process: subprocess.Popen | None = None
    started: float = 0.0
    ended: float | None = None


def run_batch(model_index: int, inputs: np.ndarray, *, elf: Path, jobs: int = 1,
              workdir: Path | None = None, measure_boot: bool = True,
              sample_timeout_s: float = SAMPLE_TIMEOUT_S,
              profile_layers: bool = False) -> BatchResult:
    """Runs `inputs` (N, ...) int8 through model `model_index` of the QEMU image (the firmware's
    registry order: its MODEL_INFO list), `jobs` QEMUs at once on contiguous shards.

    `elf`: the image; default: build it (CMake decides whether anything is stale). `workdir`:
    where the shards' files go (kept, for a look at them); default: a temporary directory,
    removed afterwards. `measure_boot`: first run an empty batch alone and time it (boot_s).
    Raises QemuBatchError when a QEMU exits non-zero (with the last line of its stderr, where
    the image says what was wrong with a batch), or runs past BOOT_TIMEOUT_S plus
    `sample_timeout_s` per sample of its shard. `profile_layers`: also time every layer (the
    result's layer_costs and empty_invoke); each sample then runs about twice."""
    inputs = np.asarray(inputs)
    if inputs.dtype != np.int8:
        raise InputError(f"batch inputs must be int8, not {inputs.dtype}")
    if inputs.ndim < 1:
        raise InputError("batch inputs need a leading sample axis: (N, ...)")
    if not 0 <= model_index <= 0xFFFF:
        raise InputError(f"model index {model_index} does not fit in 16 bits")
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, not {jobs}")
    elf = Path(elf)
    qemu.find_qemu()
    flags = PROFILE_LAYERS if profile_layers else 0
    if profile_layers:
        sample_timeout_s *= 3  # each sample runs twice, plus the timing around every layer
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return _run_in(Path(workdir), model_index, inputs, jobs, elf, measure_boot,
                       sample_timeout_s, flags)
    with tempfile.TemporaryDirectory(prefix="tinyml-batch-") as directory:
        return _run_in(Path(directory), model_index, inputs, jobs, elf, measure_boot,
                       sample_timeout_s, flags)


def _run_in(workdir: Path, model_index: int, inputs: np.ndarray, jobs: int, elf: Path,
            measure_boot: bool, sample_timeout_s: float, flags: int) -> BatchResult:
    boot_s = None
    if measure_boot or len(inputs) == 0:
        # Alone, before the shards, so that it neither slows them nor is slowed by them. The
        # same header as the real batch: a bad model index or input size shows up here, fast.
        boot = _prepare(workdir / "boot", 0, model_index, inputs[:0], flags)
        _wait([_start(boot, elf)], sample_timeout_s)
        boot_s = boot.ended - boot.started
        if len(inputs) == 0:
            records = read_records(boot.directory / OUTPUTS_NAME, 0)
            return BatchResult(records.outputs, records.costs, records.micros, boot_s,
                               [boot_s], [0], boot_s)

    parts = np.array_split(np.arange(len(inputs)), min(jobs, len(inputs)))
    shards = [_prepare(workdir / f"shard-{index}", index, model_index, inputs[part], flags)
              for index, part in enumerate(parts)]
    started = time.monotonic()
    try:
        for shard in shards:
            _start(shard, elf)
        _wait(shards, sample_timeout_s)
    finally:
        _stop(shards)
    wall_s = max(shard.ended for shard in shards) - started

    results = [read_records(shard.directory / OUTPUTS_NAME, shard.samples) for shard in shards]

    def joined(field: str) -> np.ndarray | None:
        parts = [getattr(records, field) for records in results]
        return None if any(part is None for part in parts) else np.concatenate(parts)

    return BatchResult(joined("outputs"), joined("costs"), joined("micros"), wall_s,
                       [shard.ended - shard.started for shard in shards],
                       [shard.samples for shard in shards], boot_s,
                       joined("stack_high_water"), joined("invoke_stack"),
                       joined("empty_invoke"), joined("layer_costs"))


def _prepare(directory: Path, index: int, model_index: int, samples: np.ndarray,
             flags: int = 0) -> _Shard:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / OUTPUTS_NAME).unlink(missing_ok=True)  # a kept workdir's last run
    write_inputs(directory / INPUTS_NAME, model_index, samples, flags)
    return _Shard(index, directory, len(samples))


def _start(shard: _Shard, elf: Path) -> _Shard:
    argv = qemu.qemu_command(elf, serial="null", batch_dir=shard.directory)
    # stderr to a file: the image's error line lands there, and a pipe nobody reads while the
    # shard runs could fill up and stall QEMU.
    with (shard.directory / "stderr.txt").open("wb") as stderr:
        shard.started = time.monotonic()
        try:
            shard.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=stderr)
        except OSError as error:
            raise QemuBatchError(f"cannot run {argv[0]}: {error.strerror}") from None
    return shard


def _wait(shards: list[_Shard], sample_timeout_s: float) -> None:
    """Waits for every shard, one thread each so that each exit is timed when it happens. The
    first failure stops the rest."""

    def wait_one(shard: _Shard) -> _Shard:
        timeout = BOOT_TIMEOUT_S + sample_timeout_s * shard.samples
        try:
            shard.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            shard.process.kill()
            shard.process.wait()
            raise QemuBatchError(f"QEMU ({_shard_name(shard)}) did not finish within "
                                 f"{timeout:.0f} s") from None
        shard.ended = time.monotonic()
        if shard.process.returncode != 0:
            raise QemuBatchError(f"QEMU ({_shard_name(shard)}) exited with status "
                                 f"{shard.process.returncode}: {_last_stderr_line(shard)}")
        return shard

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(shards)) as pool:
        futures = [pool.submit(wait_one, shard) for shard in shards]
        try:
            for future in concurrent.futures.as_completed(futures):
                future.result()
        except BaseException:
            _stop(shards)  # the other threads' waits then return at once
            raise


def _stop(shards: list[_Shard]) -> None:
    for shard in shards:
        if shard.process is not None and shard.process.poll() is None:
            shard.process.kill()
            shard.process.wait()


def _shard_name(shard: _Shard) -> str:
    if shard.directory.name == "boot":
        return "the empty batch that times its boot"
    return f"shard {shard.index}, {shard.samples} samples"


def _last_stderr_line(shard: _Shard) -> str:
    try:
        text = (shard.directory / "stderr.txt").read_text(errors="replace")
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(nothing on stderr)"
