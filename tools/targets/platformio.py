"""The PlatformIO environments of a project's platformio.ini (the Nano 33 BLE Sense builds):
read from the file, built with `pio run`, uploaded with `pio run -t upload`."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.targets import buildlog
from tinyml_pipeline.tools.targets.buildlog import (
    FirmwareError,
    last_error_line,
    new_log,
    print_tail,
    read_log,
    say,
    shown_command,
)
from tinyml_pipeline.tools.workspace import shown

# An env with `custom_tinyml_flash = no` builds for an emulator, not a board.
FLASH_OPTION = "custom_tinyml_flash"

# What PlatformIO prints when it cannot reach its registry (an HTTPClientError with an empty
# message is what a machine without internet gets), or cannot resolve a package.
_REGISTRY_FAILURES = re.compile(
    r"HTTPClientError|InternetConnectionError|not connected to the Internet|"
    r"Could not find the package with|Max retries exceeded|Failed to establish a new connection|"
    r"Temporary failure in name resolution|Name or service not known|UnknownPackageError")
_INSTALLING = re.compile(r"(?:Platform|Tool|Library|Package) Manager: Installing (\S+)")


@dataclass(frozen=True)
class PlatformIOProject:
    ini: Path  # the project's platformio.ini; its folder is the project folder
    log_root: Path  # where build and upload logs go (PlatformIO wipes its own build folder)

    @property
    def directory(self) -> Path:
        return self.ini.parent

    def config(self) -> configparser.ConfigParser:
        """The file with the files its `extra_configs` names (where the board's environments
        are), read as PlatformIO reads them."""
        # No interpolation: PlatformIO's own ${...} syntax is not configparser's.
        config = configparser.ConfigParser(interpolation=None, strict=False)
        self._read(config, self.ini, missing_hint=" (`tinyml init DIR` makes a workspace with "
                                                  "one)")
        extra = config.get("platformio", "extra_configs", fallback="")
        for pattern in (line.strip() for line in extra.replace(",", "\n").splitlines()):
            if not pattern:
                continue
            found = sorted(self.directory.glob(pattern)) if not Path(pattern).is_absolute() \
                else sorted(Path(pattern).parent.glob(Path(pattern).name))
            if not found:
                raise FirmwareError(f"{shown(self.ini)}: extra_configs names {pattern}, which "
                                    "does not exist")
            for path in found:
                self._read(config, path)
        return config

    @staticmethod
    def _read(config: configparser.ConfigParser, path: Path, missing_hint: str = "") -> None:
        try:
            config.read_string(path.read_text(encoding="utf-8"), source=str(path))
        except FileNotFoundError:
            raise FirmwareError(f"{shown(path)} is missing{missing_hint}") from None
        except configparser.Error as error:
            raise FirmwareError(f"{shown(path)} cannot be read: {error}") from None

    def envs(self) -> tuple[str, ...]:
        """The environments the file defines, in its order; none if it is missing or unreadable
        (building one then says why)."""
        try:
            return _env_names(self.config())
        except FirmwareError:
            return ()

    def flashable_envs(self) -> tuple[str, ...]:
        """The environments that go onto a real board: all but those marked for an emulator."""
        try:
            config = self.config()
        except FirmwareError:
            return ()
        return tuple(env for env in _env_names(config)
                     if config.get(f"env:{env}", FLASH_OPTION, fallback="yes").strip() != "no")

    def check_env(self, env: str) -> None:
        envs = _env_names(self.config())  # raises, unlike envs(), when the file is unreadable
        if env not in envs:
            raise FirmwareError(f"{shown(self.ini)} has no [env:{env}] (it has: "
                                f"{', '.join(envs) or 'none'})")

    def build_root(self) -> Path:
        """PlatformIO's build directory: `build_dir`, else `workspace_dir`/build, else
        .pio/build. Only literal paths are followed; a value using ${...} falls back."""
        if os.environ.get("PLATFORMIO_BUILD_DIR"):
            return Path(os.environ["PLATFORMIO_BUILD_DIR"])
        default = self.directory / ".pio" / "build"
        try:
            config = self.config()
        except FirmwareError:
            return default
        build_dir = config.get("platformio", "build_dir", fallback="").strip()
        if build_dir and "${" not in build_dir:
            return self.directory / build_dir
        workspace = config.get("platformio", "workspace_dir", fallback="").strip()
        if workspace and "${" not in workspace:
            return self.directory / workspace / "build"
        return default

    def elf(self, env: str, build_dir: Path | None = None) -> Path:
        return (Path(build_dir) if build_dir else self.build_root()) / env / "firmware.elf"

    def build(self, env: str, *, disable_dsp: bool = False, build_dir: Path | None = None,
              jobs: int = 2, quiet: bool = False, runner=None) -> Path:
        """Builds `env` and returns its ELF. `build_dir`: the folder holding one build tree per
        env (PLATFORMIO_BUILD_DIR). `runner`: default buildlog.run_logged."""
        runner = runner or buildlog.run_logged
        pio = pio_command()
        self.check_env(env)
        environment = dict(os.environ)
        if build_dir:
            environment["PLATFORMIO_BUILD_DIR"] = str(Path(build_dir).resolve())
        if disable_dsp:
            # Added to the env's build_flags (PlatformIO documents this variable); PlatformIO
            # notices the changed flags and rebuilds.
            flags = environment.get("PLATFORMIO_BUILD_FLAGS", "")
            environment["PLATFORMIO_BUILD_FLAGS"] = f"{flags} -DTINYML_DISABLE_DSP".strip()
        log = new_log(self.log_root / env / "pio.log")
        command = [*pio, "run", "-e", env, "-d", str(self.directory), "-j", str(jobs)]
        say(quiet, f"[1/1] build {env}: {shown_command(command)} (log: {shown(log)})")
        code = runner(command, log, cwd=self.directory, env=environment)
        if code != 0:
            raise FirmwareError(_pio_failure(f"the build of {env} failed (exit {code})", env, log))
        elf = self.elf(env, build_dir)
        if not elf.is_file():
            raise FirmwareError(f"PlatformIO built {env} but left no {shown(elf)}")
        return elf

    def flash(self, env: str, port: str | None = None, *, quiet: bool = False,
              runner=None) -> str | None:
        """Builds (if needed) and uploads `env`. Returns the port PlatformIO used, when it
        says."""
        runner = runner or buildlog.run_logged
        self.check_env(env)
        if env not in self.flashable_envs():
            raise InputError(f"cannot flash {env!r}, an emulator build ({FLASH_OPTION} = no in "
                             f"{shown(self.ini)}); choose from "
                             f"{', '.join(self.flashable_envs())}")
        pio = pio_command()
        log = new_log(self.log_root / env / "upload.log")
        command = [*pio, "run", "-e", env, "-d", str(self.directory), "-t", "upload"]
        if port:
            command += ["--upload-port", port]
        say(quiet, f"[1/1] upload {env}: {shown_command(command)} (log: {shown(log)})")
        code = runner(command, log, cwd=self.directory)
        text = read_log(log)
        if code != 0:
            no_board = _no_board_message(text, port)
            if no_board:
                raise FirmwareError(f"{no_board}; full log: {shown(log)}")
            raise FirmwareError(_pio_failure(f"uploading {env} failed (exit {code})", env, log))
        used = re.findall(r"(?:Auto-detected|Using manually specified): (\S+)", text)
        return used[-1] if used else port


def _env_names(config: configparser.ConfigParser) -> tuple[str, ...]:
    return tuple(section[4:] for section in config.sections() if section.startswith("env:"))


def pio_command() -> list[str]:
    """How to run PlatformIO: the `pio` next to this Python (the venv), then PATH, then the
    module. One clear error when none is there."""
    beside = Path(sys.executable).parent / "pio"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("pio") or shutil.which("platformio")
    if found:
        return [found]
    if platformio_module_available():
        return [sys.executable, "-m", "platformio"]
    raise FirmwareError("PlatformIO is not installed: pip install platformio "
                        "(a dependency of tinyml-pipeline)")


def platformio_module_available() -> bool:
    return importlib.util.find_spec("platformio") is not None


def _pio_failure(summary: str, env: str, log: Path) -> str:
    text = read_log(log)
    last_error = last_error_line(text).removesuffix(":")  # "HTTPClientError: " has no message
    if _REGISTRY_FAILURES.search(text):
        installing = _INSTALLING.findall(text)
        what = f" (while installing {installing[-1]})" if installing else ""
        return (f"PlatformIO could not install the platform/libraries for {env}{what}: no "
                f"internet? The first build of a PlatformIO env needs its registry. pio said: "
                f"{last_error}; full log: {shown(log)}")
    print_tail(text, log)
    return f"{summary}: {last_error}; the log's last lines are above, full log: {shown(log)}"


def _no_board_message(text: str, port: str | None) -> str | None:
    if "Please specify `upload_port`" in text:
        return ("no board found: connect the Nano 33 BLE Sense by USB (double-tap its reset "
                "button if it still is not found) or give --port")
    if re.search(r"No device found on|could not open port|No such file or directory: '/dev/",
                 text):
        return (f"no board found on {port or 'the detected port'}: check the cable and the port "
                f"(double-tap reset for the bootloader); pio said: {last_error_line(text)}")
    if re.search(r"Permission denied: '/dev/", text):
        return ("the serial port is not accessible: add yourself to the dialout group or install "
                "PlatformIO's udev rules (docs.platformio.org, 99-platformio-udev.rules)")
    return None
