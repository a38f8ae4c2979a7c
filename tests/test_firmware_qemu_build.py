"""The QEMU mps2-an386 image builds from scratch with firmware/CMakeLists.txt and the
arm-none-eabi toolchain file, and its sections land where QEMU's AN386 model has memory: code,
constants and .data's initial values in the 4 MB region at 0, .data, .bss and the stack in the
RAM at 0x20000000. Protocol-level checks of the running image live elsewhere."""

from __future__ import annotations

import itertools
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tinyml_pipeline.tools import qemu
from tinyml_pipeline.tools.errors import InputError

FIRMWARE = REPO_ROOT / "firmware"
TOOLCHAIN_FILE = FIRMWARE / "cmake" / "arm-none-eabi.cmake"
FLASH = range(0x00000000, 0x00400000)
RAM = range(0x20000000, 0x20400000)

_missing = [tool for tool in ("cmake", "arm-none-eabi-gcc", "arm-none-eabi-objdump")
            if shutil.which(tool) is None]
needs_toolchain = pytest.mark.skipif(
    bool(_missing), reason=f"{', '.join(_missing)} not installed (the QEMU image cross-compiles)")


@pytest.fixture(scope="module")
def qemu_build(tmp_path_factory):
    build = tmp_path_factory.mktemp("qemu-build")
    configure = subprocess.run(["cmake", "-S", str(FIRMWARE), "-B", str(build),
                                "-DTINYML_TARGET=qemu", f"-DCMAKE_TOOLCHAIN_FILE={TOOLCHAIN_FILE}"],
                               capture_output=True, text=True)
    assert configure.returncode == 0, configure.stdout + configure.stderr
    result = subprocess.run(["cmake", "--build", str(build), "-j2"], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return build, result.stdout


def _sections(elf: Path) -> dict[str, dict]:
    """objdump -h: name -> size, vma, lma and flags."""
    listing = subprocess.run(["arm-none-eabi-objdump", "-h", "-w", str(elf)], capture_output=True,
                             text=True, check=True).stdout
    sections = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].isdigit():
            sections[fields[1]] = {"size": int(fields[2], 16), "vma": int(fields[3], 16),
                                   "lma": int(fields[4], 16), "flags": set(" ".join(
                                       fields[7:]).replace(",", " ").split())}
    return sections


def _symbols(elf: Path) -> dict[str, int]:
    listing = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                             check=True).stdout
    return {fields[2]: int(fields[0], 16) for fields in map(str.split, listing.splitlines())
            if len(fields) == 3}


def _inside(region: range, start: int, size: int) -> bool:
    return start in region and (size == 0 or start + size - 1 in region)


@needs_toolchain
def test_qemu_image_builds_from_scratch(qemu_build):
    build, log = qemu_build
    assert (build / "tinyml-qemu.elf").is_file()
    assert (build / "tinyml-qemu.map").is_file()
    assert "text" in log and "bss" in log  # the post-build arm-none-eabi-size report


@needs_toolchain
def test_sections_land_in_flash_and_ram(qemu_build):
    build, _ = qemu_build
    sections = _sections(build / "tinyml-qemu.elf")
    loaded = {name: s for name, s in sections.items() if "ALLOC" in s["flags"]}
    assert {".text", ".data", ".bss", ".stack"} <= loaded.keys()
    assert sections[".text"]["vma"] == 0  # the vector table first: the core boots from it
    for name, section in loaded.items():
        if "LOAD" in section["flags"]:  # bytes QEMU copies in: they must live in "flash"
            assert _inside(FLASH, section["lma"], section["size"]), name
        writable = "READONLY" not in section["flags"]
        region = RAM if writable else FLASH
        assert _inside(region, section["vma"], section["size"]), name
    # .data runs from RAM but starts from its image in flash; .bss and the stack take no flash.
    assert sections[".data"]["lma"] != sections[".data"]["vma"]
    assert "LOAD" not in sections[".bss"]["flags"] and "LOAD" not in sections[".stack"]["flags"]
    ram = sorted((s["vma"], s["vma"] + s["size"]) for s in loaded.values() if s["vma"] in RAM)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ram)), "RAM overlap"


@needs_toolchain
def test_vector_table_holds_stack_top_and_reset_handler(qemu_build):
    build, _ = qemu_build
    elf = build / "tinyml-qemu.elf"
    symbols = _symbols(elf)
    head = build / "vectors.bin"
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", "--only-section=.text", str(elf),
                    str(head)], check=True)
    initial_sp, reset = struct.unpack("<II", head.read_bytes()[:8])
    assert initial_sp == symbols["__stack_top"] and initial_sp % 8 == 0
    assert reset == symbols["reset_handler"] | 1  # Thumb bit set
    assert symbols["__stack_top"] - symbols["__stack_bottom"] == symbols["__stack_size"]


@needs_toolchain
def test_image_has_no_heap_and_no_stdio(qemu_build):
    build, _ = qemu_build
    symbols = _symbols(build / "tinyml-qemu.elf")
    for name in ("malloc", "_malloc_r", "_sbrk", "printf", "_printf_r", "fwrite", "__assert_func"):
        assert name not in symbols, name


@pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                    reason="cmake and a C compiler are needed to configure")
def test_qemu_target_without_the_toolchain_file_is_refused(tmp_path):
    result = subprocess.run(["cmake", "-S", str(FIRMWARE), "-B", str(tmp_path),
                             "-DTINYML_TARGET=qemu"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "CMAKE_TOOLCHAIN_FILE" in result.stderr


def test_qemu_command_line(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/bin/{name}")
    replay_dir = tmp_path / "a,b"
    command = qemu.qemu_command(Path("fw.elf"), serial="tcp:127.0.0.1:4000,server=on,wait=off",
                                imu_replay_dir=replay_dir)
    assert command[:2] == ["/opt/bin/qemu-system-arm", "-M"]
    assert command[command.index("-M") + 1] == "mps2-an386"
    assert command[command.index("-icount") + 1] == "shift=7"
    assert command[command.index("-kernel") + 1] == "fw.elf"
    assert command[command.index("-serial") + 1] == "tcp:127.0.0.1:4000,server=on,wait=off"
    semihosting = command[command.index("-semihosting-config") + 1]
    assert semihosting.startswith("enable=on,target=native,")
    assert semihosting.endswith(f",arg=imu={str(replay_dir.resolve()).replace(',', ',,')}"
                                f"/imu_replay.bin")
    assert qemu.INSTRUCTIONS_PER_SECOND == 7_812_500


def test_missing_qemu_is_an_input_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="qemu-system-arm"):
        qemu.find_qemu()
