"""libFuzzer over the device core: the two harnesses of firmware/fuzz/ (raw serial bytes, and
frames of every command), built from the firmware's CMake with clang, ASan and UBSan.

    .venv/bin/python -m fuzz.device --seconds N [--target raw|frames]   fuzz each target N s
    .venv/bin/python -m fuzz.device --coverage                          line coverage by the corpus
    .venv/bin/python -m fuzz.device --write-seeds                       regenerate the seed corpora

Prints `device_<target>: N executions, M findings` per target and exits 1 on any finding; a
finding's input is saved under build/fuzz/device_<target>/ (libFuzzer's crash-*, leak-*,
timeout-*, oom-* files; rerun one with build/fuzz/device-build/fuzz-device-<target> FILE).
Inputs that reached new code accumulate in build/fuzz/device_<target>/corpus/, beside the
committed seeds in fuzz/corpus/device_<target>/. Exits 2 when clang or libFuzzer is missing."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from fuzz import device_seeds

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
CORPUS = REPO / "fuzz" / "corpus"
BUILD = REPO / "build" / "fuzz"
TARGETS = ("raw", "frames")
# Longest input: a frame of the largest payload, stuffed, with room for a few more.
MAX_LEN = 8192
# Seconds one input may take before it counts as a hang (a finding).
INPUT_TIMEOUT = 10
FINDING_PREFIXES = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")
COVERED_SOURCES = ("framing.c", "device.c", "imu_modes.c", "chunks.c")


class Unavailable(Exception):
    """clang, CMake or libFuzzer is missing: nothing can be built."""


def build(mode: str = "ON") -> Path:
    """Configures and builds both harnesses (mode ON: sanitizers; COVERAGE: clang coverage);
    returns the build directory."""
    clang = shutil.which("clang")
    if clang is None or shutil.which("cmake") is None:
        raise Unavailable("clang and cmake are needed (scripts/install-system-deps.sh)")
    probe = subprocess.run([clang, "-print-file-name=libclang_rt.fuzzer-x86_64.a"],
                           capture_output=True, text=True)
    if not Path(probe.stdout.strip()).is_file():
        raise Unavailable("clang has no libFuzzer runtime (Debian: libclang-rt-14-dev)")
    build_dir = BUILD / ("device-build" if mode == "ON" else "device-coverage")
    env = dict(os.environ, CC=clang)
    for command in (["cmake", "-S", str(FIRMWARE), "-B", str(build_dir), f"-DTINYML_FUZZ={mode}"],
                    ["cmake", "--build", str(build_dir), "-j2", "--target",
                     *(f"fuzz-device-{target}" for target in TARGETS)]):
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise RuntimeError(f"the fuzz build failed: {' '.join(command)}")
    return build_dir


def _stat(output: str, name: str) -> int:
    found = re.findall(rf"stat::{name}:\s*(\d+)", output)
    return int(found[-1]) if found else 0


def fuzz(build_dir: Path, target: str, seconds: int) -> tuple[int, int, str]:
    """Runs one harness for `seconds`; returns (executions, findings, libFuzzer's output)."""
    work = BUILD / f"device_{target}"
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    before = {path.name for path in work.iterdir()}
    command = [str(build_dir / f"fuzz-device-{target}"), str(corpus),
               str(CORPUS / f"device_{target}"),
               f"-max_total_time={seconds}", f"-max_len={MAX_LEN}", f"-timeout={INPUT_TIMEOUT}",
               "-rss_limit_mb=2048", "-print_final_stats=1", f"-artifact_prefix={work}/"]
    # UBSan's report alone would not stop the run; halt_on_error makes every report a crash.
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env,
                                timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        return 0, 1, f"fuzz-device-{target} did not stop within {seconds + 120} s"
    output = result.stdout + result.stderr
    new = [path for path in work.iterdir()
           if path.name not in before and path.name.startswith(FINDING_PREFIXES)]
    findings = len(new)
    if result.returncode != 0 and findings == 0:
        findings = 1  # a failure libFuzzer saved no input for is a finding all the same
    return _stat(output, "number_of_executed_units"), findings, output


def coverage(targets: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Line coverage of the protocol sources by the committed seeds and the accumulated corpus:
    {file: (covered lines, lines)}."""
    build_dir = build("COVERAGE")
    profiles = []
    for target in targets:
        profile = build_dir / f"{target}.profraw"
        profile.unlink(missing_ok=True)
        corpora = [str(path) for path in (CORPUS / f"device_{target}",
                                          BUILD / f"device_{target}" / "corpus") if path.is_dir()]
        subprocess.run([str(build_dir / f"fuzz-device-{target}"), "-runs=0",
                        f"-max_len={MAX_LEN}", *corpora],
                       capture_output=True, env=dict(os.environ, LLVM_PROFILE_FILE=str(profile)),
                       check=True)
        profiles.append(str(profile))
    tools = {name: shutil.which(name) or shutil.which(f"{name}-14") for name in
             ("llvm-profdata", "llvm-cov")}
    if None in tools.values():
        raise Unavailable("llvm-profdata and llvm-cov are needed (Debian: llvm)")
    merged = build_dir / "device.profdata"
    subprocess.run([tools["llvm-profdata"], "merge", "-sparse", *profiles, "-o", str(merged)],
                   check=True)
    sources = [str(FIRMWARE / "lib" / "tinyml" / "src" / name) for name in COVERED_SOURCES]
    objects = [str(build_dir / f"fuzz-device-{TARGETS[0]}")]
    for target in TARGETS[1:]:
        objects += ["-object", str(build_dir / f"fuzz-device-{target}")]
    report = subprocess.run([tools["llvm-cov"], "report", *objects, f"-instr-profile={merged}",
                             *sources], capture_output=True, text=True, check=True).stdout
    lines = {}
    for row in report.splitlines():
        fields = row.split()
        if fields and fields[0].endswith(COVERED_SOURCES) and len(fields) >= 10:
            # Filename, Regions, Missed, Cover, Functions, Missed, Executed, Lines, Missed, Cover
            lines[Path(fields[0]).name] = (int(fields[7]) - int(fields[8]), int(fields[7]))
    return lines


def write_seeds() -> None:
    for target, seeds in (("raw", device_seeds.raw_seeds()),
                          ("frames", device_seeds.frames_seeds())):
        folder = CORPUS / f"device_{target}"
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():
            stale.unlink()
        for name, data in seeds.items():
            (folder / name).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.device",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per target (default 10)")
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    parser.add_argument("--coverage", action="store_true",
                        help="report line coverage of the protocol sources by the corpus")
    parser.add_argument("--write-seeds", action="store_true",
                        help="rewrite fuzz/corpus/device_*/ from fuzz/device_seeds.py")
    args = parser.parse_args(argv)
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    targets = TARGETS if args.target == "all" else (args.target,)
    try:
        if args.write_seeds:
            write_seeds()
            return 0
        if args.coverage:
            for name, (covered, total) in coverage(targets).items():
                print(f"{name}: {covered}/{total} lines, {100.0 * covered / max(total, 1):.1f} %")
            return 0
        build_dir = build()
    except Unavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = False
    for target in targets:
        executions, findings, output = fuzz(build_dir, target, args.seconds)
        if findings:
            failed = True
            sys.stderr.write(output[-6000:])
        print(f"device_{target}: {executions} executions, {findings} findings", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
