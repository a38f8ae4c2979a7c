"""The Nano 33 BLE Sense firmware, as far as it can be checked without the board's toolchain.

The Arduino core, the IMU libraries and TFLite Micro cannot be fetched here, so firmware/src/ is
compiled (syntax and types only) against stand-in headers in tests/support/arduino_standin/ and
tests/support/tflm_standin/ that declare just the API it uses, once per platformio.ini
environment with that environment's flags. This catches typos and drift from the pinned APIs and
from board.h; it proves nothing about the real libraries' behaviour. Also checked: the
environments and their pins, and the HELLO bytes in the Renode test.
"""

import configparser
import importlib.util
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INI = ROOT / "platformio.ini"
GLUE = ROOT / "firmware" / "src"
RENODE = ROOT / "firmware" / "renode"
SUPPORT = Path(__file__).resolve().parent / "support"
STANDINS = [SUPPORT / "arduino_standin", SUPPORT / "tflm_standin"]
# What PlatformIO puts on the path from the two project libraries.
LIBRARY_INCLUDES = [ROOT / "firmware" / "lib" / "tinyml" / "include",
                    ROOT / "firmware" / "lib" / "models"]

ENVS = ("nano33ble", "nano33ble_rev2", "nano33ble_builtin", "nano33ble_builtin_rev2",
        "nano33ble_renode")
WARNINGS = ["-Wall", "-Wextra", "-Werror"]
# What the Arduino mbed core compiles C++ with (variants/ARDUINO_NANO33BLE/cxxflags.txt).
BOARD_CXX = ["-std=gnu++14", "-fno-rtti", "-fno-exceptions", "-funsigned-char", "-Wvla",
             "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16"]


