"""Builds the built-in runtime for this machine with the system C compiler and runs models on
it. Builds are cached under build/host-runner/ by a hash of everything that goes into them."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tools.compiler.convert import REPO_ROOT, convert_model, registry_files
from tools.errors import InputError, TinyMLError
from tools.tflite_model import TFLiteModel

RUNTIME_DIR = REPO_ROOT / "firmware" / "lib" / "tinyml"
RUNNER_SOURCE = REPO_ROOT / "firmware" / "boards" / "host" / "run_model.c"
CACHE_DIR = Path(os.environ.get("TINYML_BUILD_CACHE", REPO_ROOT / "build" / "host-runner"))
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


class BuildFailed(TinyMLError):
    exit_code = 1


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME_DIR / "src").rglob("*.c"))


def _runtime_files() -> list[Path]:
    return sorted(p for p in RUNTIME_DIR.rglob("*") if p.is_file()) + [RUNNER_SOURCE]


def compiler() -> str:
    name = os.environ.get("CC", "cc")
    if shutil.which(name) is None:
        raise InputError(f"no C compiler: '{name}' is not on PATH (set CC, or install gcc)")
    return name


def generate_sources(models: list[tuple[str, TFLiteModel]]) -> dict[str, str]:
    """Converter output for several models plus their registry, keyed by file name."""
    files: dict[str, str] = {}
    entries = []
    for name, model in models:
        converted = convert_model(model, name, None, f"(host build of {name})",
                                  measure_arena=False)
        files.update({k: v for k, v in converted.files.items() if not k.endswith("_resolver.h")})
        entries.append(converted.entry)
    files.update({k: v for k, v in registry_files(entries).items() if k.endswith((".c", ".h"))
                  and "resolver" not in k})
    return files


def build_runner(models: list[tuple[str, TFLiteModel]], extra_flags: tuple[str, ...] = ()
                 ) -> Path:
    """A host executable running the given models (see firmware/boards/host/run_model.c)."""
    generated = generate_sources(models)
    cc = compiler()
    digest = hashlib.sha256()
    for name in sorted(generated):
        digest.update(name.encode() + b"\0" + generated[name].encode() + b"\0")
    for path in _runtime_files():
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update(" ".join((cc, *C_FLAGS, *extra_flags)).encode())
    target = CACHE_DIR / digest.hexdigest()[:20]
    executable = target / "run_model"
    if executable.exists():
        return executable
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=CACHE_DIR))
    try:
        for name, text in generated.items():
            (staging / name).write_text(text)
        command = [cc, *C_FLAGS, *extra_flags, f"-I{RUNTIME_DIR / 'include'}", f"-I{staging}",
                   *map(str, runtime_sources()), str(RUNNER_SOURCE),
                   *sorted(str(staging / n) for n in generated if n.endswith(".c")),
                   "-o", str(staging / "run_model")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if "error" in line]
            raise BuildFailed(f"host build failed: {errors[0] if errors else result.stderr}")
        try:
            staging.rename(target)
        except OSError:  # built concurrently by another process: use theirs
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return executable


def run_builtin(executable: Path, name: str, model: TFLiteModel, inputs: np.ndarray
                ) -> np.ndarray:
    """Runs inputs (a batch of int8 input tensors) through a built runner."""
    input_info, output_info = model.inputs[0], model.outputs[0]
    batch = np.ascontiguousarray(inputs, dtype=np.int8).reshape((-1, *input_info.shape))
    result = subprocess.run([str(executable), name], input=batch.tobytes(), capture_output=True)
    if result.returncode != 0:
        raise BuildFailed(f"built-in runner failed on {name}: "
                          f"{result.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(result.stdout, dtype=np.int8).reshape((-1, *output_info.shape))
