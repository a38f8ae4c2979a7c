"""The floor of validating a test set through QEMU: how long QEMU takes to execute the
inferences themselves, with no serial link (the image's batch mode, tools/qemu_batch.py).

    .venv/bin/python benchmarks/qemu_floor.py --model digits --jobs 2
    .venv/bin/python benchmarks/qemu_floor.py --model digits --jobs 1 --limit 2000 --check

Prints, for the model's test set (or its first --limit samples): the wall time of the run, each
QEMU's, QEMU's boot (an empty batch, timed alone), the floor (wall - boot), the instructions
executed and the rates QEMU achieved. The model's index comes from the image's own model list
over the protocol (a QEMU started for the purpose) unless --model-index gives it. Run it on an
otherwise idle machine: each QEMU takes a host core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from tinyml_pipeline.tools.errors import TinyMLError  # noqa: E402
from tinyml_pipeline.tools.firmware import Firmware  # noqa: E402
from tinyml_pipeline.tools.workspace import Workspace  # noqa: E402

WORKSPACE = Workspace(REPO_ROOT)  # the repository's models, data and builds


def model_index_from_device(name: str) -> int:
    """The index of model `name` in the QEMU image's MODEL_INFO list."""
    from tinyml_pipeline.tools import emulate
    from tinyml_pipeline.tools.device import Device
    from tinyml_pipeline.tools.transport import open_transport

    with emulate.start("qemu", Firmware(WORKSPACE)) as emulator, \
            Device(open_transport(emulator.url), timeout=15.0) as device:
        names = [info.name for info in device.models()]
    if name not in names:
        raise TinyMLError(f"the QEMU image has no model {name!r} (it has: {', '.join(names)})")
    return names.index(name)


def measure(model: str, jobs: int, limit: int | None, model_index: int | None,
            check: bool) -> dict:
    from tinyml_pipeline.tools.evaluate import load_test_set
    from tinyml_pipeline.tools.qemu_batch import run_batch

    elf = Firmware(WORKSPACE).build("qemu", quiet=True)
    _, tflite, test = load_test_set(WORKSPACE, WORKSPACE.models / model, limit)
    inputs = test.inputs
    if model_index is None:
        model_index = model_index_from_device(model)
    result = run_batch(model_index, inputs, jobs=jobs, elf=elf)
    samples = len(inputs)
    floor_s = result.floor_s
    figures = {
        "model": model, "model_index": model_index, "samples": samples, "jobs": jobs,
        "host_cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
        "wall_s": result.wall_s, "shard_wall_s": result.shard_wall_s,
        "shard_sizes": result.shard_sizes, "boot_s": result.boot_s, "floor_s": floor_s,
        "instructions": result.instructions,
        "instructions_per_sample": result.instructions / samples if samples else 0.0,
        "samples_per_s": samples / result.wall_s,
        "floor_samples_per_s": samples / floor_s if floor_s > 0 else None,
        # Every QEMU together, then one QEMU: its shard's instructions over its own run minus
        # a boot.
        "instructions_per_s": result.instructions / floor_s if floor_s > 0 else None,
        "instructions_per_s_per_qemu": [
            int(result.costs[start:start + size].sum(dtype="uint64")) / (wall - result.boot_s)
            for start, size, wall in zip(_starts(result.shard_sizes), result.shard_sizes,
                                         result.shard_wall_s, strict=True)
            if wall > result.boot_s],
    }
    if check:
        import numpy as np

        from tinyml_pipeline.tools.reference import TFLMRunner, run_all

        expected = run_all(TFLMRunner(tflite), inputs).reshape(samples, -1)
        figures["identical_to_tflm"] = int(np.all(expected == result.outputs, axis=1).sum())
    return figures


def _starts(sizes: list[int]) -> list[int]:
    starts, at = [], 0
    for size in sizes:
        starts.append(at)
        at += size
    return starts


def format_figures(figures: dict) -> str:
    shards = ", ".join(f"{wall:.2f} s ({size})" for wall, size in
                       zip(figures["shard_wall_s"], figures["shard_sizes"], strict=True))
    per_qemu = ", ".join(f"{rate / 1e6:.0f} M" for rate in figures["instructions_per_s_per_qemu"])
    lines = [
        f"model {figures['model']} (index {figures['model_index']}), {figures['samples']} "
        f"samples, {figures['jobs']} QEMU job(s) on {figures['host_cpus']} host CPUs "
        f"(load average {figures['load_average_1min']:.2f} after the run)",
        f"wall          {figures['wall_s']:.2f} s  ({figures['samples_per_s']:.0f} samples/s)",
        f"per QEMU      {shards}",
        f"boot          {figures['boot_s']:.3f} s  (an empty batch)",
    ]
    if figures["floor_samples_per_s"] is not None:
        lines += [
            f"floor         {figures['floor_s']:.2f} s  (wall - boot; "
            f"{figures['floor_samples_per_s']:.0f} samples/s)",
            f"instructions  {figures['instructions']:,} ({figures['instructions_per_sample']:,.0f}"
            f" a sample)",
            f"rate          {figures['instructions_per_s'] / 1e6:.0f} M instructions/s in all; "
            f"per QEMU: {per_qemu}",
        ]
    if "identical_to_tflm" in figures:
        lines.append(f"TFLM          {figures['identical_to_tflm']} of {figures['samples']} "
                     f"outputs identical")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits", help="a model under models/ (digits)")
    parser.add_argument("--jobs", type=int, default=2, help="QEMUs at once (2)")
    parser.add_argument("--limit", type=int, help="only the first N test samples")
    parser.add_argument("--model-index", type=int,
                        help="the model's index in the image (default: ask the image)")
    parser.add_argument("--check", action="store_true",
                        help="also compare the outputs with TFLM's host interpreter")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks on errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not (REPO_ROOT / "models" / args.model).is_dir():
        parser.error(f"no model directory models/{args.model}")
    try:
        figures = measure(args.model, args.jobs, args.limit, args.model_index, args.check)
    except TinyMLError as error:
        if args.traceback:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    print(json.dumps(figures, indent=2) if args.json else format_figures(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
