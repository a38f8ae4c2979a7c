"""Running the bench's inputs on an image and checking every output against TFLite Micro's."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import qemu_batch
from tinyml_pipeline.tools.bench.image import Image
from tinyml_pipeline.tools.errors import CheckFailed, InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

HOST_TIMEOUT_S = 600.0
# QEMU's allowance per sample grows with the model: qemu_batch's default (0.1 s, tripled when
# layers are profiled) is what a model of a few million instructions needs, and the VWW shape's
# portable build (88 M instructions, run twice when profiled) took 0.32 s a sample on an idle
# machine here, right at it. Allowed: the portable kernels' worst (about 40 instructions per
# MAC) at a QEMU four times slower than that machine's.
PORTABLE_INSTRUCTIONS_PER_MAC = 40
SLOW_QEMU_INSTRUCTIONS_PER_S = 1.5e8
NOT_MEASURED = 0xFFFFFFFF  # what the host runner writes in the stack fields


def random_inputs(shape: tuple[int, ...], runs: int, seed: int) -> np.ndarray:
    """`runs` int8 samples, uniform over the whole int8 range: every input byte pattern is as
    likely, so no kernel path is favoured. Seeded, so two benches see the same inputs."""
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, size=(runs, *shape), dtype=np.int8)


def reference_outputs(model: TFLiteModel, inputs: np.ndarray, arena_bytes: int) -> np.ndarray:
    """TFLM's host interpreter's outputs, (N, output bytes) int8: the runtime the board runs
    and the one the built-in runtime must match byte for byte."""
    from tinyml_pipeline.tools.reference import TFLMRunner, run_all

    runner = TFLMRunner(model, arena_size=arena_bytes + 4096)
    return run_all(runner, inputs).reshape(len(inputs), -1).view(np.int8)


def check_outputs(outputs: np.ndarray, expected: np.ndarray, what: str) -> None:
    """CheckFailed naming the first differing sample and the largest difference."""
    outputs = outputs.reshape(len(outputs), -1).astype(np.int16)
    expected = expected.reshape(len(expected), -1).astype(np.int16)
    if outputs.shape != expected.shape:
        raise CheckFailed(f"{what}: outputs of shape {list(outputs.shape)}, TFLM gives "
                          f"{list(expected.shape)}")
    differing = np.flatnonzero(np.any(outputs != expected, axis=1))
    if len(differing):
        sample = int(differing[0])
        largest = int(np.abs(outputs - expected).max())
        raise CheckFailed(f"{what}: sample {sample} differs from TFLM's output (largest "
                          f"difference {largest} LSB, {len(differing)} of {len(outputs)} "
                          f"samples differ)")


def sample_timeout(macs: int) -> float:
    """Seconds QEMU may take per sample (before qemu_batch triples it for the profiling)."""
    return max(qemu_batch.SAMPLE_TIMEOUT_S,
               macs * PORTABLE_INSTRUCTIONS_PER_MAC / SLOW_QEMU_INSTRUCTIONS_PER_S)


def run_image(image: Image, inputs: np.ndarray, macs: int = 0) -> qemu_batch.Records:
    """Every sample through model 0 of the image (of `macs` MACs), every layer profiled."""
    if image.variant == "host":
        return _run_host(image.elf, inputs)
    result = qemu_batch.run_batch(0, inputs, elf=image.elf, measure_boot=False,
                                  profile_layers=True, sample_timeout_s=sample_timeout(macs))
    return qemu_batch.Records(result.outputs, result.costs, result.micros,
                              result.stack_high_water, result.invoke_stack,
                              result.empty_invoke, result.layer_costs)


def _run_host(runner: Path, inputs: np.ndarray) -> qemu_batch.Records:
    with tempfile.TemporaryDirectory(prefix="tinyml-bench-") as directory:
        folder = Path(directory)
        qemu_batch.write_inputs(folder / qemu_batch.INPUTS_NAME, 0, inputs,
                                qemu_batch.PROFILE_LAYERS)
        try:
            done = subprocess.run([str(runner), str(folder)], capture_output=True, text=True,
                                  timeout=HOST_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise InputError(f"{runner} did not finish within {HOST_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines() or ["(nothing on stderr)"]
            raise InputError(f"{runner} exited with status {done.returncode}: {lines[-1]}")
        records = qemu_batch.read_records(folder / qemu_batch.OUTPUTS_NAME, len(inputs))
    records.stack_high_water = records.invoke_stack = None  # the host measures no stack
    return records
