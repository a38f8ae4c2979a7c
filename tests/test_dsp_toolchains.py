"""dsp.h's Cortex-M4 path compiles without the ACLE SIMD32 intrinsics of <arm_acle.h>, which GCC
has only from GCC 10: the Nano 33 BLE Sense's PlatformIO toolchain is GCC 7.2.1. Every runtime
source is compiled for the M4 with tests/support/gcc7_acle/ first on the include path (an
<arm_acle.h> standing for GCC 7's, without them) and with poison_simd32.h force-included (the
intrinsics' names made errors), with arm-none-eabi-gcc and with clang, on both of dsp.h's paths:
the compilers' builtins, and the inline assembly GCC 7 gets (-DTINYML_DSP_INLINE_ASM, with the
builtins poisoned too). The kernels must still contain the DSP instructions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUNTIME = REPO_ROOT / "firmware" / "lib" / "tinyml"
SHIM = REPO_ROOT / "tests" / "support" / "gcc7_acle"
RUNTIME_INCLUDES = (f"-I{RUNTIME / 'include'}", f"-I{REPO_ROOT / 'firmware' / 'include'}")
INCLUDES = (f"-I{SHIM}", "-include", str(SHIM / "poison_simd32.h"), *RUNTIME_INCLUDES)
M4 = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
WARNINGS = ("-O2", "-std=c99", "-Wall", "-Wextra", "-Werror")
# clang has no arm-none-eabi C library of its own: newlib's headers, as Debian installs them.
NEWLIB_INCLUDE = Path("/usr/lib/arm-none-eabi/include")
COMPILERS = {"arm-none-eabi-gcc": ("arm-none-eabi-gcc", *M4),
             "clang": ("clang", "--target=arm-none-eabi", *M4, "-isystem", str(NEWLIB_INCLUDE))}

# What each kernel's DSP path must contain, so that a build which silently fell back to the
# portable kernels (no __ARM_FEATURE_DSP) cannot pass.
DSP_INSTRUCTIONS = {
    "op_conv2d": {"smlad", "sxtb16", "sxtab16", "ssat", "smmlar"},
    "op_fully_connected": {"smlad", "smlabb", "sxtb16", "sxtab16", "ssat"},
    "op_depthwise_conv2d": {"smlabb", "smlatt", "smlatb", "sxtb16", "sxtab16", "ssat", "smmlar"},
    "op_pooling": {"ssub8", "sel", "sxtab16"},
}


def _includes_dsp_h(source: Path, compiler: tuple[str, ...]) -> bool:
    """Whether the source includes dsp.h, directly or through another header (-MM)."""
    result = subprocess.run([*compiler, *RUNTIME_INCLUDES, "-MM", str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"{source.name}:\n{result.stderr}"
    return "tinyml/dsp.h" in result.stdout


def _mnemonics(objdump: str, obj: Path) -> set[str]:
    listing = subprocess.run([objdump, "-d", str(obj)], capture_output=True, text=True,
                             check=True).stdout
    return {line.split("\t")[2].strip().split()[0] for line in listing.splitlines()
            if line.count("\t") >= 2 and line.split("\t")[2].strip()}


def _tools(name: str) -> tuple[str, ...]:
    if shutil.which("arm-none-eabi-gcc") is None or shutil.which("arm-none-eabi-objdump") is None:
        pytest.skip("arm-none-eabi-gcc / arm-none-eabi-objdump are not installed")
    if name == "clang":
        if shutil.which("clang") is None:
            pytest.skip("clang is missing (CI installs it: scripts/install-system-deps.sh); "
                        "install Debian's clang package to run this test")
        if not (NEWLIB_INCLUDE / "stdint.h").is_file():
            pytest.skip(f"newlib's headers are missing ({NEWLIB_INCLUDE}: libnewlib-arm-none-eabi)")
    return COMPILERS[name]


PATHS = {"builtins": (), "inline-asm": ("-DTINYML_DSP_INLINE_ASM",)}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("name", sorted(COMPILERS))
def test_dsp_kernels_compile_without_acle_simd32_intrinsics(name, path, tmp_path):
    compiler = (*_tools(name), *PATHS[path])
    sources = [source for source in sorted((RUNTIME / "src").glob("*.c"))
               if _includes_dsp_h(source, compiler)]
    missing = set(DSP_INSTRUCTIONS) - {source.stem for source in sources}
    assert not missing, f"dsp.h is no longer included by {sorted(missing)}"
    failures = []
    for source in sources:
        result = subprocess.run([*compiler, *WARNINGS, *INCLUDES, "-c", str(source),
                                 "-o", str(tmp_path / f"{source.stem}.o")],
                                capture_output=True, text=True)
        if result.returncode != 0:
            failures.append(f"{source.name}:\n{result.stderr}")
    assert not failures, (f"{name} ({path}) without the ACLE SIMD32 intrinsics:\n"
                          + "\n".join(failures))
    for stem, wanted in DSP_INSTRUCTIONS.items():
        mnemonics = _mnemonics("arm-none-eabi-objdump", tmp_path / f"{stem}.o")
        assert wanted <= mnemonics, f"{name} ({path}): {stem}.o lacks {sorted(wanted - mnemonics)}"


def test_the_poison_header_rejects_an_acle_simd32_call(tmp_path):
    """The guard itself: a source calling __smlad through the real <arm_acle.h>, which compiles
    without the shim, fails with it."""
    compiler = _tools("arm-none-eabi-gcc")
    source = tmp_path / "acle_call.c"
    source.write_text("#include <arm_acle.h>\n#include <stdint.h>\n"
                      "int32_t f(int32_t a, int32_t b, int32_t c) { return __smlad(a, b, c); }\n")
    plain = subprocess.run([*compiler, *WARNINGS, "-c", str(source), "-o", str(tmp_path / "a.o")],
                           capture_output=True, text=True)
    shimmed = subprocess.run([*compiler, *WARNINGS, *INCLUDES, "-c", str(source),
                              "-o", str(tmp_path / "b.o")], capture_output=True, text=True)
    if plain.returncode != 0:
        pytest.skip(f"this arm-none-eabi-gcc has no __smlad itself (GCC < 10):\n{plain.stderr}")
    assert shimmed.returncode != 0 and "__smlad" in shimmed.stderr, shimmed.stderr
