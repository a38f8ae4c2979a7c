"""Builds the built-in runtime for this machine with the system C compiler and runs models on
it. Builds are cached by a hash of everything that goes into them, in the directory the caller
gives (the CLI: the workspace's build/host-runner), else $TINYML_BUILD_CACHE, else the user's
cache directory."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.compiler.convert import convert_model, registry_files
from tinyml_pipeline.tools.errors import InputError, TinyMLError
from tinyml_pipeline.tools.packaged import firmware_dir
from tinyml_pipeline.tools.tflite_model import TFLiteModel

FIRMWARE_DIR = firmware_dir()
RUNTIME_DIR = FIRMWARE_DIR / "lib" / "tinyml"
# The core's headers and the porting interface (board.h), which the protocol sources include.
CORE_INCLUDES = (f"-I{RUNTIME_DIR / 'include'}", f"-I{FIRMWARE_DIR / 'include'}")
RUNNER_SOURCE = FIRMWARE_DIR / "boards" / "host" / "run_model.c"
C_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


class BuildFailed(TinyMLError):
    exit_code = 1


def runtime_sources() -> list[Path]:
    return sorted((RUNTIME_DIR / "src").rglob("*.c"))


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
        # The runner is a built-in image: it needs neither the .tflite bytes nor TFLM resolvers.
        files.update({k: v for k, v in converted.files.items()
                      if not k.endswith(("_resolver.h", "_model_data.c", "_model_data.h"))})
        entries.append(converted.entry)
    files.update({k: v for k, v in registry_files(entries).items() if k.endswith((".c", ".h"))
                  and "resolver" not in k})
    return files


def _compile(command: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        raise BuildFailed(f"host build of {what} failed: "
                          f"{errors[0] if errors else result.stderr.strip()}")


def default_cache_dir() -> Path:
    if os.environ.get("TINYML_BUILD_CACHE"):
        return Path(os.environ["TINYML_BUILD_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinyml-pipeline" / "host-runner"


def _cached_build(key: hashlib._Hash, product: str, build, cache_dir: Path | None) -> Path:
    """Returns <cache>/<key>/<product>, running build(staging_dir) first if it is missing.
    Builds happen in a private directory renamed into place, so concurrent builders and
    interrupted builds never leave a half-written product."""
    cache_dir = Path(cache_dir or default_cache_dir())
    target = cache_dir / key.hexdigest()[:20]
    if (target / product).exists():
        return target / product
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        build(staging)
        try:
            staging.rename(target)
        except OSError:  # built concurrently by another process: use theirs
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / product


def runtime_library(extra_flags: tuple[str, ...] = (), cache_dir: Path | None = None) -> Path:
    """The runtime's sources compiled once into a static library, per compiler and flags."""
    cc = compiler()
    digest = hashlib.sha256(b"libtinyml\0" + " ".join((cc, *C_FLAGS, *extra_flags)).encode())
    for path in sorted(p for p in RUNTIME_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(FIRMWARE_DIR)).encode() + b"\0" + path.read_bytes())

    def build(staging: Path) -> None:
        objects = []
        for source in runtime_sources():
            obj = staging / (source.stem + ".o")
            _compile([cc, *C_FLAGS, *extra_flags, *CORE_INCLUDES, "-c",
                      str(source), "-o", str(obj)], source.name)
            objects.append(str(obj))
        _compile(["ar", "rcs", str(staging / "libtinyml.a"), *objects], "libtinyml.a")

    return _cached_build(digest, "libtinyml.a", build, cache_dir)


def build_runner(models: list[tuple[str, TFLiteModel]], extra_flags: tuple[str, ...] = (),
                 cache_dir: Path | None = None) -> Path:
    """A host executable running the given models (see firmware/boards/host/run_model.c)."""
    generated = generate_sources(models)
    library = runtime_library(extra_flags, cache_dir)
    cc = compiler()
    digest = hashlib.sha256(b"runner\0" + str(library).encode() + RUNNER_SOURCE.read_bytes())
    for name in sorted(generated):
        digest.update(name.encode() + b"\0" + generated[name].encode() + b"\0")
    digest.update(" ".join((cc, *C_FLAGS, *extra_flags)).encode())

    def build(staging: Path) -> None:
        for name, text in generated.items():
            (staging / name).write_text(text)
        sources = sorted(n for n in generated if n.endswith(".c"))
        # -O0: the generated files are data tables; optimizing them only costs build time.
        _compile([cc, *C_FLAGS, "-O0", *extra_flags, *CORE_INCLUDES,
                  f"-I{staging}", "-c", *sources], "the generated models", cwd=staging)
        objects = [str(staging / (n[:-2] + ".o")) for n in sources]
        _compile([cc, *C_FLAGS, *extra_flags, *CORE_INCLUDES, f"-I{staging}",
                  str(RUNNER_SOURCE), *objects, str(library), "-o", str(staging / "run_model")],
                 "run_model")

    return _cached_build(digest, "run_model", build, cache_dir)


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
