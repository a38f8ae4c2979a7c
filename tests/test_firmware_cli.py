"""`tinyml firmware`: the ELF size report against binutils' `size`, and the one-line errors of
build, size and flash when a tool, a board or the PlatformIO registry is missing.

No test here runs CMake or PlatformIO: the subprocess runner is replaced where a tool's output
matters. The real host and QEMU builds are tested with the firmware itself."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import tinyml_pipeline.tools.firmware as firmware
from tests.conftest import FIRMWARE
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.elf import elf_sections
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.size_report import size_report
from tinyml_pipeline.tools.targets import buildlog
from tinyml_pipeline.tools.targets import platformio as platformio_target
from tinyml_pipeline.tools.workspace import Workspace

PROGRAM = """\
#include <stdint.h>
extern uint32_t __stack_top;
void reset_handler(void);
__attribute__((section(".vectors"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))&__stack_top, reset_handler};
static const int16_t table[64] = {1, 2, 3};
int32_t counters[100] = {5, 6, 7};
static int32_t scratch[300];
int main(void) {
  for (int i = 0; i < 300; ++i) scratch[i] = table[i % 64] + counters[i % 100];
  return scratch[7];
}
void reset_handler(void) { main(); for (;;) {} }
"""
# Flash and RAM as on an nRF52840: .data stored in flash (AT> FLASH) and copied to RAM; a stack
# reserved in RAM.
SPLIT_SCRIPT = """\
MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 1M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 256K }
ENTRY(reset_handler)
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  .data : { *(.data*) } > RAM AT> FLASH
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
  .stack (NOLOAD) : { . = ALIGN(8); . += 0x800; __stack_top = .; } > RAM
}
"""
# Everything in one region at 0 that a loader (QEMU's -kernel) fills: .data runs where it is
# stored, with no copy in flash.
ONE_REGION_SCRIPT = """\
MEMORY { RAM (rwx) : ORIGIN = 0x00000000, LENGTH = 4M }
ENTRY(reset_handler)
SECTIONS {
  .text : { KEEP(*(.vectors)) *(.text*) *(.rodata*) } > RAM
  .ARM.exidx : { *(.ARM.exidx*) } > RAM
  .data : { *(.data*) } > RAM
  .bss (NOLOAD) : { *(.bss*) *(COMMON) } > RAM
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
}
"""

REGISTRY_UNREACHABLE = """\
Processing nano33ble (platform: nordicnrf52; board: nano33ble; framework: arduino)
--------------------------------------------------------------------------------
Platform Manager: Installing nordicnrf52
HTTPClientError: 
"""  # noqa: W291 (what pio 6.1 prints on a machine without internet, trailing space included)


def _compile_arm(tmp_path: Path, script: Path | str) -> Path:
    gcc = shutil.which("arm-none-eabi-gcc")
    if gcc is None or shutil.which("arm-none-eabi-size") is None:
        pytest.skip("arm-none-eabi-gcc / arm-none-eabi-size are not installed "
                    "(Debian: gcc-arm-none-eabi)")
    if isinstance(script, str):
        (tmp_path / "flash_ram.ld").write_text(script)
        script = tmp_path / "flash_ram.ld"
    (tmp_path / "prog.c").write_text(PROGRAM)
    elf = tmp_path / "prog.elf"
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "-O1", "-nostdlib", f"-T{script}",
                    str(tmp_path / "prog.c"), "-o", str(elf)], check=True)
    return elf


@pytest.fixture(scope="module")
def host_elf(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("size") is None:
        pytest.skip("no C compiler or no size(1) (Debian: gcc, binutils)")
    directory = tmp_path_factory.mktemp("host")
    (directory / "host.c").write_text("#include <stdio.h>\nint x = 3; int y[100];\n"
                                      "int main(void) { printf(\"%d\\n\", x + y[2]); }\n")
    subprocess.run([cc, "-O1", str(directory / "host.c"), "-o", str(directory / "host")],
                   check=True)
    return directory / "host"


def _binutils_sections(size_tool: str, elf: Path) -> list[tuple[str, int, int]]:
    """(name, size, address) per section from `size -A -d`."""
    lines = subprocess.run([size_tool, "-A", "-d", str(elf)], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    rows = []
    for line in lines[2:]:
        fields = line.split()
        if len(fields) == 3 and fields[0] != "Total":
            rows.append((fields[0], int(fields[1]), int(fields[2])))
    return rows


def _berkeley(size_tool: str, elf: Path) -> tuple[int, int, int]:
    text, data, bss = subprocess.run([size_tool, str(elf)], check=True, capture_output=True,
                                     text=True).stdout.splitlines()[1].split()[:3]
    return int(text), int(data), int(bss)


def _ours(elf: Path) -> list[tuple[str, int, int]]:
    # BFD, and so `size`, does not list the symbol and string tables of the file itself or
    # non-allocated relocations; everything else must match.
    hidden = {"SYMTAB", "STRTAB", "REL", "RELA"}
    return [(section.name, section.size, section.address)
            for section in elf_sections(elf)
            if section.allocated or section.type_name not in hidden]


def test_arm_sections_and_totals_match_arm_none_eabi_size(tmp_path):
    elf = _compile_arm(tmp_path, SPLIT_SCRIPT)
    assert _ours(elf) == _binutils_sections("arm-none-eabi-size", elf)
    report = size_report(elf)
    text, data, bss = _berkeley("arm-none-eabi-size", elf)
    assert (report["text"], report["data"], report["bss"]) == (text, data, bss)
    # The usual embedded arithmetic, here derived from the program headers.
    assert report["flash_bytes"] == text + data and report["ram_bytes"] == data + bss
    rows = {row["name"]: row for row in report["sections"]}
    assert rows[".text"]["region"] == "flash" and rows[".bss"]["region"] == "RAM"
    assert rows[".stack"]["region"] == "RAM" and rows[".stack"]["size"] == 0x800
    assert rows[".data"]["region"] == "flash+RAM" and rows[".data"]["address"] == 0x2000_0000
    # .data is stored right after the code in flash (its LMA), as objdump reports it.
    assert rows[".data"]["load_address"] == rows[".text"]["address"] + rows[".text"]["size"]
    assert rows[".comment"]["region"] is None and not rows[".comment"]["allocated"]


def test_arm_load_addresses_match_objdump(tmp_path):
    if shutil.which("arm-none-eabi-objdump") is None:
        pytest.skip("arm-none-eabi-objdump is not installed")
    elf = _compile_arm(tmp_path, SPLIT_SCRIPT)
    listing = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], check=True,
                             capture_output=True, text=True).stdout.splitlines()
    expected = {}
    for line, flags in zip(listing, listing[1:], strict=False):
        fields = line.split()
        if len(fields) == 7 and fields[0].isdigit() and "LOAD" in flags:
            expected[fields[1]] = (int(fields[3], 16), int(fields[4], 16))
    ours = {section.name: (section.address, section.load_address)
            for section in elf_sections(elf) if section.name in expected}
    assert ours == expected and len(expected) >= 2


def test_an_image_loaded_into_one_region_keeps_writable_data_in_ram(tmp_path):
    elf = _compile_arm(tmp_path, ONE_REGION_SCRIPT)
    report = size_report(elf)
    rows = {row["name"]: row for row in report["sections"]}
    assert rows[".data"]["region"] == "RAM" and rows[".text"]["region"] == "flash"
    assert report["flash_bytes"] == report["text"]
    assert report["ram_bytes"] == report["data"] + report["bss"]


def test_host_executable_matches_size_and_says_flash_does_not_apply(host_elf, capsys):
    assert _ours(host_elf) == _binutils_sections("size", host_elf)
    report = size_report(host_elf)
    assert (report["text"], report["data"], report["bss"]) == _berkeley("size", host_elf)
    assert report["kind"] == "host" and report["flash_bytes"] is None
    assert main(["firmware", "size", str(host_elf)]) == 0
    out = capsys.readouterr().out
    assert "flash and RAM are not meaningful" in out
    assert f"text {report['text']}  data {report['data']}  bss {report['bss']}" in out


def test_size_prints_the_table_and_json(tmp_path, capsys):
    elf = _compile_arm(tmp_path, SPLIT_SCRIPT)
    assert main(["firmware", "size", str(elf)]) == 0
    lines = capsys.readouterr().out.splitlines()
    data = next(line for line in lines if line.startswith(".data")).split()
    assert data[1] == "0x20000000" and data[3:] == ["400", "flash+RAM"]
    assert int(data[2], 16) < 0x2000_0000  # stored in flash
    assert any(line.startswith("flash ") for line in lines)
    assert any(line.startswith("RAM ") for line in lines)
    assert main(["firmware", "size", str(elf), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ram_bytes"] == report["data"] + report["bss"]


def _one_line_error(capsys, arguments: list[str], expected: str) -> str:
    assert main(arguments) == 2
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("tinyml: error: ") and expected in error, captured.err
    return captured.err


@pytest.mark.parametrize("make, expected", [
    (lambda elf: b"just some text\n", "not an ELF file"),
    (lambda elf: elf[:30], "truncated ELF (the ELF header ends at byte"),
    (lambda elf: elf[:-10], "truncated ELF (section header"),
    (lambda elf: elf[:4] + b"\x07" + elf[5:], "corrupt ELF (bad class"),
], ids=["text", "header-cut", "section-headers-cut", "bad-class"])
def test_a_bad_elf_is_one_line_and_exit_2(make, expected, host_elf, tmp_path, capsys):
    bad = tmp_path / "bad.elf"
    bad.write_bytes(make(host_elf.read_bytes()))
    err = _one_line_error(capsys, ["firmware", "size", str(bad)], expected)
    assert err.count("\n") == 1


def test_a_missing_elf_is_one_line_and_exit_2(tmp_path, capsys):
    _one_line_error(capsys, ["firmware", "size", str(tmp_path / "none.elf")], "ELF not found")


def test_size_of_a_target_builds_it_when_missing(host_elf, tmp_path, monkeypatch, capsys):
    built = []

    def fake_build(target, **options):
        built.append(target)
        return host_elf

    monkeypatch.setattr(firmware.Firmware, "target_elf", lambda self, target: tmp_path / "absent")
    monkeypatch.setattr(firmware.Firmware, "build", lambda self, target, **o: fake_build(target))
    assert main(["firmware", "size", "--target", "host"]) == 0
    captured = capsys.readouterr()
    assert built == ["host"] and "host is not built yet: building it" in captured.err
    assert "text " in captured.out


@pytest.mark.parametrize("arguments, message", [
    (["firmware", "size"], "one of the arguments elf --target is required"),
    (["firmware", "build", "--target", "qemu", "--sanitize"], "--sanitize applies to"),
    (["firmware", "build", "--target", "esp32"], "invalid choice: 'esp32'"),
    (["firmware", "flash", "--env", "nano33ble_renode"], "invalid choice"),
])
def test_bad_usage_exits_2(arguments, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(arguments)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_flash_without_platformio_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(platformio_target.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(platformio_target, "platformio_module_available", lambda: False)
    err = _one_line_error(capsys, ["firmware", "flash"], "PlatformIO is not installed")
    assert err.count("\n") == 1


REAL_PIO_ENVS = FIRMWARE.pio_envs()
REAL_FLASHABLE_ENVS = FIRMWARE.flashable_envs()


def test_every_platformio_env_is_a_build_target_and_every_board_env_flashable():
    """The CLI reads the envs from platformio.ini: the Rev2 ones included, Renode's not
    flashable (it has no USB link)."""
    assert {"nano33ble", "nano33ble_rev2", "nano33ble_builtin", "nano33ble_builtin_rev2",
            "nano33ble_renode"} <= set(REAL_PIO_ENVS)
    assert set(REAL_PIO_ENVS) - set(REAL_FLASHABLE_ENVS) == {"nano33ble_renode"}
    assert FIRMWARE.targets() == ("host", "qemu", *REAL_PIO_ENVS)


@pytest.fixture
def fake_project(tmp_path, monkeypatch):
    """A workspace (the current directory) with a platformio.ini naming the real envs, their
    definitions in a file it includes as the repository's does, and a pio that only logs."""
    (tmp_path / "platformio.ini").write_text(
        "[platformio]\nsrc_dir = firmware/src\nextra_configs = envs/*.ini\n")
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "board.ini").write_text(
        "".join(f"[env:{env}]\nplatform = nordicnrf52\nbuild_flags = ${{env.flags}}\n"
                + ("" if env in REAL_FLASHABLE_ENVS else "custom_tinyml_flash = no\n") + "\n"
                for env in REAL_PIO_ENVS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TINYML_WORKSPACE", raising=False)
    monkeypatch.delenv("PLATFORMIO_BUILD_DIR", raising=False)
    monkeypatch.setattr(platformio_target, "pio_command", lambda: ["pio"])
    commands = []

    def simulate(output: str, code: int):
        def run(command, log, *, cwd, env=None):
            commands.append(command)
            with log.open("a") as stream:
                stream.write(output)
            return code
        monkeypatch.setattr(buildlog, "run_logged", run)

    return simulate, commands


def test_build_nano33ble_without_registry_says_so(fake_project, capsys):
    simulate, commands = fake_project
    simulate(REGISTRY_UNREACHABLE, 1)
    err = _one_line_error(capsys, ["firmware", "build", "--target", "nano33ble"],
                          "PlatformIO could not install the platform/libraries for nano33ble "
                          "(while installing nordicnrf52): no internet?")
    assert "pio said: HTTPClientError; full log: " in err and "pio.log" in err
    assert commands == [["pio", "run", "-e", "nano33ble", "-d", str(Path.cwd()), "-j", "2"]]


def test_a_pio_compile_error_shows_the_log_tail(fake_project, capsys):
    simulate, _ = fake_project
    simulate("Compiling .pio/build/nano33ble/src/main.cpp.o\n"
             "firmware/src/main.cpp:3:1: error: 'foo' was not declared\n"
             "*** [.pio/build/nano33ble/src/main.cpp.o] Error 1\n", 1)
    err = _one_line_error(capsys, ["firmware", "build", "--target", "nano33ble_builtin"],
                          "the build of nano33ble_builtin failed (exit 1)")
    assert "    firmware/src/main.cpp:3:1: error: 'foo' was not declared" in err


def test_flash_without_a_board_says_so(fake_project, capsys):
    simulate, commands = fake_project
    simulate("Looking for upload port...\nError: Please specify `upload_port` for environment "
             "or use global `--upload-port` option.\n", 1)
    _one_line_error(capsys, ["firmware", "flash"], "no board found: connect the Nano 33 BLE")
    simulate("Using manually specified: /dev/ttyACM7\nNo device found on /dev/ttyACM7\n", 1)
    _one_line_error(capsys, ["firmware", "flash", "--port", "/dev/ttyACM7"],
                    "no board found on /dev/ttyACM7")
    assert commands[-1][-2:] == ["--upload-port", "/dev/ttyACM7"]


def test_flash_reports_the_port_pio_used(fake_project, capsys):
    simulate, _ = fake_project
    simulate("Auto-detected: /dev/ttyACM0\nUploading .pio/build/nano33ble/firmware.bin\n", 0)
    assert main(["firmware", "flash"]) == 0
    assert capsys.readouterr().out.strip() == "flashed nano33ble through /dev/ttyACM0"


@pytest.mark.parametrize("env", ["nano33ble_rev2", "nano33ble_builtin_rev2"])
def test_the_rev2_envs_build_and_flash(env, fake_project, capsys):
    simulate, commands = fake_project
    simulate("Auto-detected: /dev/ttyACM0\n", 0)
    elf = firmware.Firmware(Workspace(Path.cwd())).target_elf(env)
    elf.parent.mkdir(parents=True)
    elf.write_bytes(b"")
    assert main(["firmware", "build", "--target", env]) == 0
    assert main(["firmware", "flash", "--env", env]) == 0
    assert [command[3] for command in commands] == [env, env]
    assert f"flashed {env} through /dev/ttyACM0" in capsys.readouterr().out


def test_the_renode_env_builds_but_is_not_flashed(fake_project, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["firmware", "flash", "--env", "nano33ble_renode"])
    assert stopped.value.code == 2
    assert "invalid choice: 'nano33ble_renode'" in capsys.readouterr().err
    with pytest.raises(InputError, match="an emulator build"):
        firmware.Firmware(Workspace(Path.cwd())).flash("nano33ble_renode")


def test_flash_of_an_env_platformio_ini_lacks(fake_project, capsys):
    (Path.cwd() / "platformio.ini").write_text("[env:other]\nboard = x\n")
    _one_line_error(capsys, ["firmware", "flash"], "platformio.ini has no [env:nano33ble]")


@pytest.fixture
def fake_cmake(tmp_path, monkeypatch):
    source = tmp_path / "firmware"
    (source / "cmake").mkdir(parents=True)
    (source / "CMakeLists.txt").write_text("")
    (source / "cmake" / "arm-none-eabi.cmake").write_text("")
    monkeypatch.setattr(firmware, "firmware_dir", lambda: source)
    monkeypatch.chdir(tmp_path)  # the workspace: its build/ takes the logs
    monkeypatch.delenv("TINYML_WORKSPACE", raising=False)
    (tmp_path / "firmware" / "lib" / "models").mkdir(parents=True)
    (tmp_path / "firmware" / "lib" / "models" / "tinyml_models.h").write_text("")
    tools = {"cmake": "/usr/bin/cmake", "cc": "/usr/bin/cc", "arm-none-eabi-gcc": "/usr/bin/x"}
    monkeypatch.setattr(shutil, "which", lambda name, *_, **__: tools.get(name))
    return tools


@pytest.mark.parametrize("missing, target, expected", [
    ("cmake", "host", "cmake is not installed"),
    ("arm-none-eabi-gcc", "qemu", "the Arm toolchain is not installed"),
])
def test_build_without_a_tool_is_one_line(missing, target, expected, fake_cmake, capsys):
    del fake_cmake[missing]
    _one_line_error(capsys, ["firmware", "build", "--target", target], expected)


def test_a_cmake_failure_names_the_first_error_and_the_log(fake_cmake, monkeypatch, capsys):
    commands = []

    def run(command, log, *, cwd, env=None):
        commands.append(command)
        with log.open("a") as stream:
            stream.write("[ 50%] Building C object device.c.o\n"
                         "device.c:12:5: error: expected ';' before 'return'\n"
                         "gmake[2]: *** [device.c.o] Error 1\n" if "--build" in command else "")
        return 2 if "--build" in command else 0

    monkeypatch.setattr(buildlog, "run_logged", run)
    err = _one_line_error(capsys, ["firmware", "build", "--target", "host", "--sanitize"],
                          "build of host failed (exit 2): device.c:12:5: error: expected ';'")
    assert "host-asan/build.log" in err.splitlines()[-1]
    assert "[1/2] configure host" in err and "[2/2] build host" in err
    assert "-DTINYML_SANITIZE=ON" in commands[0]
