"""Build, measure and flash the firmware: `tinyml firmware build | size | flash`.

CMake builds the `host` and `qemu` targets (firmware/CMakeLists.txt); PlatformIO builds the
Nano 33 BLE Sense environments in platformio.ini. Each build keeps its whole output in a log
file and prints one line per step to stderr; a failure names the log and shows its last lines.

The size report is tools/size_report.py, on the ELF reader tools/elf.py.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError, TinyMLError

REPO_ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = REPO_ROOT / "firmware"
MODELS_SOURCE_DIR = FIRMWARE_DIR / "lib" / "models"  # the committed generated models
BUILD_ROOT = REPO_ROOT / "build" / "firmware"
TOOLCHAIN_FILE = FIRMWARE_DIR / "cmake" / "arm-none-eabi.cmake"

CMAKE_TARGETS = ("host", "qemu")
# An env with `custom_tinyml_flash = no` in platformio.ini builds for an emulator, not a board.
_FLASH_OPTION = "custom_tinyml_flash"
_EXECUTABLES = {"host": "tinyml-host", "qemu": "tinyml-qemu.elf"}
_TAIL_LINES = 20


class FirmwareError(TinyMLError):
    """A tool is missing, or a build or upload failed: the user must act (exit 2)."""

    exit_code = 2


# --------------------------------------------------------------------------------------------
# Building


def build_dir_for(target: str, *, sanitize: bool = False, disable_dsp: bool = False) -> Path:
    """The conventional build directory. Variants get their own, so switching an option never
    reconfigures (and fully rebuilds) the default build, and a cache never holds a stale option."""
    if target in pio_envs():
        return _pio_build_root() / target
    suffix = ("-asan" if sanitize else "") + ("-nodsp" if disable_dsp else "")
    return BUILD_ROOT / f"{target}{suffix}"


def target_elf(target: str, *, sanitize: bool = False, disable_dsp: bool = False,
               build_dir: Path | None = None) -> Path:
    """Where a build of `target` leaves its ELF (host: the executable)."""
    _check_target(target)
    directory = Path(build_dir) if build_dir else build_dir_for(
        target, sanitize=sanitize, disable_dsp=disable_dsp)
    if target in pio_envs():
        return (directory / target if build_dir else directory) / "firmware.elf"
    return directory / _EXECUTABLES[target]


def build(target: str, *, sanitize: bool = False, disable_dsp: bool = False,
          build_dir: Path | None = None, jobs: int = 2, quiet: bool = False,
          models_dir: Path | None = None) -> Path:
    """Builds `target` and returns the path of its ELF (for `host`, the native executable).

    `build_dir`: for CMake targets the build tree; for PlatformIO envs the directory that holds
    one build tree per env (PLATFORMIO_BUILD_DIR). `models_dir`: CMake targets only, generated
    model sources other than the committed firmware/lib/models (give it its own build_dir)."""
    _check_target(target)
    if sanitize and target != "host":
        raise InputError(f"--sanitize applies to the host target only, not {target}")
    if target in pio_envs():
        if models_dir is not None:
            raise InputError("--models-dir applies to the CMake targets (host, qemu); the "
                             "PlatformIO envs build firmware/lib/models")
        return _build_pio(target, disable_dsp=disable_dsp, build_dir=build_dir, jobs=jobs,
                          quiet=quiet)
    models_dir = Path(models_dir).resolve() if models_dir else MODELS_SOURCE_DIR
    if not (models_dir / "tinyml_models.h").is_file():
        raise InputError(f"{_shown(models_dir)} holds no generated models (tinyml_models.h); "
                         "write them with `tinyml convert MODEL --out DIR`")
    return _build_cmake(target, sanitize=sanitize, disable_dsp=disable_dsp, build_dir=build_dir,
                        jobs=jobs, quiet=quiet, models_dir=models_dir)


def _check_target(target: str) -> None:
    if target not in targets():
        raise InputError(f"unknown firmware target {target!r}; choose from "
                         f"{', '.join(targets())}")


def _env_names(config: configparser.ConfigParser) -> tuple[str, ...]:
    return tuple(section[4:] for section in config.sections() if section.startswith("env:"))


def pio_envs() -> tuple[str, ...]:
    """The PlatformIO environments platformio.ini defines, in its order; none if it is missing
    or unreadable (building one then says why)."""
    try:
        return _env_names(_pio_config())
    except FirmwareError:
        return ()


def flashable_envs() -> tuple[str, ...]:
    """The environments that go onto a real board: all but those marked for an emulator."""
    try:
        config = _pio_config()
    except FirmwareError:
        return ()
    return tuple(env for env in _env_names(config)
                 if config.get(f"env:{env}", _FLASH_OPTION, fallback="yes").strip() != "no")


def targets() -> tuple[str, ...]:
    return CMAKE_TARGETS + pio_envs()


def _build_cmake(target: str, *, sanitize: bool, disable_dsp: bool, build_dir: Path | None,
                 jobs: int, quiet: bool, models_dir: Path) -> Path:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise FirmwareError("cmake is not installed (Debian: apt install cmake)")
    if not (FIRMWARE_DIR / "CMakeLists.txt").is_file():
        raise FirmwareError(f"{_shown(FIRMWARE_DIR / 'CMakeLists.txt')} is missing")
    directory = Path(build_dir).resolve() if build_dir else build_dir_for(
        target, sanitize=sanitize, disable_dsp=disable_dsp)
    configure = [cmake, "-S", str(FIRMWARE_DIR), "-B", str(directory), f"-DTINYML_TARGET={target}",
                 f"-DTINYML_MODELS_DIR={models_dir}"]
    if target == "qemu":
        if shutil.which("arm-none-eabi-gcc") is None:
            raise FirmwareError("the Arm toolchain is not installed: no arm-none-eabi-gcc on PATH "
                                "(Debian: apt install gcc-arm-none-eabi libnewlib-arm-none-eabi)")
        if not TOOLCHAIN_FILE.is_file():
            raise FirmwareError(f"{_shown(TOOLCHAIN_FILE)} is missing")
        configure.append(f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}")
    elif not (os.environ.get("CC") or any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))):
        raise FirmwareError("no C compiler found for the host build (Debian: apt install gcc)")
    # Only switched-on options are passed: each variant has its own build tree (build_dir_for),
    # and this works whether the CMakeLists tests them with if(VAR) or if(DEFINED VAR).
    if sanitize:
        configure.append("-DTINYML_SANITIZE=ON")
    if disable_dsp:
        configure.append("-DTINYML_DISABLE_DSP=ON")
    log = _new_log(directory / "build.log")
    steps = [("configure", configure),
             ("build", [cmake, "--build", str(directory), "--parallel", str(jobs)])]
    for number, (step, command) in enumerate(steps, 1):
        _say(quiet, f"[{number}/{len(steps)}] {step} {target}: {_shown_command(command)}")
        code = _run_logged(command, log, cwd=REPO_ROOT)
        if code != 0:
            raise FirmwareError(_failure(f"{step} of {target} failed (exit {code})", log))
    elf = target_elf(target, build_dir=directory)
    if not elf.is_file():
        raise FirmwareError(f"the build of {target} succeeded but left no {_shown(elf)}; does "
                            f"firmware/CMakeLists.txt still name it {elf.name}?")
    return elf


def _build_pio(env_name: str, *, disable_dsp: bool, build_dir: Path | None, jobs: int,
               quiet: bool) -> Path:
    pio = _pio_command()
    _check_pio_env(env_name)
    environment = dict(os.environ)
    if build_dir:
        environment["PLATFORMIO_BUILD_DIR"] = str(Path(build_dir).resolve())
    if disable_dsp:
        # Added to the env's build_flags (PlatformIO documents this variable); PlatformIO notices
        # the changed flags and rebuilds.
        flags = environment.get("PLATFORMIO_BUILD_FLAGS", "")
        environment["PLATFORMIO_BUILD_FLAGS"] = f"{flags} -DTINYML_DISABLE_DSP".strip()
    # The log lives in our build tree: PlatformIO wipes .pio/build when platformio.ini changes.
    log = _new_log(BUILD_ROOT / env_name / "pio.log")
    command = [*pio, "run", "-e", env_name, "-d", str(REPO_ROOT), "-j", str(jobs)]
    _say(quiet, f"[1/1] build {env_name}: {_shown_command(command)} (log: {_shown(log)})")
    code = _run_logged(command, log, cwd=REPO_ROOT, env=environment)
    if code != 0:
        raise FirmwareError(_pio_failure(f"the build of {env_name} failed (exit {code})", env_name,
                                         log))
    elf = target_elf(env_name, build_dir=build_dir)
    if not elf.is_file():
        raise FirmwareError(f"PlatformIO built {env_name} but left no {_shown(elf)}")
    return elf


def flash(env: str = "nano33ble", port: str | None = None, *, quiet: bool = False) -> str | None:
    """Builds (if needed) and uploads `env` with `pio run -t upload`. Returns the port PlatformIO
    used, when it says."""
    _check_pio_env(env)
    if env not in flashable_envs():
        raise InputError(f"cannot flash {env!r}, an emulator build ({_FLASH_OPTION} = no in "
                         f"platformio.ini); choose from {', '.join(flashable_envs())}")
    pio = _pio_command()
    log = _new_log(BUILD_ROOT / env / "upload.log")
    command = [*pio, "run", "-e", env, "-d", str(REPO_ROOT), "-t", "upload"]
    if port:
        command += ["--upload-port", port]
    _say(quiet, f"[1/1] upload {env}: {_shown_command(command)} (log: {_shown(log)})")
    code = _run_logged(command, log, cwd=REPO_ROOT)
    text = _read_log(log)
    if code != 0:
        no_board = _no_board_message(text, port)
        if no_board:
            raise FirmwareError(f"{no_board}; full log: {_shown(log)}")
        raise FirmwareError(_pio_failure(f"uploading {env} failed (exit {code})", env, log))
    used = re.findall(r"(?:Auto-detected|Using manually specified): (\S+)", text)
    return used[-1] if used else port


def _pio_command() -> list[str]:
    """How to run PlatformIO: the `pio` next to this Python (the venv), then PATH, then the
    module. One clear error when none is there."""
    beside = Path(sys.executable).parent / "pio"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("pio") or shutil.which("platformio")
    if found:
        return [found]
    if _platformio_module_available():
        return [sys.executable, "-m", "platformio"]
    raise FirmwareError("PlatformIO is not installed: pip install platformio "
                        "(it is a dependency of this project: pip install -e .)")


def _platformio_module_available() -> bool:
    return importlib.util.find_spec("platformio") is not None


def _pio_config() -> configparser.ConfigParser:
    ini = REPO_ROOT / "platformio.ini"
    # No interpolation: PlatformIO's own ${...} syntax is not configparser's.
    config = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        config.read_string(ini.read_text(encoding="utf-8"), source=str(ini))
    except FileNotFoundError:
        raise FirmwareError(f"{_shown(ini)} is missing") from None
    except configparser.Error as error:
        raise FirmwareError(f"{_shown(ini)} cannot be read: {error}") from None
    return config


def _check_pio_env(env_name: str) -> None:
    envs = _env_names(_pio_config())  # raises, unlike pio_envs, when the file is unreadable
    if env_name not in envs:
        raise FirmwareError(f"platformio.ini has no [env:{env_name}] (it has: "
                            f"{', '.join(envs) or 'none'})")


def _pio_build_root() -> Path:
    """PlatformIO's build directory: `build_dir`, else `workspace_dir`/build, else .pio/build.
    Only literal paths are followed; a value using ${...} falls back to the default."""
    if os.environ.get("PLATFORMIO_BUILD_DIR"):
        return Path(os.environ["PLATFORMIO_BUILD_DIR"])
    try:
        config = _pio_config()
    except FirmwareError:
        return REPO_ROOT / ".pio" / "build"
    build_dir = config.get("platformio", "build_dir", fallback="").strip()
    if build_dir and "${" not in build_dir:
        return REPO_ROOT / build_dir
    workspace = config.get("platformio", "workspace_dir", fallback="").strip()
    if workspace and "${" not in workspace:
        return REPO_ROOT / workspace / "build"
    return REPO_ROOT / ".pio" / "build"


# What PlatformIO prints when it cannot reach its registry (an HTTPClientError with an empty
# message is what a machine without internet gets), or cannot resolve a package.
_REGISTRY_FAILURES = re.compile(
    r"HTTPClientError|InternetConnectionError|not connected to the Internet|"
    r"Could not find the package with|Max retries exceeded|Failed to establish a new connection|"
    r"Temporary failure in name resolution|Name or service not known|UnknownPackageError")
_INSTALLING = re.compile(r"(?:Platform|Tool|Library|Package) Manager: Installing (\S+)")


def _pio_failure(summary: str, env_name: str, log: Path) -> str:
    text = _read_log(log)
    last_error = _last_error_line(text).removesuffix(":")  # "HTTPClientError: " has no message
    if _REGISTRY_FAILURES.search(text):
        installing = _INSTALLING.findall(text)
        what = f" (while installing {installing[-1]})" if installing else ""
        return (f"PlatformIO could not install the platform/libraries for {env_name}{what}: no "
                f"internet? The first build of a PlatformIO env needs its registry. pio said: "
                f"{last_error}; full log: {_shown(log)}")
    _print_tail(text, log)
    return f"{summary}: {last_error}; the log's last lines are above, full log: {_shown(log)}"


def _no_board_message(text: str, port: str | None) -> str | None:
    if "Please specify `upload_port`" in text:
        return ("no board found: connect the Nano 33 BLE Sense by USB (double-tap its reset "
                "button if it still is not found) or give --port")
    if re.search(r"No device found on|could not open port|No such file or directory: '/dev/",
                 text):
        return (f"no board found on {port or 'the detected port'}: check the cable and the port "
                f"(double-tap reset for the bootloader); pio said: {_last_error_line(text)}")
    if re.search(r"Permission denied: '/dev/", text):
        return ("the serial port is not accessible: add yourself to the dialout group or install "
                "PlatformIO's udev rules (docs.platformio.org, 99-platformio-udev.rules)")
    return None


# --------------------------------------------------------------------------------------------
# Running tools with a log


def _run_logged(command: list[str], log: Path, *, cwd: Path, env: dict | None = None) -> int:
    """Runs `command` with its stdout and stderr appended to `log`; returns the exit status.
    Tests replace this function to simulate a tool's output."""
    with log.open("a", encoding="utf-8") as stream:
        stream.write(f"$ {shlex.join(command)}\n")
        stream.flush()
        try:
            return subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=stream, stderr=subprocess.STDOUT).returncode
        except OSError as error:
            raise FirmwareError(f"cannot run {command[0]}: {error.strerror}") from None


