"""The images a bench runs: the model alone, converted into its own build directory, then built
for QEMU with the DSP paths on and off, or for the host.

Everything lives under the workspace's build/bench/<name>-<sha256[:8]>/ (models/, qemu/,
qemu-nodsp/, host/), so a second bench of the same model rebuilds nothing, and a changed model
gets fresh trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.atomic import sync_directory
from tinyml_pipeline.tools.bench.model import BenchModel
from tinyml_pipeline.tools.compiler.convert import ConvertedModel, convert_file, registry_files
from tinyml_pipeline.tools.firmware import Firmware, FirmwareError

HOST_RUNNER = "tinyml-bench"  # firmware/boards/host/bench_model.c, built with the host target


@dataclass(frozen=True)
class Image:
    variant: str  # "dsp", "no_dsp" (QEMU) or "host"
    elf: Path  # QEMU: the image; host: the batch runner
    build_dir: Path

    @property
    def map_file(self) -> Path:
        return self.build_dir / "tinyml-qemu.map"


def work_dir(bench: BenchModel, root: Path) -> Path:
    return Path(root) / f"{bench.name}-{bench.sha256[:8]}"


def convert(bench: BenchModel, directory: Path) -> ConvertedModel:
    """The model's sources in directory/models, holding only this model, as `tinyml convert
    MODEL --out directory/models` writes them. Only files whose text changed are written, so
    CMake recompiles nothing on a rerun. A model the runtime cannot run raises CompileError
    (one line, exit 2) here, before anything is written."""
    models = directory / "models"
    # The TFLM arena is measured once by the bench itself, not again for the settings.
    converted = convert_file(bench.path, models, bench.name, measure_arena=False)
    files = {**converted.files, **registry_files([converted.entry])}
    sync_directory(models, files)
    return converted


def build_qemu(firmware: Firmware, directory: Path, *, disable_dsp: bool, quiet: bool) -> Image:
    build_dir = directory / ("qemu-nodsp" if disable_dsp else "qemu")
    elf = firmware.build("qemu", models_dir=directory / "models", build_dir=build_dir,
                         disable_dsp=disable_dsp, quiet=quiet)
    return Image("no_dsp" if disable_dsp else "dsp", elf, build_dir)


def build_host(firmware: Firmware, directory: Path, *, quiet: bool) -> Image:
    build_dir = directory / "host"
    firmware.build("host", models_dir=directory / "models", build_dir=build_dir, quiet=quiet)
    runner = build_dir / HOST_RUNNER
    if not runner.is_file():
        raise FirmwareError(f"the host build left no {runner}; does "
                            f"firmware/CMakeLists.txt still build {HOST_RUNNER}?")
    return Image("host", runner, build_dir)
