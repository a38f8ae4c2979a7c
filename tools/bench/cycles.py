"""Estimated Cortex-M4 cycles of one inference, from the instructions QEMU executes.

QEMU counts instructions, and on a Cortex-M4 instructions cost different numbers of cycles: a
single load two, a taken branch two to four, a multiply-accumulate one. This module logs every
translation block QEMU runs for one inference (`-d in_asm,exec,nochain`: the instructions of
each block as it is translated, then one line per execution), counts the executed instructions
by class and weights them with the cycle model below.

The cycle model is the instruction timing table of Arm's Cortex-M4 Technical Reference Manual
(section "Processor instruction timings") under its own assumptions, which are also ours:
zero-wait-state memory for code and data (no flash wait states, no cache misses, no bus
contention) and no interrupts. Its terms:
  - data processing, saturation, multiplies and multiply-accumulates (MUL, MLA, SMLAD, SMLAL,
    SMMLAR, ...) and the DSP SIMD instructions (SXTB16, SADD16, SEL, ...): 1 cycle; writing the
    PC adds a pipeline refill P;
  - a single load (LDR, LDRB, LDRSH, ...): 2 cycles, 1 when it directly follows another single
    load or store (their address and data phases pipeline); a store: 1 cycle (its data phase
    overlaps the next instruction);
  - a load or store whose address register was written by the instruction just before it: 1
    more cycle (no forwarding path to the address generator);
  - LDRD/STRD, LDM/STM, PUSH/POP, VLDM/VSTM/VPUSH/VPOP: 1 + N for N registers (a POP or LDM
    into the PC adds P);
  - a branch (B, BL, BX, BLX, CBZ/CBNZ) taken: 1 + P; not taken: 1; TBB/TBH: 2 + P;
  - IT: 1 (the manual allows it to fold into the instruction before; counted, to stay on the
    safe side);
  - SDIV/UDIV: 2 to 12 depending on the operands; counted as 12;
  - floating point: VDIV and VSQRT 14, single loads and stores 2, the rest 1.
P, the pipeline refill, is 1 to 3 cycles depending on the target's alignment and width and on
whether the core speculated the branch; PIPELINE_REFILL takes the common 2, so a taken branch
costs 3 cycles. What the model leaves out makes it a lower bound on real silicon with flash wait
states (the nRF52840 runs code from flash through a cache, at 64 MHz: mostly hits in loops).

The instructions of one inference are those from the backend's invoke function's entry until it
returns, the span the image's own cost counter measures, on a one-sample batch of the image."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import qemu, qemu_batch
from tinyml_pipeline.tools.errors import InputError

PIPELINE_REFILL = 2
DIVIDE_CYCLES = 12
TRACE_TIMEOUT_S = 900.0
# The built-in backend's invoke: what the image's cost counter measures (device.c).
INVOKE = "builtin_invoke"

CLASSES = ("alu", "multiply", "simd", "load", "store", "load_store_multiple", "branch",
           "branch_taken", "it", "divide", "float", "other")

# "0x000012a4:  f8d2 3d88  ldr.w    r3, [r2, #0xd88]" or, for a 16-bit instruction,
# "0x00000748:  b508       push     {r3, lr}".
_INSTRUCTION = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+(\S+)\s*(.*)$")
# "Trace 0: 0x7f2914000100 [00800408/00000744/00000110/ff020200] reset_handler": the host
# address of the translated block identifies it; the second field is its guest PC.
_TRACE = re.compile(r"^Trace \d+: (0x[0-9a-f]+) \[[0-9a-f]+/([0-9a-f]+)/[^\]]*\] ?(\S*)")
# With -icount a block that touches a device is cut short and retranslated from there.
_REWOUND = re.compile(r"^cpu_io_recompile: rewound execution of TB to ([0-9a-f]+)")

_CONDITION = "(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?"
# In an IT block any instruction may carry a condition; only a branch's changes its cost.
_BRANCH = re.compile(rf"^(b|bl|bx|blx){_CONDITION}$|^(cbz|cbnz|tbb|tbh)$")
_MULTIPLIES = re.compile(r"^(mul|mla|mls|[su]mull|[su]mlal|umaal|smul[bt][bt]|smla[bt][bt]|"
                         r"smulw[bt]|smlaw[bt]|smla[ld]x?|smlsl?dx?|smua?dx?|smusdx?|smmulr?|"
                         r"smmlar?|smmlsr?|smlal[bt][bt]|smlaldx?|smlsldx?)$")
_SIMD = re.compile(r"^([su]xta?b16|[su]xta?[bh]|[suq]?(add|sub)(8|16)|[suq]h?(add|sub)(8|16)|"
                   r"[suq]h?(asx|sax)|u?sad(a)?8|usada8|sel|pkh(bt|tb)|[su]sat16|"
                   r"q(d)?(add|sub)|rev(16|sh)?|rbit|clz)$")


@dataclass(frozen=True)
class Instruction:
    address: int
    size: int
    mnemonic: str  # without the .w/.n width suffix; a condition suffix stays (bne, movlt)
    operands: str

    @property
    def writes_pc(self) -> bool:
        return (self.operands.split(",")[0].strip() == "pc"
                or "pc}" in self.operands.replace(" ", ""))


def parse_instruction(line: str) -> Instruction | None:
    match = _INSTRUCTION.match(line)
    if match is None:
        return None
    address, _, second, mnemonic, operands = match.groups()
    return Instruction(int(address, 16), 4 if second else 2, mnemonic.split(".")[0],
                       operands.strip())


def _register_count(operands: str) -> int:
    inside = operands[operands.find("{") + 1: operands.find("}")] if "{" in operands else ""
    count = 0
    for part in filter(None, (piece.strip() for piece in inside.split(","))):
        if "-" in part:
            low, high = (int(re.sub(r"\D", "", end) or 0) for end in part.split("-"))
            count += high - low + 1
        else:
            count += 1
    return max(count, 1)


def classify(instruction: Instruction) -> str:
    name = instruction.mnemonic
    if _BRANCH.match(name):
        return "branch"
    if re.fullmatch(r"it[te]{0,3}", name):
        return "it"
    if name in ("sdiv", "udiv"):
        return "divide"
    if name.startswith("v"):
        return "float"
    if name in ("push", "pop") or re.fullmatch(r"(ldm|stm)(ia|db|fd|ea)?", name) \
            or name in ("ldrd", "strd"):
        return "load_store_multiple"
    if name.startswith("ldr") or name in ("ldrex", "ldrexb", "ldrexh"):
        return "load"
    if name.startswith("str"):
        return "store"
    if _MULTIPLIES.match(name):
        return "multiply"
    if _SIMD.match(name):
        return "simd"
    if name in ("nop", "dsb", "dmb", "isb", "bkpt", "svc", "mrs", "msr", "cpsie", "cpsid",
                "wfi", "wfe", "sev", "yield"):
        return "other"
    return "alu"


def _destination(instruction: Instruction) -> str | None:
    first = instruction.operands.split(",")[0].strip()
    return first if re.fullmatch(r"r\d+|sb|sl|fp|ip|lr|sp", first) else None


def _address_registers(instruction: Instruction) -> set[str]:
    inside = re.search(r"\[([^\]]*)\]", instruction.operands)
    if not inside:
        return set()
    return {part.strip().split(" ")[0] for part in inside.group(1).split(",")}


@dataclass
class CycleCount:
    """Executed instructions by class and the cycles the model gives them."""

    instructions: Counter = field(default_factory=Counter)
    cycles: Counter = field(default_factory=Counter)

    @property
    def total_instructions(self) -> int:
        return sum(self.instructions.values())

    @property
    def total_cycles(self) -> int:
        return sum(self.cycles.values())



_ADDRESS_WRITERS = ("alu", "multiply", "simd")


def _cycles(instruction: Instruction, kind: str, previous_kind: str | None,
            refill: int) -> int:
    """The cycles of one instruction after one of `previous_kind`, a branch counted as not
    taken (where a block's last branch went is only known when the next block runs)."""
    if kind == "branch":
        return 2 + refill if instruction.mnemonic in ("tbb", "tbh") else 1
    if kind == "load":
        pipelined = previous_kind in ("load", "store")
        return (1 if pipelined else 2) + (refill if instruction.writes_pc else 0)
    if kind == "store":
        return 1
    if kind == "load_store_multiple":
        registers = (2 if instruction.mnemonic in ("ldrd", "strd")
                     else _register_count(instruction.operands))
        return 1 + registers + (refill if instruction.writes_pc else 0)
    if kind == "divide":
        return DIVIDE_CYCLES
    if kind == "float":
        if instruction.mnemonic in ("vdiv", "vsqrt"):
            return 14
        if instruction.mnemonic in ("vldr", "vstr"):
            return 2
        if instruction.mnemonic in ("vpush", "vpop", "vldm", "vstm", "vldmia", "vstmdb"):
            return 1 + _register_count(instruction.operands)
        return 1
    return 1 + (refill if kind == "alu" and instruction.writes_pc else 0)


def _address_stall(instruction: Instruction, kind: str, previous: Instruction | None,
                   previous_kind: str | None) -> int:
    if kind not in ("load", "store", "load_store_multiple") or previous is None \
            or previous_kind not in _ADDRESS_WRITERS:
        return 0
    return 1 if _destination(previous) in _address_registers(instruction) else 0


class _Block:
    """A translated block's instructions with their classes and the cycles they cost whatever
    ran before the block; what depends on that (the first instruction's load pipelining and
    address stall) and on where its last branch went is added per execution."""

    def __init__(self, instructions: list[Instruction], refill: int):
        self.instructions = instructions
        self.kinds = [classify(instruction) for instruction in instructions]
        self.count = CycleCount()
        previous, previous_kind = None, None
        for position, (instruction, kind) in enumerate(zip(instructions, self.kinds, strict=True)):
            cycles = _cycles(instruction, kind, None if position == 0 else previous_kind, refill)
            if position:
                cycles += _address_stall(instruction, kind, previous, previous_kind)
            self.count.instructions[kind] += 1
            self.count.cycles[kind] += cycles
            previous, previous_kind = instruction, kind
        self.last = instructions[-1] if instructions else None
        self.last_kind = self.kinds[-1] if instructions else None
        self.ends_in_branch = self.last_kind == "branch" and self.last.mnemonic not in (
            "tbb", "tbh")

    def entry_adjustment(self, previous: Instruction | None, previous_kind: str | None) -> int:
        """Cycles the first instruction costs more (or less) after `previous` than after
        nothing in particular."""
        if not self.instructions:
            return 0
        first, kind = self.instructions[0], self.kinds[0]
        pipelined = -1 if kind == "load" and previous_kind in ("load", "store") else 0
        return pipelined + _address_stall(first, kind, previous, previous_kind)

    def taken(self, next_address: int | None) -> bool:
        return (self.ends_in_branch and next_address is not None
                and next_address != self.last.address + self.last.size)


def count_trace(lines, within: str | None = None, refill: int = PIPELINE_REFILL) -> CycleCount:
    """Counts a QEMU `-d in_asm,exec,nochain` log (an iterable of lines): every executed
    instruction, or with `within` only those from the first entry into that function until it
    returns to its caller (everything it calls included).

    Each execution adds a key (block, entry adjustment, branch taken) to a tally; the totals
    are summed per key at the end, which keeps a trace of millions of blocks quick."""
    blocks: dict[str, _Block] = {}
    truncated: dict[tuple[int, int], _Block] = {}
    tally: Counter = Counter()
    translating: list[Instruction] | None = None
    pending: _Block | None = None  # the block that ran last, tallied once the next one runs
    pending_counted = within is None
    pending_adjustment = 0
    previous: tuple[Instruction | None, str | None] = (None, None)
    return_address: int | None = None  # where the function `within` returns to
    state = "inside" if within is None else "before"

    for line in lines:
        if line.startswith("Trace "):
            trace = _TRACE.match(line)
            host, guest, symbol = trace.groups()
            address = int(guest, 16)
            if translating is not None:
                blocks[host] = _Block(translating, refill)
                translating = None
            if pending is not None:
                if pending_counted:
                    tally[(pending, pending_adjustment, pending.taken(address))] += 1
                previous = (pending.last, pending.last_kind)
            if state == "before" and symbol == within:
                state = "inside"
                if previous[0] is not None:  # the caller's branch into it
                    return_address = previous[0].address + previous[0].size
            elif state == "inside" and address == return_address:
                state = "after"
            pending = blocks.get(host)
            if pending is None:
                raise InputError(f"QEMU trace: block {host} ran before it was translated")
            pending_counted = state == "inside"
            pending_adjustment = pending.entry_adjustment(*previous)
        elif line.startswith("IN:"):
            translating = []
        elif translating is not None and line.startswith("0x"):
            instruction = parse_instruction(line)
            if instruction is not None:
                translating.append(instruction)
        elif line.startswith("cpu_io_recompile") and pending is not None:
            # Only the instructions before the device access ran; the block runs again from
            # there, retranslated.
            cut_at = int(_REWOUND.match(line).group(1), 16)
            key = (id(pending), cut_at)
            if key not in truncated:
                truncated[key] = _Block([i for i in pending.instructions if i.address < cut_at],
                                        refill)
            pending = truncated[key]
    if pending is not None and pending_counted:
        tally[(pending, pending_adjustment, False)] += 1
    if state == "before":
        raise InputError(f"QEMU trace: {within} never ran")
    return _total(tally, refill)


def _total(tally: Counter, refill: int) -> CycleCount:
    total = CycleCount()
    for (block, adjustment, taken), executions in tally.items():
        for kind, value in block.count.instructions.items():
            total.instructions[kind] += value * executions
        for kind, value in block.count.cycles.items():
            total.cycles[kind] += value * executions
        if block.instructions:
            total.cycles[block.kinds[0]] += adjustment * executions
        if taken:  # the last branch left the block: one taken branch, with its refill
            total.instructions["branch"] -= executions
            total.cycles["branch"] -= executions
            total.instructions["branch_taken"] += executions
            total.cycles["branch_taken"] += (1 + refill) * executions
    return total


def traced_inference(elf: Path, model_index: int, sample: np.ndarray, within: str = INVOKE,
                     refill: int = PIPELINE_REFILL) -> CycleCount:
    """One inference of `sample` (int8, the model's input shape) on model `model_index` of a
    QEMU batch image: its instructions by class and estimated cycles (module docstring),
    counted inside `within`, the function the image's own cost counter measures."""
    qemu.find_qemu()
    elf = Path(elf)
    samples = np.asarray(sample, dtype=np.int8)[None]
    with tempfile.TemporaryDirectory(prefix="tinyml-cycles-") as work:
        directory = Path(work)
        qemu_batch.write_inputs(directory / qemu_batch.INPUTS_NAME, model_index, samples)
        log = directory / "trace.log"
        argv = qemu.qemu_command(elf, serial="null", batch_dir=directory) + [
            "-d", "in_asm,exec,nochain", "-D", str(log)]
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, timeout=TRACE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise InputError(f"QEMU's instruction trace of {elf.name} did not finish within "
                             f"{TRACE_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            last = (done.stderr.decode(errors="replace").strip().splitlines()
                    or ["no message"])[-1]
            raise InputError(f"QEMU's instruction trace of {elf.name} failed "
                             f"(status {done.returncode}): {last}")
        with log.open(encoding="utf-8", errors="replace") as lines:
            return count_trace(lines, within, refill)
