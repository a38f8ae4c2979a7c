"""`tinyml`: the pipeline's one command.

Results go to stdout, progress and logs to stderr. Exit codes: 0 success, 1 a check failed,
2 bad usage or bad input. `--debug` shows the traceback of an unexpected error.

The workspace (models, data, builds, reports, generated firmware sources) is resolved here, once,
and handed to every command (tools/workspace.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tinyml_pipeline.tools import workspace as workspace_module
from tinyml_pipeline.tools.cli_own_model import add_card, add_quantize
from tinyml_pipeline.tools.console import import_tensorflow_quietly
from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.firmware import Firmware
from tinyml_pipeline.tools.workspace import Workspace, shown


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter (oneDNN, CUDA probes) is noise for a CLI user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _add_train(commands) -> None:
    from tinyml_pipeline.training.tasks import TASKS

    parser = commands.add_parser(
        "train", help="train a model and export it as int8 TFLite",
        description="Train one of the pipeline's models and write model.tflite (int8 in and "
                    "out), card.json and plots into --out.")
    parser.add_argument("model", choices=sorted(TASKS), help="which model to train")
    parser.add_argument("--arch", help="architecture (digits: cnn, mlp, mlp-sigmoid; "
                                       "default: the task's first)")
    parser.add_argument("--dataset", help="data set (digits: mnist or fashion-mnist)")
    parser.add_argument("--epochs", type=_positive_int, help="training epochs (default per "
                                                             "architecture)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: the workspace's models/<model>/)")
    parser.add_argument("--qat", action="store_true",
                        help="fine-tune with quantization-aware training before converting")
    parser.add_argument("--qat-epochs", type=_positive_int,
                        help="epochs of QAT fine-tuning (default epochs / 5, at least 1)")
    parser.add_argument("--subset", type=_positive_int, metavar="N",
                        help="train on the first N training samples only (a quick smoke run)")
    parser.add_argument("--captures", type=Path, metavar="DIR",
                        help="activity only: train on recordings from `tinyml capture` instead "
                             "of BasicMotions, one subdirectory of .imu files per class "
                             "(e.g. data/captures)")
    parser.set_defaults(handler=_run_train)


def _add_evaluate(commands) -> None:
    parser = commands.add_parser(
        "evaluate", help="run an int8 model in LiteRT and TFLM and compare",
        description="Run models/<name>/model.tflite over its whole test set in the LiteRT "
                    "interpreter and in TFLite Micro's host interpreter; report both accuracies "
                    "and how many outputs are bit-identical. LiteRT is not the board's runtime, so "
                    "a difference is reported, not failed, unless --tolerance is given: then exit "
                    "1 if any output differs by more than that many LSB.")
    parser.add_argument("model_dir", type=Path, help="a model directory, e.g. models/digits")
    parser.add_argument("--tolerance", type=_non_negative_int, metavar="LSB",
                        help="fail (exit 1) when LiteRT and TFLM differ by more than this "
                             "(0: require bit-identical outputs; default: report only)")
    parser.add_argument("--litert-kernels", choices=("optimized", "reference"),
                        default="optimized",
                        help="LiteRT's default optimized builtin kernels (default) or its "
                             "reference kernels")
    parser.add_argument("--limit", type=_positive_int, help="only the first N test samples")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    parser.set_defaults(handler=_run_evaluate)


def _add_convert(commands) -> None:
    parser = commands.add_parser(
        "convert", help="compile a .tflite into C sources for the firmware",
        description="Write the model's C sources into --out: the .tflite bytes for TFLite Micro, "
                    "its settings (tensor contract, labels, TFLM arena size, op list), a TFLM op "
                    "resolver, the built-in runtime's plan; then regenerate the registry of all "
                    "models in --out. Nothing is written if the model cannot be compiled.")
    parser.add_argument("model", type=Path, help="an int8 .tflite (its card.json, if next to it, "
                                                 "supplies labels and input normalization)")
    parser.add_argument("--name", help="C name of the model (default: the card's name, or the "
                                       "model's directory name)")
    parser.add_argument("--out", type=Path,
                        help="output directory (default: the workspace's firmware/lib/models/)")
    parser.set_defaults(handler=_run_convert)


def _add_run(commands) -> None:
    from tinyml_pipeline.tools.run import BACKENDS

    parser = commands.add_parser(
        "run", help="run a .tflite on a batch of int8 inputs in one backend",
        description="Run every sample of --inputs (an int8 .npy shaped [N, ...input shape]; "
                    "int16 for a 16x8 model) through the model and save the outputs as an .npy "
                    "of the model's output type. builtin: our "
                    "runtime compiled for this machine (cached); tflm: TFLite Micro's host "
                    "interpreter; litert: the LiteRT interpreter.")
    parser.add_argument("model", type=Path, help="an int8 (or 16x8) .tflite")
    parser.add_argument("--inputs", type=Path, required=True,
                        help="int8 (int16) inputs: .npy, or .npz with an array x")
    parser.add_argument("--out", type=Path, required=True, help="where to save outputs, .npy")
    parser.add_argument("--backend", choices=BACKENDS, default="builtin",
                        help="runtime to use (default builtin)")
    parser.set_defaults(handler=_run_run)


def _add_firmware(commands, firmware: Firmware) -> None:
    parser = commands.add_parser(
        "firmware", help="build, measure and flash the firmware",
        description="Build a firmware target (CMake: host, qemu; PlatformIO: the nano33ble "
                    "envs), report its flash and RAM use, or flash a board.")
    actions = parser.add_subparsers(dest="firmware_command", required=True, metavar="ACTION")

    build = actions.add_parser(
        "build", help="build a target and print the path of its ELF",
        description="Build a target and print the path of its ELF (host: the executable) on "
                    "stdout. The whole build output goes to a log in the build directory; a "
                    "failure shows its last lines. The nano33ble envs need the PlatformIO "
                    "registry on their first build.")
    build.add_argument("--target", choices=firmware.targets(), required=True,
                       help="what to build: host, qemu or an env of platformio.ini")
    build.add_argument("--sanitize", action="store_true",
                       help="host only: AddressSanitizer and UBSan (own build dir, host-asan)")
    build.add_argument("--no-dsp", action="store_true",
                       help="portable kernels instead of the Cortex-M4 DSP paths "
                            "(TINYML_DISABLE_DSP; CMake targets get their own build dir)")
    build.add_argument("-j", "--jobs", type=_positive_int, default=2,
                       help="parallel compile jobs (default 2)")
    build.add_argument("--build-dir", type=Path,
                       help="build tree (default: the workspace's "
                            "build/firmware/<target>[-asan][-nodsp]; "
                            "PlatformIO: the directory holding one tree per env)")
    build.add_argument("--models-dir", type=Path,
                       help="host, qemu: build these generated model sources (tinyml convert "
                            "--out DIR) instead of the workspace's firmware/lib/models; give "
                            "--build-dir too")
    build.set_defaults(handler=_run_firmware_build)

    size = actions.add_parser(
        "size", help="flash and RAM used by a firmware ELF",
        description="Print the allocated sections of an ELF (address, load address where it "
                    "differs, size, region) and the flash and RAM totals. With --target, the "
                    "target's conventional ELF is used and built first if it is missing. For a "
                    "host executable, text/data/bss are reported as size(1) does.")
    what = size.add_mutually_exclusive_group(required=True)
    what.add_argument("elf", nargs="?", type=Path, help="an ELF file")
    what.add_argument("--target", choices=firmware.targets(),
                      help="a target's ELF (built if missing)")
    size.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    size.set_defaults(handler=_run_firmware_size)

    flash = actions.add_parser(
        "flash", help="build and upload to a Nano 33 BLE Sense",
        description="Build the env if needed and upload it with `pio run -t upload`. The "
                    "board is found by USB unless --port is given.")
    flash.add_argument("--env", choices=firmware.flashable_envs(), default="nano33ble",
                       help="PlatformIO env (default nano33ble: TFLite Micro)")
    flash.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0")
    flash.set_defaults(handler=_run_firmware_flash)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _run_train(args, parser) -> int:
    from tinyml_pipeline.training.pipeline import TrainOptions, train_and_export
    from tinyml_pipeline.training.tasks import get_task

    task = get_task(args.model)
    architecture = args.arch or task.architectures[0]
    if architecture not in task.architectures:
        parser.error(f"{args.model} has no architecture {architecture!r}; "
                     f"choose from {', '.join(task.architectures)}")
    dataset = _captures_dataset(args, task, parser) or args.dataset or task.datasets[0]
    if args.captures is None and dataset not in task.datasets:
        parser.error(f"{args.model} trains on {', '.join(task.datasets)}, not {dataset!r}")
    options = TrainOptions(task=task, architecture=architecture, dataset=dataset,
                           epochs=args.epochs or task.default_epochs(architecture),
                           seed=args.seed, out=args.out or args.workspace.models / args.model,
                           workspace=args.workspace,
                           qat=args.qat, qat_epochs=args.qat_epochs, subset=args.subset,
                           captures=args.captures)
    import_tensorflow_quietly()
    card = train_and_export(options)
    print(_card_summary(card, shown(options.out)))
    return 0


def _captures_dataset(args, task, parser) -> str | None:
    """The data set name for --captures when it is given and fits the task, else None. The
    directory's layout is checked here, before TensorFlow's seconds-long import."""
    if args.captures is None:
        return None
    if not task.trains_on_captures:
        parser.error(f"--captures trains the activity model; {task.name} does not take IMU "
                     "recordings")
    if args.dataset:
        parser.error("--captures replaces --dataset; give one of them")
    from tinyml_pipeline.training.captures import NAME, find_recordings

    find_recordings(args.captures)
    return NAME


def _card_summary(card, out: str) -> str:
    scores = card.test
    if "accuracy" in scores["int8"]:
        quality = (f"test accuracy float {scores['float']['accuracy']:.2%}, "
                   f"int8 {scores['int8']['accuracy']:.2%}")
    else:
        probe = next(key for key in scores["int8"] if key.startswith("f("))
        quality = (f"int8 {probe} = {scores['int8'][probe]:.3f} "
                   f"(float {scores['float'][probe]:.3f}), "
                   f"max abs error {scores['int8']['max_abs_error']:.3f}")
    return (f"{card.name} ({card.architecture}) -> {out}: {quality}; "
            f"{card.model['bytes']} bytes, {card.parameters} parameters, "
            f"{card.macs} MACs, TFLM arena {card.tflm_arena_bytes} bytes, "
            f"trained in {card.training['seconds']:.0f} s")


def _run_evaluate(args, parser) -> int:
    from tinyml_pipeline.tools.atomic import atomic_write_text
    from tinyml_pipeline.tools.evaluate import evaluate_model, format_report

    result = evaluate_model(args.workspace, args.model_dir, litert_kernels=args.litert_kernels,
                            limit=args.limit, progress=not args.quiet)
    print(format_report(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result.as_dict(), indent=2) + "\n")
    if args.tolerance is None:
        if result.max_difference_lsb:
            # The board is checked against TFLM (validate); LiteRT's kernels may round otherwise.
            print(f"note: LiteRT and TFLM differ by up to {result.max_difference_lsb} LSB; "
                  f"--tolerance N makes that a failure", file=sys.stderr)
        return 0
    if result.max_difference_lsb > args.tolerance:
        print(f"FAIL: outputs differ by up to {result.max_difference_lsb} LSB "
              f"(tolerance {args.tolerance})", file=sys.stderr)
        return 1
    return 0


def _run_convert(args, parser) -> int:
    from tinyml_pipeline.tools.compiler.convert import convert_to_directory

    args.out = args.out or args.workspace.firmware_models
    converted = convert_to_directory(args.model, args.out, args.name,
                                     display_root=args.workspace.root)
    plan = converted.plan
    weights = sum(_const_bytes(layer) for layer in plan.layers)
    print(f"{converted.name}: {len(plan.layers)} layers, plan arena {plan.arena_bytes} bytes, "
          f"weights {weights} bytes (.tflite {plan.model.size}), TFLM arena "
          f"{converted.entry.tflm_arena_bytes} bytes -> {shown(args.out)}")
    for warning in converted.tflm_warnings():
        print(f"warning: the TFLM firmware will not compile this: {warning}", file=sys.stderr)
    return 0


def _const_bytes(layer) -> int:
    from tinyml_pipeline.tools.compiler.layers import Const

    # A fused layer's constants are its operators' (tools/compiler/fusion.py).
    if "fused" in layer.extra:
        return sum(_const_bytes(member) for member in layer.extra["fused"])
    return sum(value.values.nbytes for _, value in layer.fields if isinstance(value, Const))


def _run_run(args, parser) -> int:
    from tinyml_pipeline.tools.run import run_model

    outputs = run_model(args.model, args.inputs, args.out, args.backend,
                        cache_dir=args.workspace.build / "host-runner")
    print(f"{len(outputs)} samples through {args.backend} -> {args.out}")
    return 0


def _run_firmware_build(args, parser) -> int:
    if args.sanitize and args.target != "host":
        parser.error("--sanitize applies to --target host only")
    if args.models_dir and not args.build_dir:
        parser.error("--models-dir needs its own --build-dir (the default tree builds the "
                     "workspace's firmware/lib/models)")
    elf = Firmware(args.workspace).build(
        args.target, sanitize=args.sanitize, disable_dsp=args.no_dsp, build_dir=args.build_dir,
        jobs=args.jobs, quiet=args.quiet, models_dir=args.models_dir)
    print(elf)
    return 0


def _run_firmware_size(args, parser) -> int:
    from tinyml_pipeline.tools.size_report import format_size_report, size_report

    elf = args.elf
    if args.target:
        firmware = Firmware(args.workspace)
        elf = firmware.target_elf(args.target)
        if not elf.is_file():
            if not args.quiet:
                print(f"{args.target} is not built yet: building it", file=sys.stderr)
            elf = firmware.build(args.target, quiet=args.quiet)
    report = size_report(elf)
    print(json.dumps(report, indent=2) if args.json else format_size_report(report))
    return 0


def _run_firmware_flash(args, parser) -> int:
    port = Firmware(args.workspace).flash(args.env, args.port, quiet=args.quiet)
    print(f"flashed {args.env}" + (f" through {port}" if port else ""))
    return 0


def _add_emulate(commands) -> None:
    from tinyml_pipeline.tools.emulate import TARGETS

    parser = commands.add_parser(
        "emulate", help="run an emulated board and print the URL to connect to",
        description="Start an emulated board (building its image first when it is missing or "
                    "stale), print the pyserial URL of its serial link on stdout, and run it "
                    "until Ctrl-C. qemu: the Cortex-M4F image on a TCP socket; host: the native "
                    "build on a pty; renode: the Nano 33 BLE Sense model (needs Renode on PATH).")
    parser.add_argument("--target", choices=TARGETS, default="qemu",
                        help="which emulator (default qemu)")
    parser.add_argument("--imu", type=Path, metavar="FILE",
                        help="IMU replay file for the live and capture modes (host, qemu; for "
                             "qemu it must be named imu_replay.bin)")
    parser.add_argument("--image", type=Path, metavar="FILE",
                        help="qemu or host: run this firmware (an ELF for qemu, the host "
                             "port's executable for host) instead of building the default one")
    parser.set_defaults(handler=_run_emulate)


def _run_emulate(args, parser) -> int:
    import time

    from tinyml_pipeline.tools.emulate import EmulatorError, start

    if args.image and args.target == "renode":
        parser.error("--image goes with --target qemu or host")
    with start(args.target, Firmware(args.workspace), imu_replay=args.imu, image=args.image,
               quiet=args.quiet) as emulator:
        print(emulator.url, flush=True)
        print(f"{args.target} emulator running; Ctrl-C stops it", file=sys.stderr)
        try:
            while emulator.running():
                time.sleep(0.2)
        except KeyboardInterrupt:
            print(f"stopping the {args.target} emulator", file=sys.stderr)
            return 0
    raise EmulatorError(f"the {args.target} emulator exited by itself "
                        f"(status {emulator.process.returncode})")


def _add_validate(commands) -> None:
    from tinyml_pipeline.tools.emulate import TARGETS
    parser = commands.add_parser(
        "validate", help="stream a test set to a board or emulator and check its outputs",
        description="Check a device against the desktop: HELLO and the model list first (a "
                    "model whose sha256 differs from models/<name>/model.tflite is refused), "
                    "then every test sample is sent and the device's output compared with TFLite "
                    "Micro's host interpreter (gated: exact agreement), LiteRT (reported) and "
                    "the label. Writes <report>/<model>/results.jsonl as results arrive, "
                    "report.json and confusion.png; --resume continues an interrupted run. "
                    "Exit 0 when agreement meets --min-agreement, 1 when not, 2 on usage or "
                    "connection errors.")
    parser.add_argument("--model", required=True, action="append", metavar="NAME|DIR",
                        help="a model to validate: a name under --models-dir (the repository "
                             "has activity, digits, linear), a model directory with card.json, "
                             "or all (every model under --models-dir); repeat it for several")
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="test set to stream instead of the card's: an .npz with x (and y) "
                             "or an x .npy, in the card's input form")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--port", action="append", metavar="PORT",
                       help="serial port or pyserial URL (socket://host:port, a pty); repeat it "
                            "to shard over several boards (default: the board found by USB)")
    where.add_argument("--emulator", choices=TARGETS,
                       help="start emulated boards instead (qemu, host; renode needs Renode)")
    parser.add_argument("--jobs", type=_positive_int, default=1,
                        help="devices to shard the test set over: emulators started, --port "
                             "given, or boards found by USB (default 1)")
    parser.add_argument("--limit", type=_positive_int,
                        help="only the first N test samples (default: the whole test set)")
    parser.add_argument("--report", type=Path, metavar="DIR",
                        help="where results and reports go (default: the workspace's "
                             "build/validation)")
    parser.add_argument("--trace-layers", type=int, default=1, metavar="N",
                        help="read the first N samples that differ from TFLM back layer by "
                             "layer and name the first layer that differs (default 1; 0: off; "
                             "a TFLM image answers that it cannot)")
    parser.add_argument("--min-agreement", type=_fraction, default=1.0,
                        help="fraction of outputs that must equal TFLM's exactly (default 1.0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run recorded in --report instead of starting over")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for each reply (default 5)")
    parser.add_argument("--models-dir", type=Path,
                        help="where <name>/model.tflite and card.json are (default: the "
                             "workspace's models/)")
    parser.add_argument("--image", type=Path,
                        help="with --emulator qemu or host: run this ELF or executable instead "
                             "of building the default image")
    parser.add_argument("--shard", metavar="K/N", type=_shard,
                        help="validate only the K-th of N disjoint slices of the test set: the "
                             "samples i with i %% N == K-1; join the shards' reports with "
                             "`tinyml report merge`")
    parser.set_defaults(handler=_run_validate)


def _shard(text: str) -> tuple[int, int]:
    from tinyml_pipeline.tools.validation.shard import parse_shard

    try:
        return parse_shard(text)
    except TinyMLError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix(f"--shard {text!r}: ")) from None


def _add_report(commands) -> None:
    parser = commands.add_parser("report", help="work with validation reports")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge", help="join the reports of the shards of one validation",
        description="Join the report directories of `tinyml validate --shard K/N` runs (shards "
                    "1..N each once, of the same model, sha256 and test set) into one report in "
                    "--out, with the format and totals of an unsharded run. The desktop "
                    "reference is recomputed from --models-dir. Exit 0 when every model meets "
                    "the gate, 1 when not, 2 on bad input.")
    merge.add_argument("directories", type=Path, nargs="+", metavar="REPORT_DIR",
                       help="a shard's --report directory")
    merge.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="where the merged report goes")
    merge.add_argument("--models-dir", type=Path,
                       help="where <name>/model.tflite and card.json are (default: the "
                            "workspace's models/)")
    merge.add_argument("--min-agreement", type=_fraction,
                       help="the gate (default: the one the shards were validated against)")
    merge.set_defaults(handler=_run_report_merge)


def _run_report_merge(args, parser) -> int:
    from tinyml_pipeline.tools.validation.merge import merge
    from tinyml_pipeline.tools.validation.report import summary_lines, total_line

    import_tensorflow_quietly()
    summary = merge(args.directories, args.out, args.workspace, args.models_dir,
                    args.min_agreement)
    for report in summary["models"].values():
        print("\n".join(summary_lines(report)))
    print(total_line(summary["totals"]))
    return 0 if summary["totals"]["passed"] else 1


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def _run_validate(args, parser) -> int:
    from tinyml_pipeline.tools.validation.validate import Options, run

    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.image and args.emulator not in ("qemu", "host"):
        parser.error("--image goes with --emulator qemu or host")
    if args.port and args.jobs not in (1, len(args.port)):
        parser.error(f"--jobs {args.jobs} with {len(args.port)} --port: give one port per job")
    if args.trace_layers < 0:
        parser.error("--trace-layers must be 0 or more")
    return run(Options(models=args.model, data=args.data,
                       trace_layers=args.trace_layers, workspace=args.workspace,
                       models_dir=args.models_dir,
                       ports=args.port,
                       emulator=args.emulator, image=args.image,
                       jobs=len(args.port) if args.port else args.jobs,
                       limit=args.limit, report_dir=args.report,
                       min_agreement=args.min_agreement, resume=args.resume,
                       timeout=args.timeout, quiet=args.quiet, shard=args.shard))


def _add_capture(commands) -> None:
    parser = commands.add_parser(
        "capture", help="record the board's IMU stream as training data",
        description="Record --seconds of the board's IMU (acceleration in m/s^2, angular rate "
                    "in rad/s) in the protocol's capture mode into OUT/LABEL/LABEL-<UTC "
                    "time>.imu, an IMU replay file, with a .json beside it (rate, units, how it "
                    "ended, the device). Train on the recordings with `tinyml train activity "
                    "--captures OUT`. Ctrl-C keeps what arrived.")
    parser.add_argument("--label", required=True, type=_capture_label,
                        help="the class being recorded, e.g. walking (letters, digits, - and _)")
    parser.add_argument("--seconds", required=True, type=_positive_float,
                        help="how long to record")
    parser.add_argument("--port", help="serial port or pyserial URL (a pty, socket://HOST:PORT); "
                                       "default: the Nano 33 BLE found by USB id")
    parser.add_argument("--rate", type=_positive_float, metavar="HZ",
                        help="sample rate (default: the activity model's, from the "
                             "workspace's models/activity/card.json: 10 Hz)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="captures directory (default: the workspace's data/captures/)")
    parser.set_defaults(handler=_run_capture)


def _capture_label(text: str) -> str:
    from tinyml_pipeline.tools.capture import is_safe_label

    if not is_safe_label(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a safe directory name: use letters, "
                                         "digits, '-' and '_' only")
    return text


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _run_capture(args, parser) -> int:
    from tinyml_pipeline.tools.capture import default_rate_hz, record
    from tinyml_pipeline.tools.transport import open_transport

    rate = args.rate or default_rate_hz(args.workspace.models)
    if round(args.seconds * rate) < 1:
        parser.error(f"--seconds {args.seconds:g} at {rate:g} Hz is not one sample")
    transport = open_transport(args.port)
    port = getattr(transport, "port", None) or args.port or ""
    capture = record(transport, args.label, args.seconds, rate,
                     args.out or args.workspace.captures,
                     progress=not args.quiet, port=str(port))
    print(capture.summary())
    if capture.problem:
        print(f"tinyml: {capture.problem}", file=sys.stderr)
    return capture.exit_code


def _add_bench(commands) -> None:
    from tinyml_pipeline.tools.bench.bench import DEFAULT_RUNS, DEFAULT_SEED, TARGETS

    parser = commands.add_parser(
        "bench", help="measure one model's cost, flash and RAM on the target",
        description="Build an image holding just this model (built-in runtime; on QEMU with "
                    "the Cortex-M4 DSP paths on and off), run --runs seeded random int8 inputs "
                    "with every layer timed, require every output to equal TFLite Micro's "
                    "(exit 1 otherwise), and report the cost per inference, per layer and per "
                    "MAC, the flash split and the RAM against TFLM's arena: a table on stdout, "
                    "JSON with --json. --target host times the native build in nanoseconds.")
    parser.add_argument("model", help="a .tflite, or a model directory such as models/digits")
    parser.add_argument("--target", choices=TARGETS, default="qemu",
                        help="qemu: instructions on the emulated Cortex-M4F (default); host: "
                             "nanoseconds on this machine")
    parser.add_argument("--runs", type=_positive_int, default=DEFAULT_RUNS,
                        help=f"inferences, each on its own random input (default {DEFAULT_RUNS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the random inputs (default {DEFAULT_SEED})")
    parser.add_argument("--name", help="C name of the model (default: the card's name, or the "
                                       "file's)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.set_defaults(handler=_run_bench)


def _run_bench(args, parser) -> int:
    from tinyml_pipeline.tools.atomic import atomic_write_text
    from tinyml_pipeline.tools.bench.bench import run_bench
    from tinyml_pipeline.tools.bench.report import format_table

    result = run_bench(args.model, Firmware(args.workspace), target=args.target, runs=args.runs,
                       seed=args.seed, name=args.name, quiet=args.quiet)
    print(format_table(result))
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def _add_init(commands) -> None:
    parser = commands.add_parser(
        "init", help="create a workspace for your own project",
        description="Create DIR as a workspace: models/, data/, firmware/lib/ (where tinyml "
                    "convert writes the firmware's model sources), a platformio.ini whose "
                    "environments build the packaged firmware with them, and a README of the "
                    "next commands. DIR must be new or empty.")
    parser.add_argument("directory", type=Path, metavar="DIR", help="the new workspace")
    parser.set_defaults(handler=_run_init)


def _run_init(args, parser) -> int:
    from tinyml_pipeline.tools.init_workspace import init_workspace
    from tinyml_pipeline.tools.packaged import firmware_dir

    created = init_workspace(args.directory, firmware_dir())
    print(f"workspace {shown(created.root)}: models/, data/, firmware/lib/, platformio.ini, "
          f"README.md; next: cd {shown(created.root)} and see its README.md")
    return 0


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", type=Path, metavar="DIR",
                        help=f"where models, data, builds and reports are (default: "
                             f"${workspace_module.ENV_VAR}, else the current directory)")


def build_parser(workspace: Workspace | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; `workspace` supplies the firmware targets its platformio.ini defines."""
    workspace = workspace or workspace_module.resolve()
    parser = argparse.ArgumentParser(
        prog="tinyml", description="From data to a validated int8 model on a microcontroller.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_init(commands)
    _add_train(commands)
    add_quantize(commands)
    add_card(commands)
    _add_evaluate(commands)
    _add_convert(commands)
    _add_run(commands)
    _add_firmware(commands, Firmware(workspace))
    _add_emulate(commands)
    _add_capture(commands)
    _add_validate(commands)
    _add_report(commands)
    _add_bench(commands)
    return parser


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM ends the run the way Ctrl-C does: the finally blocks run, so emulators started for
    it are stopped and partial results are closed properly."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        def terminate(number, frame):
            print("tinyml: terminated", file=sys.stderr)
            sys.exit(128 + number)

        signal.signal(signal.SIGTERM, terminate)


def _workspace_from(argv: list[str] | None) -> Workspace:
    """--workspace, read before the full parser is built (the firmware targets depend on it)."""
    early = argparse.ArgumentParser(add_help=False)
    _global_options(early)
    known, _ = early.parse_known_args(argv)
    return workspace_module.resolve(known.workspace)


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    _exit_cleanly_on_sigterm()
    workspace = _workspace_from(argv)
    parser = build_parser(workspace)
    args = parser.parse_args(argv)
    args.workspace = workspace
    try:
        return args.handler(args, parser)
    except TinyMLError as error:
        if args.debug:
            raise
        print(f"tinyml: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("tinyml: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # an unexpected failure still gets one line without --debug
        if args.debug:
            raise
        print(f"tinyml: internal error: {type(error).__name__}: {error} "
              f"(run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
