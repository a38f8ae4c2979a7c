"""Where the time of a QEMU validation goes: the whole `tinyml validate` run, its streaming part
over the emulated serial link, and the floor, the same inferences in QEMU with no link at all
(benchmarks/qemu_floor.py).

    .venv/bin/python benchmarks/validation_link.py --model digits --jobs 2

Run it on an otherwise idle machine: each QEMU takes a host core. Prints the figures and, with
--json, writes them to a file. Exit 1 when the validation itself fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.qemu_floor import measure as measure_floor  # noqa: E402


def measure_validation(model: str, jobs: int, limit: int | None) -> dict:
    """`tinyml validate` as a user runs it, in its own process: wall time from start to exit,
    Python and TensorFlow start-up, emulator boot and the desktop reference included."""
    with tempfile.TemporaryDirectory(prefix="tinyml-validate-") as report_dir:
        command = [sys.executable, "-m", "tinyml_pipeline.tools.cli", "-q", "validate",
                   "--model", model, "--emulator", "qemu", "--jobs", str(jobs),
                   "--report", report_dir]
        if limit:
            command += ["--limit", str(limit)]
        started = time.monotonic()
        finished = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                                  env=os.environ | {"PYTHONPATH": str(REPO_ROOT)})
        wall = time.monotonic() - started
        if finished.returncode != 0:
            raise SystemExit(f"validate failed (exit {finished.returncode}): "
                             f"{finished.stderr.strip() or finished.stdout.strip()}")
        report = json.loads((Path(report_dir) / model / "report.json").read_text())
    speed = report["throughput"]
    return {"wall_s": wall, "samples": report["validated"], "exact": report["tflm"]["exact"],
            "streaming_s": speed["seconds"], "samples_per_s": speed["samples_per_s"],
            "bytes_sent_per_sample": speed["bytes_sent_per_sample"],
            "retries": report["retries"], "summary": finished.stdout.strip().splitlines()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="digits", help="committed model (default digits)")
    parser.add_argument("--jobs", type=int, default=2, help="QEMUs at once (default 2)")
    parser.add_argument("--limit", type=int, help="first N test samples (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    validation = measure_validation(args.model, args.jobs, args.limit)
    floor = measure_floor(args.model, args.jobs, args.limit, None, False)
    samples = validation["samples"]
    link_s = validation["streaming_s"] - floor["floor_s"]
    figures = {"model": args.model, "jobs": args.jobs, "samples": samples,
               "host_cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0],
               "validation": validation, "floor": floor,
               "streaming_over_floor": validation["streaming_s"] / floor["floor_s"]}
    print(f"{args.model}, {samples} test samples, {args.jobs} QEMU(s), "
          f"{os.cpu_count()} host CPUs")
    print(f"  tinyml validate, whole run      {validation['wall_s']:7.1f} s  "
          f"({validation['exact']}/{samples} exact)")
    print(f"  of which streaming              {validation['streaming_s']:7.1f} s  "
          f"{validation['samples_per_s']:7.1f} samples/s, "
          f"{validation['bytes_sent_per_sample']:.0f} bytes sent per sample")
    print(f"  floor: QEMU batch, no link      {floor['floor_s']:7.1f} s  "
          f"{floor['floor_samples_per_s']:7.1f} samples/s, "
          f"{floor['instructions_per_s'] / 1e9:.2f} G instructions/s")
    print(f"  the link's share of streaming   {link_s:7.1f} s  "
          f"(streaming = {figures['streaming_over_floor']:.1f} x the floor)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
