"""Build, measure and flash the firmware of a workspace: `tinyml firmware build | size | flash`.

The targets are the CMake ports (tools/targets/cmake.py: host, qemu, from the packaged
firmware/CMakeLists.txt) and the environments of the workspace's platformio.ini
(tools/targets/platformio.py). Both build with the workspace's generated models
(firmware/lib/models) and keep their logs under its build/firmware/. The size report is
tools/size_report.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.packaged import firmware_dir
from tinyml_pipeline.tools.targets import cmake
from tinyml_pipeline.tools.targets.buildlog import FirmwareError
from tinyml_pipeline.tools.targets.cmake import CMakeProject
from tinyml_pipeline.tools.targets.platformio import PlatformIOProject
from tinyml_pipeline.tools.workspace import Workspace, shown

__all__ = ["Firmware", "FirmwareError"]


@dataclass(frozen=True)
class Firmware:
    workspace: Workspace
    # The firmware sources (CMakeLists.txt, lib/, boards/, src/, include/); None: the packaged
    # ones, looked up when a build needs them.
    source_dir: Path | None = None

    @property
    def sources(self) -> Path:
        return self.source_dir or firmware_dir()

    @property
    def cmake(self) -> CMakeProject:
        return CMakeProject(self.sources, self.workspace.build / "firmware")

    @property
    def platformio(self) -> PlatformIOProject:
        return PlatformIOProject(self.workspace.platformio_ini, self.workspace.build / "firmware")

    def pio_envs(self) -> tuple[str, ...]:
        return self.platformio.envs()

    def flashable_envs(self) -> tuple[str, ...]:
        return self.platformio.flashable_envs()

    def targets(self) -> tuple[str, ...]:
        return cmake.TARGETS + self.pio_envs()

    def build_dir_for(self, target: str, *, sanitize: bool = False,
                      disable_dsp: bool = False) -> Path:
        if target in self.pio_envs():
            return self.platformio.build_root() / target
        return self.cmake.build_dir_for(target, sanitize=sanitize, disable_dsp=disable_dsp)

    def target_elf(self, target: str, *, sanitize: bool = False, disable_dsp: bool = False,
                   build_dir: Path | None = None) -> Path:
        """Where a build of `target` leaves its ELF (host: the executable)."""
        self._check_target(target)
        if target in self.pio_envs():
            return self.platformio.elf(target, build_dir)
        directory = Path(build_dir) if build_dir else self.build_dir_for(
            target, sanitize=sanitize, disable_dsp=disable_dsp)
        return self.cmake.executable(target, directory)

    def build(self, target: str, *, sanitize: bool = False, disable_dsp: bool = False,
              build_dir: Path | None = None, jobs: int = 2, quiet: bool = False,
              models_dir: Path | None = None, runner=None) -> Path:
        """Builds `target` and returns the path of its ELF (for `host`, the native executable).

        `build_dir`: for CMake targets the build tree; for PlatformIO envs the directory that
        holds one build tree per env. `models_dir`: CMake targets only, generated model sources
        other than the workspace's (give it its own build_dir)."""
        self._check_target(target)
        if sanitize and target != "host":
            raise InputError(f"--sanitize applies to the host target only, not {target}")
        if target in self.pio_envs():
            if models_dir is not None:
                raise InputError("--models-dir applies to the CMake targets (host, qemu); the "
                                 "PlatformIO envs build the workspace's firmware/lib/models")
            return self.platformio.build(target, disable_dsp=disable_dsp, build_dir=build_dir,
                                         jobs=jobs, quiet=quiet, runner=runner)
        directory = self.cmake.build(
            target, models_dir=Path(models_dir or self.workspace.firmware_models),
            sanitize=sanitize, disable_dsp=disable_dsp, build_dir=build_dir, jobs=jobs,
            quiet=quiet, runner=runner)
        elf = self.cmake.executable(target, directory)
        if not elf.is_file():
            raise FirmwareError(f"the build of {target} succeeded but left no {shown(elf)}; does "
                                f"firmware/CMakeLists.txt still name it {elf.name}?")
        return elf

    def flash(self, env: str = "nano33ble", port: str | None = None, *, quiet: bool = False,
              runner=None) -> str | None:
        return self.platformio.flash(env, port, quiet=quiet, runner=runner)

    def _check_target(self, target: str) -> None:
        if target not in self.targets():
            raise InputError(f"unknown firmware target {target!r}; choose from "
                             f"{', '.join(self.targets())}")
