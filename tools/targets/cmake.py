"""The CMake targets: the host port (a program speaking the protocol on stdin/stdout, plus the
batch runners) and the QEMU mps2-an386 image, both from the packaged firmware/CMakeLists.txt."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.targets import buildlog
from tinyml_pipeline.tools.targets.buildlog import (
    FirmwareError,
    failure,
    new_log,
    say,
    shown_command,
)
from tinyml_pipeline.tools.workspace import shown

TARGETS = ("host", "qemu")
EXECUTABLES = {"host": "tinyml-host", "qemu": "tinyml-qemu.elf"}


@dataclass(frozen=True)
class CMakeProject:
    source_dir: Path  # the folder holding CMakeLists.txt
    build_root: Path  # one build tree per target and variant below it

    @property
    def toolchain_file(self) -> Path:
        return self.source_dir / "cmake" / "arm-none-eabi.cmake"

    def build_dir_for(self, target: str, *, sanitize: bool = False,
                      disable_dsp: bool = False) -> Path:
        """Variants get their own tree, so switching an option never reconfigures (and fully
        rebuilds) the default build, and a cache never holds a stale option."""
        suffix = ("-asan" if sanitize else "") + ("-nodsp" if disable_dsp else "")
        return self.build_root / f"{target}{suffix}"

    def build(self, target: str, *, models_dir: Path, sanitize: bool = False,
              disable_dsp: bool = False, build_dir: Path | None = None, jobs: int = 2,
              quiet: bool = False, products: tuple[str, ...] = (), c_flags: tuple[str, ...] = (),
              runner=None) -> Path:
        """Configures and builds `target` with the generated model sources in `models_dir`;
        returns the build tree. `products`: CMake targets to build (default: all). `c_flags`:
        added to every C compile (CMAKE_C_FLAGS; give each set its own tree). `runner`
        runs one command with its output in the log (default buildlog.run_logged)."""
        runner = runner or buildlog.run_logged
        if target not in TARGETS:
            raise InputError(f"unknown CMake target {target!r}; choose from {', '.join(TARGETS)}")
        if not (models_dir / "tinyml_models.h").is_file():
            raise InputError(f"{shown(models_dir)} holds no generated models (tinyml_models.h); "
                             "write them with `tinyml convert MODEL`")
        cmake = shutil.which("cmake")
        if cmake is None:
            raise FirmwareError("cmake is not installed (Debian: apt install cmake)")
        if not (self.source_dir / "CMakeLists.txt").is_file():
            raise FirmwareError(f"{shown(self.source_dir / 'CMakeLists.txt')} is missing")
        directory = Path(build_dir).resolve() if build_dir else self.build_dir_for(
            target, sanitize=sanitize, disable_dsp=disable_dsp)
        configure = [cmake, "-S", str(self.source_dir), "-B", str(directory),
                     f"-DTINYML_TARGET={target}", f"-DTINYML_MODELS_DIR={models_dir.resolve()}"]
        if target == "qemu":
            if shutil.which("arm-none-eabi-gcc") is None:
                raise FirmwareError("the Arm toolchain is not installed: no arm-none-eabi-gcc on "
                                    "PATH (Debian: apt install gcc-arm-none-eabi "
                                    "libnewlib-arm-none-eabi)")
            if not self.toolchain_file.is_file():
                raise FirmwareError(f"{shown(self.toolchain_file)} is missing")
            configure.append(f"-DCMAKE_TOOLCHAIN_FILE={self.toolchain_file}")
        elif not (os.environ.get("CC") or any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))):
            raise FirmwareError("no C compiler found for the host build (Debian: apt install gcc)")
        # Only switched-on options are passed: each variant has its own build tree, and this
        # works whether the CMakeLists tests them with if(VAR) or if(DEFINED VAR).
        if sanitize:
            configure.append("-DTINYML_SANITIZE=ON")
        if disable_dsp:
            configure.append("-DTINYML_DISABLE_DSP=ON")
        if c_flags:
            configure.append(f"-DCMAKE_C_FLAGS={' '.join(c_flags)}")
        compile_ = [cmake, "--build", str(directory), "--parallel", str(jobs)]
        if products:
            compile_ += ["--target", *products]
        log = new_log(directory / "build.log")
        steps = [("configure", configure), ("build", compile_)]
        for number, (step, command) in enumerate(steps, 1):
            say(quiet, f"[{number}/{len(steps)}] {step} {target}: {shown_command(command)}")
            code = runner(command, log, cwd=self.source_dir)
            if code != 0:
                raise FirmwareError(failure(f"{step} of {target} failed (exit {code})", log))
        return directory

    def executable(self, target: str, directory: Path) -> Path:
        return directory / EXECUTABLES[target]