def _new_log(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
    return path


def _read_log(log: Path) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _failure(summary: str, log: Path) -> str:
    text = _read_log(log)
    _print_tail(text, log)
    return (f"{summary}: {_first_error_line(text)}; the log's last lines are above, full log: "
            f"{_shown(log)}")


def _print_tail(text: str, log: Path) -> None:
    lines = text.rstrip("\n").splitlines()[-_TAIL_LINES:]
    print(f"--- last lines of {_shown(log)} ---", file=sys.stderr)
    for line in lines:
        print(f"    {line}", file=sys.stderr)


def _first_error_line(text: str) -> str:
    # A compiler's first error is the cause; later ones and make's summary follow from it.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("$") or not re.search(r"\berror\b", line, re.IGNORECASE):
            continue
        if line.startswith("CMake Error"):
            # CMake puts the message on the indented lines after "CMake Error at FILE:LINE".
            message = []
            for following in lines[index + 1:]:
                if not following.startswith(" ") or not following.strip():
                    break
                message.append(following.strip())
            return " ".join([line.strip().removesuffix(":"), *message])
        return line.strip()
    return _last_line(text)


def _last_error_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if re.search(r"Error|Exception|\bfailed\b", line) and not line.startswith("$"):
            return line.strip()
    return _last_line(text)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] not in "$#"]
    return lines[-1] if lines else "no output"


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is below it: shorter messages."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _shown_command(command: list[str]) -> str:
    shown = [_shown(Path(part)) if os.path.isabs(part) else part for part in command]
    return shlex.join(shown)