def _config() -> configparser.ConfigParser:
    """platformio.ini with the environments file it includes (extra_configs)."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(INI)
    extra = [ROOT / line.strip() for line in
             config.get("platformio", "extra_configs", fallback="").splitlines() if line.strip()]
    assert extra and all(path.is_file() for path in extra), extra
    config.read(extra)
    return config


def _option(config, section: str, option: str) -> str:
    """An option's value with PlatformIO's ${section.option} references resolved; [env:x]
    falls back to [env], as in PlatformIO."""
    if config.has_option(section, option):
        raw = config.get(section, option)
    elif section.startswith("env:") and config.has_option("env", option):
        raw = config.get("env", option)
    else:
        return ""
    return re.sub(r"\$\{([^.}]+)\.([^}]+)\}",
                  lambda m: _option(config, m.group(1), m.group(2)), raw)


def _lines(value: str) -> list[str]:
    items = []
    for line in value.splitlines():
        line = line.split(";")[0].strip()
        items.extend(part.strip() for part in line.split(",") if part.strip())
    return items


def _build_flags(env: str) -> list[str]:
    return _option(_config(), f"env:{env}", "build_flags").split()


def _compile_flags(env: str) -> list[str]:
    """The env's -D flags, and its -I flags made absolute (PlatformIO resolves them from the
    project directory)."""
    flags = []
    for flag in _build_flags(env):
        if flag.startswith("-I"):
            flags.append(f"-I{ROOT / flag[2:]}")
        elif flag.startswith("-D"):
            flags.append(flag)
    return flags


def _compile(compiler: str, language: list[str], env: str, source: Path) -> None:
    includes = [f"-I{path}" for path in STANDINS]
    command = [compiler, *language, "-fsyntax-only", *WARNINGS, *includes, *_compile_flags(env),
               *[f"-I{path}" for path in LIBRARY_INCLUDES], str(source)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, f"{source.name} [{env}]:\n{result.stderr}"


# ---- platformio.ini --------------------------------------------------------------------------


def test_platformio_ini_has_every_environment_on_the_board():
    config = _config()
    assert config.get("platformio", "src_dir") == "firmware/src"
    assert config.get("platformio", "lib_dir") == "firmware/lib"
    assert config.get("platformio", "include_dir") == "firmware/include"
    assert config.get("platformio", "extra_configs") == "firmware/platformio/nano33ble.ini"
    for env in ENVS:
        section = f"env:{env}"
        assert config.has_section(section), f"platformio.ini has no [{section}]"
        assert _option(config, section, "board") == "nano33ble"
        assert _option(config, section, "framework") == "arduino"
        assert "-Ifirmware/include" in _build_flags(env), "libraries need board.h's folder"


def test_every_environment_builds_with_the_cores_float_abi():
    """The mbed core and libmbed.a are softfp; PlatformIO's builder appends -mfloat-abi=soft,
    which every env removes and replaces (platformio.ini says why)."""
    config = _config()
    for env in ENVS:
        assert _lines(_option(config, f"env:{env}", "build_unflags")) == ["-mfloat-abi=soft"], env
        flags = _build_flags(env)
        assert "-mfloat-abi=softfp" in flags and "-mfpu=fpv4-sp-d16" in flags, env
        assert "-mfloat-abi=soft" not in flags, env


def test_platform_and_every_library_are_pinned():
    config = _config()
    platform = _option(config, "env", "platform")
    assert re.fullmatch(r"[\w-]+/nordicnrf52@\d+\.\d+\.\d+", platform), platform
    exact = re.compile(r"[\w.-]+/[\w.-]+@\d+\.\d+\.\d+")
    git_commit = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+\.git#[0-9a-f]{40}")
    entries = [entry for section in config.sections()
               for entry in _lines(_option(config, section, "lib_deps"))]
    assert entries, "no lib_deps at all"
    for entry in entries:
        assert exact.fullmatch(entry) or git_commit.fullmatch(entry), \
            f"lib_deps entry {entry!r} is neither owner/name@X.Y.Z nor a git URL at a commit"


def test_flags_choose_runtime_link_and_board_revision():
    for env in ENVS:
        flags = _build_flags(env)
        assert ("-DTINYML_BACKEND_TFLM" in flags) == ("builtin" not in env), env
        assert ("-DTINYML_IMU_BMI270" in flags) == env.endswith("_rev2"), env
        assert any(flag.startswith("-DTINYML_SERIAL=") for flag in flags) == \
            (env == "nano33ble_renode"), env
    assert "-DTINYML_SERIAL=Serial1" in _build_flags("nano33ble_renode")
    config = _config()
    for env in ENVS:
        # PlatformIO builds every lib_deps entry it does not ignore: one IMU library each.
        deps = _option(config, f"env:{env}", "lib_deps")
        ignored = _lines(_option(config, f"env:{env}", "lib_ignore"))
        built = {name for name in ("Arduino_LSM9DS1", "Arduino_BMI270_BMM150")
                 if name in deps and name not in ignored}
        assert built == {"Arduino_BMI270_BMM150" if env.endswith("_rev2") else "Arduino_LSM9DS1"}
    libraries = _option(_config(), "env:nano33ble", "lib_deps")
    assert "tflite-micro-arduino-examples" in libraries
    assert "tflite-micro" not in _option(_config(), "env:nano33ble_builtin", "lib_deps")


# ---- the glue --------------------------------------------------------------------------------


def _glue_sources() -> list[Path]:
    return sorted(GLUE.glob("*.cpp"))


def test_glue_is_there():
    names = {path.name for path in _glue_sources()}
    assert {"main.cpp", "board_nano33ble.cpp", "board_imu.cpp", "imu_sensor.cpp",
            "tflm_backend.cpp"} <= names


@pytest.mark.parametrize("env", ENVS)
def test_glue_compiles_against_the_standins(env):
    for source in _glue_sources():
        _compile("g++", ["-std=gnu++17"], env, source)


@pytest.mark.parametrize("env", ENVS)
def test_glue_compiles_with_the_boards_language_flags(env):
    """As the core compiles it (C++14, no RTTI or exceptions, unsigned char) and for a 32-bit
    Cortex-M4, where size_t and pointers are 4 bytes."""
    if shutil.which("arm-none-eabi-g++") is None:
        pytest.skip("arm-none-eabi-g++ is not installed")
    for source in _glue_sources():
        _compile("arm-none-eabi-g++", BOARD_CXX, env, source)


def test_portable_core_never_includes_arduino_h():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "firmware" / "lib").rglob("*")
                 if path.suffix in {".c", ".h", ".cpp"} and
                 re.search(r"#\s*include\s*[<\"]Arduino\.h[>\"]", path.read_text())]
    assert not offenders


def test_standins_say_what_they_are():
    for folder in STANDINS:
        for header in folder.rglob("*.h"):
            if header.name == "micro_mutable_op_resolver.h":
                continue  # the older stand-in, written for tests/test_convert.py
            text = " ".join(header.read_text().replace("//", " ").split())
            assert "STAND-IN" in text and "not available" in text, header


# ---- Renode ----------------------------------------------------------------------------------


def _cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
            continue
        block.append(byte)
        if len(block) == 254:
            out += bytes([255]) + block
            block = bytearray()
    return bytes(out + bytes([len(block) + 1]) + block)


def _wire(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    frame = struct.pack("<BH", frame_type, seq) + payload
    frame += struct.pack("<I", zlib.crc32(frame))
    return _cobs_encode(frame) + b"\x00"


def _frames_module():
    spec = importlib.util.spec_from_file_location("tinyml_frames", RENODE / "tinyml_frames.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_renode_hello_request_is_a_hello_frame():
    robot = (RENODE / "hello.robot").read_text()
    line = re.search(r"^@\{HELLO_REQUEST\}(.*)$", robot, re.M).group(1)
    sent = bytes(int(value, 16) for value in line.split())
    assert sent == b"\x00" + _wire(0x01, 1)
    assert sent[1:].hex(" ") == "03 01 01 05 64 82 98 e7 00"  # docs/protocol.md's example


def test_renode_scripts_carry_the_not_runnable_notice():
    for name in ("nano33ble.resc", "hello.robot"):
        text = (RENODE / name).read_text()
        assert "Not runnable on the development machine (no Renode there); see README." in text
    assert ".pio/build/nano33ble_renode/firmware.elf" in (RENODE / "nano33ble.resc").read_text()
    assert 'CreateServerSocketTerminal 3456 "term" false' in \
        (RENODE / "nano33ble.resc").read_text()


def _str(text: str) -> bytes:
    return bytes([len(text)]) + text.encode()


def test_renode_keywords_decode_a_hello_reply():
    frames = _frames_module()
    payload = (struct.pack("<BBHHBII", 0, 1, 2048, 3, 1, 64_000_000, 64_000_000)
               + _str("0.1.0") + _str("nano33ble-rev1") + _str("tflm") + _str("cycles"))
    # Long enough to need a full COBS block, and with zeros in it.
    wire = _wire(0x81, 1, payload + bytes(300))[:-1]
    hello = frames.decode_hello_reply(wire, seq="1")
    assert hello == {"protocol_version": 1, "max_payload": 2048, "model_count": 3, "features": 1,
                     "cpu_hz": 64_000_000, "cost_hz": 64_000_000, "firmware_version": "0.1.0",
                     "board": "nano33ble-rev1", "backend": "tflm", "cost_unit": "cycles"}
    assert frames.decode_hello_reply(wire.decode("latin-1"))["board"] == "nano33ble-rev1"


def test_renode_keywords_refuse_bad_frames():
    frames = _frames_module()
    good = _wire(0x81, 1, b"\x00" + bytes(20))[:-1]
    corrupted = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(AssertionError, match="CRC"):
        frames.decode_frame(corrupted)
    with pytest.raises(AssertionError, match="COBS"):
        frames.decode_frame(b"\x09\x01\x02")
    with pytest.raises(AssertionError, match="seq"):
        frames.decode_hello_reply(good, seq=2)
    with pytest.raises(AssertionError, match="hello reply"):
        frames.decode_hello_reply(_wire(0xFF, 1, b"\x01")[:-1])
