"""The GNU ld map file (-Wl,-Map, which firmware/CMakeLists.txt asks for): every input section
the linker placed, with its address, size and the object file it came from.

The ELF's symbol table names functions and arrays but not string literals (.rodata.str1.*) or
padding, and says nothing of which object a global came from; the map says all of it, so the
flash split uses the map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError


@dataclass(frozen=True)
class Placed:
    """One input section as placed in the image."""

    output: str  # the output section, e.g. .text
    name: str  # the input section, e.g. .rodata.layer0_filter, or *fill*
    address: int
    size: int  # as the map lists it
    source: str  # the object, e.g. libtinyml_core.a(op_conv2d.c.obj); "" for *fill*
    occupied: int = 0  # bytes it really takes: merged string sections may overlap the next one

    @property
    def object_name(self) -> str:
        """The object file's own name: op_conv2d.c.obj, startup.c.obj, libc_a-memcpy.o."""
        member = re.search(r"\(([^()]+)\)$", self.source)
        return member.group(1) if member else Path(self.source).name

    @property
    def archive(self) -> str | None:
        """The archive the object came from (libc_nano.a), or None for a loose object."""
        member = re.match(r"(.+)\([^()]+\)$", self.source)
        return Path(member.group(1)).name if member else None


_HEX = r"0x([0-9a-fA-F]+)"
_OUTPUT = re.compile(rf"^(\S+)(?:\s+{_HEX}\s+{_HEX})?(?:\s+load address {_HEX})?\s*$")
_INPUT = re.compile(rf"^ (\S+)(?:\s+{_HEX}\s+{_HEX}\s+(.*?))?\s*$")
_CONTINUED = re.compile(rf"^\s+{_HEX}\s+{_HEX}\s+(\S.*?)\s*$")
_FILL = re.compile(rf"^ \*fill\*\s+{_HEX}\s+{_HEX}")


def parse_map(path: Path) -> dict[str, list[Placed]]:
    """Input sections per output section, in address order, with `occupied` filled in. Only
    output sections the map lists with an address and a size."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        raise InputError(f"linker map not found: {path}") from None
    try:
        start = lines.index("Linker script and memory map") + 1
    except ValueError:
        raise InputError(f"{path}: not a GNU ld map file") from None
    sections: dict[str, tuple[int, int]] = {}
    placed: dict[str, list[Placed]] = {}
    current = None
    index = start
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        index += 1
        if line and not line[0].isspace():
            header = _OUTPUT.match(line)
            current = None
            if header and header.group(2) is None:  # a long name: address and size follow
                numbers = re.match(rf"^\s+{_HEX}\s+{_HEX}", following)
                if numbers and not line.startswith(("LOAD ", "OUTPUT(")):
                    current = header.group(1)
                    sections[current] = (int(numbers.group(1), 16), int(numbers.group(2), 16))
                    index += 1
            elif header:
                current = header.group(1)
                sections[current] = (int(header.group(2), 16), int(header.group(3), 16))
            if current:
                placed.setdefault(current, [])
            continue
        if current is None:
            continue
        fill = _FILL.match(line)
        if fill:
            placed[current].append(Placed(current, "*fill*", int(fill.group(1), 16),
                                          int(fill.group(2), 16), ""))
            continue
        entry = _INPUT.match(line)
        if not entry or entry.group(1).startswith("*"):
            continue  # a pattern line such as *(.text .text.*), or a symbol or assignment
        if entry.group(2) is not None:
            address, size, source = entry.group(2), entry.group(3), entry.group(4)
        else:
            continued = _CONTINUED.match(following)
            if not continued:
                continue
            address, size, source = continued.groups()
            index += 1
        placed[current].append(Placed(current, entry.group(1), int(address, 16), int(size, 16),
                                      source))
    return {name: _with_occupied(entries, *sections[name]) for name, entries in placed.items()}


def _with_occupied(entries: list[Placed], start: int, size: int) -> list[Placed]:
    """Each entry's own bytes: up to the next entry's address and the end of the output section.
    A merged string section is listed at the address of what follows it when its strings went
    into an earlier one: it then takes no bytes of its own."""
    ordered = sorted((entry for entry in entries if entry.size), key=lambda e: e.address)
    if not ordered:
        return []
    ends = [entry.address for entry in ordered[1:]] + [start + size]
    return [Placed(entry.output, entry.name, entry.address, entry.size, entry.source,
                   max(0, min(entry.size, end - entry.address)))
            for entry, end in zip(ordered, ends, strict=True)]
