"""The Cortex-M4 cycle estimate (tools/bench/cycles.py): the cycle model on hand-written QEMU
traces, and a traced inference of the QEMU image counting what the image's own counter counts."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import FIRMWARE, MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools import qemu_batch
from tinyml_pipeline.tools.bench import cycles
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.evaluate import load_test_set

_missing = [tool for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm")
            if shutil.which(tool) is None]
needs_qemu = pytest.mark.skipif(
    bool(_missing), reason=f"{', '.join(_missing)} not installed (the traced QEMU image)")


def _block(host: str, *instructions: str) -> list[str]:
    return ["----------------", "IN: f", *instructions, ""]


def _run(host: str, pc: int, symbol: str = "f") -> str:
    return f"Trace 0: {host} [00800408/{pc:08x}/00000110/ff020200] {symbol}"


def test_a_loop_of_pipelined_loads_a_mac_and_a_taken_branch():
    body = ["0x00000100:  f850 3b04  ldr.w    r3, [r0], #4",
            "0x00000104:  f851 4b04  ldr.w    r4, [r1], #4",
            "0x00000108:  fb23 5504  smlad    r5, r3, r4, r5",
            "0x0000010c:  3a01       subs     r2, #1",
            "0x0000010e:  d1f7       bne      #0x100"]
    exit_block = ["0x00000110:  4770       bx       lr"]
    lines = [*_block("A", *body), _run("0xa", 0x100), _run("0xa", 0x100), _run("0xa", 0x100)]
    lines += [*_block("B", *exit_block), _run("0xb", 0x110), _run("0xc", 0x200, "caller")]
    lines[-1:-1] = _block("C", "0x00000200:  bf00       nop")
    count = cycles.count_trace(lines)
    # Three passes: 2 loads each (2 + 1 pipelined), one SMLAD, one SUBS; the branch is taken
    # twice (1 + P) and falls through once (1); then BX LR, taken, and a NOP.
    assert count.instructions["load"] == 6 and count.cycles["load"] == 9
    assert count.instructions["multiply"] == 3 and count.cycles["multiply"] == 3
    assert count.instructions["branch_taken"] == 3  # two BNE back, one BX to the caller
    assert count.cycles["branch_taken"] == 3 * (1 + cycles.PIPELINE_REFILL)
    assert count.instructions["branch"] == 1 and count.cycles["branch"] == 1
    assert count.total_instructions == 3 * 5 + 1 + 1


def test_multiple_transfers_cost_one_plus_their_registers_and_pop_pc_refills():
    lines = [*_block("A", "0x00000100:  b5f0       push     {r4, r5, r6, r7, lr}",
                     "0x00000102:  e9d0 2300  ldrd     r2, r3, [r0]",
                     "0x00000106:  bdf0       pop      {r4, r5, r6, r7, pc}"),
             _run("0xa", 0x100)]
    count = cycles.count_trace(lines)
    assert count.instructions["load_store_multiple"] == 3
    assert count.cycles["load_store_multiple"] == (1 + 5) + (1 + 2) + (1 + 5
                                                                       + cycles.PIPELINE_REFILL)


def test_an_address_computed_just_before_a_load_stalls_one_cycle():
    lines = [*_block("A", "0x00000100:  1843       adds     r3, r0, r1",
                     "0x00000102:  681a       ldr      r2, [r3]",
                     "0x00000104:  6808       ldr      r0, [r1]"),
             _run("0xa", 0x100)]
    count = cycles.count_trace(lines)
    # adds; a load on the fresh r3 (2 + 1 stall); a pipelined load on r1 (1)
    assert count.cycles["load"] == 3 + 1
    assert count.cycles["alu"] == 1


def test_within_counts_from_the_call_to_the_return_only():
    lines = [*_block("A", "0x00000100:  2001       movs     r0, #1",
                     "0x00000102:  4798       blx      r3"),
             _run("0xa", 0x100, "caller"),
             *_block("B", "0x00000300:  3001       adds     r0, #1",
                     "0x00000302:  4770       bx       lr"),
             _run("0xb", 0x300, "builtin_invoke"),
             *_block("C", "0x00000104:  2000       movs     r0, #0",
                     "0x00000106:  4770       bx       lr"),
             _run("0xc", 0x104, "caller"), _run("0xa", 0x100, "caller"), _run("0xb", 0x300,
                                                                              "builtin_invoke")]
    count = cycles.count_trace(lines, within="builtin_invoke")
    assert count.total_instructions == 2  # the first call only: ADDS and BX LR
    assert count.instructions["branch_taken"] == 1


def test_a_block_rewound_at_a_device_access_counts_what_ran():
    lines = [*_block("A", "0x00000100:  2001       movs     r0, #1",
                     "0x00000102:  6008       str      r0, [r1]",
                     "0x00000104:  2002       movs     r0, #2"),
             _run("0xa", 0x100),
             "cpu_io_recompile: rewound execution of TB to 00000102",
             *_block("B", "0x00000102:  6008       str      r0, [r1]",
                     "0x00000104:  2002       movs     r0, #2"),
             _run("0xb", 0x102)]
    count = cycles.count_trace(lines)
    assert count.total_instructions == 3


def test_a_function_that_never_runs_is_an_error():
    lines = [*_block("A", "0x00000100:  2001       movs     r0, #1"), _run("0xa", 0x100)]
    with pytest.raises(InputError, match="builtin_invoke never ran"):
        cycles.count_trace(lines, within="builtin_invoke")


@needs_qemu
def test_a_traced_digits_inference_counts_the_instructions_the_image_counts():
    image = FIRMWARE.build("qemu", quiet=True)
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / "digits", 1)
    index = sorted(("activity", "digits", "linear")).index("digits")
    sample = test.inputs[0]
    counted = qemu_batch.run_batch(index, sample[None], elf=image).costs[0]
    traced = cycles.traced_inference(image, index, sample)
    # The image's counter sits around the same call, so the two agree but for the counter's
    # own reads and the call around it: a few hundred instructions at most (174 here).
    assert abs(traced.total_instructions - int(counted)) <= 0.001 * int(counted)
    assert traced.instructions["multiply"] > model.macs() // 2 // 2  # SMLADs: 2 MACs each
    assert 1.0 < traced.total_cycles / traced.total_instructions < 3.0
    assert set(traced.instructions) <= set(cycles.CLASSES)
    assert np.isclose(sum(traced.cycles.values()), traced.total_cycles)
