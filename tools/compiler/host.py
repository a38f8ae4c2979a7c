"""Runs models on the built-in runtime compiled for this machine: the converter's sources for
the given models, built with the firmware's own CMake project (its host target's `tinyml-run`,
firmware/boards/host/run_model.c), as the host and QEMU ports are.

Runners are cached by a hash of everything that goes into them, in the directory the caller gives
(the CLI: the workspace's build/host-runner), else $TINYML_BUILD_CACHE, else the user's cache
directory. One CMake tree per set of compiler flags is reused under a lock, so the runtime
compiles once per flag set and each new set of models recompiles only its own sources."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.atomic import sync_directory
from tinyml_pipeline.tools.compiler.convert import convert_model, registry_files
from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.packaged import firmware_dir
from tinyml_pipeline.tools.targets.cmake import CMakeProject
from tinyml_pipeline.tools.tflite_model import TFLiteModel

FIRMWARE_DIR = firmware_dir()
RUNTIME_DIR = FIRMWARE_DIR / "lib" / "tinyml"
# The core's headers and the porting interface (board.h): for tests that compile parts alone.
CORE_INCLUDES = (f"-I{RUNTIME_DIR / 'include'}", f"-I{FIRMWARE_DIR / 'include'}")
RUNNER_TARGET = "tinyml-run"
RUNNER = "run_model"


class RunnerFailed(TinyMLError):
    """The runner itself failed on a model (a runtime error, not a build error)."""

    exit_code = 1


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME_DIR / "src").rglob("*.c"))


def generate_sources(models: list[tuple[str, TFLiteModel]]) -> dict[str, str]:
    """Converter output for several models plus their registry, keyed by file name."""
    files: dict[str, str] = {}
    entries = []
    for name, model in models:
        converted = convert_model(model, name, None, f"(host build of {name})",
                                  measure_arena=False)
        # The runner is a built-in image: it needs neither the .tflite bytes nor TFLM resolvers.
        files.update({k: v for k, v in converted.files.items()
                      if not k.endswith(("_resolver.h", "_model_data.c", "_model_data.h"))})
        entries.append(converted.entry)
    files.update({k: v for k, v in registry_files(entries).items() if k.endswith((".c", ".h"))
                  and "resolver" not in k})
    return files


def default_cache_dir() -> Path:
    if os.environ.get("TINYML_BUILD_CACHE"):
        return Path(os.environ["TINYML_BUILD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinyml-pipeline" / "host-runner"


@functools.cache
def _firmware_digest() -> bytes:
    """Everything of the firmware a runner is built from, hashed once per process: the sources
    do not change under a running command, and the op tests build many runners."""
    digest = hashlib.sha256(b"tinyml-run\0")
    for path in sorted(p for p in FIRMWARE_DIR.rglob("*") if p.is_file()
                       and p.suffix in (".c", ".h", ".txt", ".cmake")
                       and "models" not in p.relative_to(FIRMWARE_DIR).parts):
        digest.update(str(path.relative_to(FIRMWARE_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.digest()


def build_runner(models: list[tuple[str, TFLiteModel]], extra_flags: tuple[str, ...] = (),
                 cache_dir: Path | None = None) -> Path:
    """A host executable running the given models (see firmware/boards/host/run_model.c).
    A failed build raises FirmwareError, as every firmware build does."""
    generated = generate_sources(models)
    cache_dir = Path(cache_dir or default_cache_dir())
    digest = hashlib.sha256(_firmware_digest())
    digest.update(" ".join(extra_flags).encode() + b"\0")
    for name in sorted(generated):
        digest.update(name.encode() + b"\0" + generated[name].encode() + b"\0")
    product = cache_dir / digest.hexdigest()[:20] / RUNNER
    if product.is_file():
        return product
    # One CMake tree per firmware source folder and flag set: CMake refuses a tree configured
    # from another folder (a second checkout or installed copy sharing the user's cache).
    tree_key = hashlib.sha256(f"{FIRMWARE_DIR.resolve()}\0{' '.join(extra_flags)}".encode())
    tree = cache_dir / "cmake" / tree_key.hexdigest()[:12]
    tree.mkdir(parents=True, exist_ok=True)
    with open(tree / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per tree; the others wait for it
        if product.is_file():  # built meanwhile by whoever held the lock
            return product
        sync_directory(tree / "models", generated)
        built = CMakeProject(FIRMWARE_DIR, cache_dir).build(
            "host", models_dir=tree / "models", build_dir=tree / "build",
            products=(RUNNER_TARGET,), c_flags=extra_flags, quiet=True)
        # Copied into place under a private name, then renamed: a runner that exists is whole.
        staging = Path(tempfile.mkdtemp(prefix=".runner-", dir=cache_dir))
        try:
            shutil.copy2(built / RUNNER_TARGET, staging / RUNNER)
            product.parent.parent.mkdir(parents=True, exist_ok=True)
            staging.rename(product.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return product


def runner_failure(returncode: int, stderr: bytes) -> str:
    """Why a runner failed, never empty: its last line of stderr (the runner's own one-line
    reason, or a sanitizer's summary), and how it ended (exit status or signal)."""
    if returncode < 0:
        try:
            ended = f"runner killed by {signal.Signals(-returncode).name}"
        except ValueError:
            ended = f"runner killed by signal {-returncode}"
    else:
        ended = f"runner exit status {returncode}"
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()
             if line.strip()]
    return f"{lines[-1]} ({ended})" if lines else ended


def run_builtin(executable: Path, name: str, model: TFLiteModel, inputs: np.ndarray
                ) -> np.ndarray:
    """Runs inputs (a batch of input tensors of the model's input type, int8 or int16) through
    a built runner."""
    input_info, output_info = model.inputs[0], model.outputs[0]
    if 0 in input_info.shape or 0 in output_info.shape:
        # The runner refuses it too; here the reason is clearer and nothing is started.
        raise RunnerFailed(f"built-in runner cannot run {name}: a zero-sized "
                           f"{'input' if 0 in input_info.shape else 'output'} tensor")
    batch = np.ascontiguousarray(inputs, dtype=np.dtype(input_info.dtype).newbyteorder("<")
                                 ).reshape((-1, *input_info.shape))
    result = subprocess.run([str(executable), name], input=batch.tobytes(), capture_output=True)
    if result.returncode != 0:
        raise RunnerFailed(f"built-in runner failed on {name}: "
                           f"{runner_failure(result.returncode, result.stderr)}")
    output_type = np.dtype(output_info.dtype).newbyteorder("<")
    expected = len(batch) * int(np.prod(output_info.shape)) * output_type.itemsize
    if len(result.stdout) != expected:
        raise RunnerFailed(f"built-in runner failed on {name}: it wrote {len(result.stdout)} "
                           f"output bytes for {len(batch)} samples, not {expected}")
    return np.frombuffer(result.stdout, dtype=output_type).reshape((-1, *output_info.shape))
