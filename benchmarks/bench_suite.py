"""`make bench`: BENCHMARKS.md, generated from measurements taken now on this machine.

    .venv/bin/python benchmarks/bench_suite.py --out BENCHMARKS.md

It benches (tools/bench, the same as `tinyml bench`) the committed models and four public model
shapes built here with the TFLite converter (benchmarks/public_models.py), measures the host
tool's validation throughput over the emulated serial link and its floor
(benchmarks/validation_link.py), and copies the training times from the model cards. A model
that cannot be benched (an op the runtime lacks, an output that differs from TFLM's) gets a line
saying why instead of a row. Every figure names how it was measured; the machine section says
on what. BENCHMARKS.md holds timings, so it is generated, not committed (.gitignore).

Exit 0 when every model was benched or was refused by the converter or the runtime (which the
file says), and the validation ran; 1 otherwise. The file is written either way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import bench_markdown  # noqa: E402
from tinyml_pipeline.tools.card import load_card  # noqa: E402
from tinyml_pipeline.tools.errors import TinyMLError  # noqa: E402
from tinyml_pipeline.training.tasks import TASKS  # noqa: E402

COMMITTED = tuple(TASKS)
VALIDATION_MODEL = "digits"
VALIDATION_LIMIT = 2000  # test samples streamed; enough for a steady rate, quick to run
VALIDATION_JOBS = 2


def say(message: str) -> None:
    print(f"bench-suite: {message}", file=sys.stderr, flush=True)


def bench_one(label: str, source: Path, runs: int, origin: str, description: str) -> dict:
    """One model's figures, or its failure as one line."""
    from tinyml_pipeline.tools.bench.bench import run_bench
    from tinyml_pipeline.tools.firmware import Firmware
    from tinyml_pipeline.tools.workspace import Workspace

    entry = {"label": label, "origin": origin, "description": description,
             "source": str(source)}
    try:
        entry["result"] = run_bench(source, Firmware(Workspace(REPO_ROOT)), runs=runs, quiet=False)
    except TinyMLError as error:
        entry["error"] = str(error)
        entry["error_kind"] = type(error).__name__
        say(f"{label}: not benched: {error}")
    return entry


def committed_description(name: str) -> str:
    card = load_card(REPO_ROOT / "models" / name)
    return f"{card.description}, {card.architecture} (committed)"


def public_entries(runs: int, seed: int) -> list[dict]:
    from benchmarks.public_models import MODELS, build_tflite

    out_dir = REPO_ROOT / "build" / "bench" / "public"
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in MODELS:
        say(f"{spec.name}: building it with the TFLite converter (seed {seed})")
        path = out_dir / f"{spec.name}.tflite"
        try:
            data = build_tflite(spec, seed)
        except Exception as error:  # the converter's own failure: reported, not fatal
            entries.append({"label": spec.name, "origin": "public shape",
                            "description": spec.description, "source": str(path),
                            "error": f"the TFLite converter failed: {type(error).__name__}: "
                                     f"{str(error).strip().splitlines()[0] if str(error) else ''}",
                            "error_kind": "ConverterError"})
            continue
        if not path.is_file() or path.read_bytes() != data:  # equal bytes keep their builds
            path.write_bytes(data)
        entries.append(bench_one(spec.name, path, runs, "public shape", spec.description))
    return entries


def validation_figures() -> dict:
    """benchmarks/validation_link.py's measurement: `tinyml validate` over QEMU's serial link,
    then the same samples in QEMU's batch mode (no link)."""
    from benchmarks.qemu_floor import measure as measure_floor
    from benchmarks.validation_link import measure_validation

    say(f"validation: tinyml validate --model {VALIDATION_MODEL} --emulator qemu --jobs "
        f"{VALIDATION_JOBS} --limit {VALIDATION_LIMIT}")
    validation = measure_validation(VALIDATION_MODEL, VALIDATION_JOBS, VALIDATION_LIMIT)
    say("validation: the same samples in QEMU's batch mode (the floor)")
    floor = measure_floor(VALIDATION_MODEL, VALIDATION_JOBS, VALIDATION_LIMIT, None, False)
    return {"model": VALIDATION_MODEL, "jobs": VALIDATION_JOBS, "limit": VALIDATION_LIMIT,
            "validation": validation, "floor": floor,
            "streaming_over_floor": validation["streaming_s"] / floor["floor_s"]}


def training_times() -> list[dict]:
    rows = []
    for name in COMMITTED:
        card = load_card(REPO_ROOT / "models" / name)
        training = card.training
        rows.append({"model": name, "architecture": card.architecture,
                     "parameters": card.parameters, "epochs": training.get("epochs"),
                     "training_samples": training.get("training_samples"),
                     "qat": training.get("qat"), "seconds": training.get("seconds"),
                     "machine": training.get("machine")})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "build" / "bench" /
                        "suite.json", help="all figures as JSON (default build/bench/suite.json)")
    parser.add_argument("--runs", type=int, default=20, help="inferences per model (20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the public models' "
                                                            "weights and calibration (1)")
    parser.add_argument("--skip-validation", action="store_true",
                        help="leave out the serial-link validation measurement")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    started = time.monotonic()

    entries = [bench_one(name, REPO_ROOT / "models" / name, args.runs, "committed",
                         committed_description(name)) for name in COMMITTED]
    entries += public_entries(args.runs, args.seed)
    validation, validation_error = None, None
    if not args.skip_validation:
        try:
            validation = validation_figures()
        except (TinyMLError, SystemExit, OSError) as error:
            # validation_link raises SystemExit with validate's stderr: its last line says why.
            lines = [line for line in str(error).splitlines() if line.strip()]
            validation_error = lines[-1] if lines else type(error).__name__
            say(f"validation: failed: {validation_error}")
    suite = {"entries": entries, "validation": validation,
             "validation_error": validation_error, "training": training_times(),
             "runs": args.runs, "public_seed": args.seed,
             "seconds": time.monotonic() - started}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(suite, indent=2) + "\n")
    args.out.write_text(bench_markdown.render(suite))
    say(f"wrote {args.out} and {args.json} in {suite['seconds']:.0f} s")
    # A model the runtime or the converter cannot take is a finding, reported in the file; a
    # mismatch with TFLM, a missing tool or a failed validation is a failure.
    failed = [entry["label"] for entry in entries
              if entry.get("error_kind") not in (None, "CompileError", "ConverterError")]
    return 1 if failed or validation_error else 0


if __name__ == "__main__":
    sys.exit(main())
