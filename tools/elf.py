"""An ELF32/ELF64 reader of our own: section and program headers, with `struct`, so the size
report needs no binutils and works on any ELF the pipeline produces."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError

SHT_NOBITS = 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
PT_LOAD = 1
EM_ARM = 40
_SECTION_TYPES = {0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 5: "HASH",
                  6: "DYNAMIC", 7: "NOTE", 8: "NOBITS", 9: "REL", 11: "DYNSYM",
                  14: "INIT_ARRAY", 15: "FINI_ARRAY", 16: "PREINIT_ARRAY", 17: "GROUP",
                  18: "SYMTAB_SHNDX", 0x70000001: "ARM_EXIDX", 0x70000003: "ARM_ATTRIBUTES",
                  0x6FFFFFF6: "GNU_HASH", 0x6FFFFFFE: "VERNEED", 0x6FFFFFFF: "VERSYM"}
_MACHINES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V"}


@dataclass(frozen=True)
class Section:
    name: str
    type: int
    flags: int
    address: int          # VMA: where the program uses it
    load_address: int     # LMA: where the image stores it (differs for .data: flash -> RAM)
    size: int
    offset: int

    @property
    def type_name(self) -> str:
        return _SECTION_TYPES.get(self.type, hex(self.type))

    @property
    def allocated(self) -> bool:
        """Occupies memory on the target at run time (SHF_ALLOC)."""
        return bool(self.flags & SHF_ALLOC)

    @property
    def has_contents(self) -> bool:
        """Has bytes in the file (not SHT_NOBITS, like .bss): they get loaded or flashed."""
        return self.type != SHT_NOBITS

    @property
    def writable(self) -> bool:
        return bool(self.flags & SHF_WRITE)

    @property
    def flag_letters(self) -> str:
        return "".join(letter for bit, letter in ((SHF_WRITE, "W"), (SHF_ALLOC, "A"),
                                                  (SHF_EXECINSTR, "X")) if self.flags & bit)


@dataclass(frozen=True)
class Segment:
    type: int
    offset: int
    virtual_address: int
    physical_address: int
    file_size: int
    memory_size: int
    flags: int


@dataclass(frozen=True)
class Elf:
    path: Path
    bits: int
    little_endian: bool
    machine: int
    sections: list[Section]
    segments: list[Segment]

    @property
    def machine_name(self) -> str:
        return _MACHINES.get(self.machine, f"machine {self.machine}")

    @property
    def is_cortex_m(self) -> bool:
        # 32-bit Arm ELFs from this project are Cortex-M; a Cortex-A Linux binary would be
        # ET_DYN/ET_EXEC with an interpreter, which size_report does not try to tell apart.
        return self.machine == EM_ARM and self.bits == 32


_ELF_HEADER = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
# Firmware images with debug information are megabytes; this is read whole.
MAX_ELF_BYTES = 256 << 20
_SECTION_HEADER = {32: "IIIIIIIIII", 64: "IIQQQQIIQQ"}
_PROGRAM_HEADER = {32: "IIIIIIII", 64: "IIQQQQQQ"}


def read_elf(path: str | Path) -> Elf:
    """Parses an ELF32/ELF64's section and program headers. InputError for anything that is not
    a complete ELF."""
    path = Path(path)
    try:
        if path.is_file() and path.stat().st_size > MAX_ELF_BYTES:
            raise InputError(f"{path}: {path.stat().st_size:,} bytes; a firmware ELF is at most "
                             f"{MAX_ELF_BYTES:,}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"ELF not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not an ELF file") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    if data[:4] != b"\x7fELF":
        raise InputError(f"{path}: not an ELF file")
    if len(data) < 16 or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise InputError(f"{path}: corrupt ELF (bad class or byte order in its identification)")
    bits = 32 if data[4] == 1 else 64
    order = "<" if data[5] == 1 else ">"

    def unpack(layout: str, offset: int, what: str) -> tuple:
        size = struct.calcsize(order + layout)
        if offset < 0 or offset + size > len(data):
            raise InputError(f"{path}: truncated ELF ({what} ends at byte {offset + size}, the "
                             f"file has {len(data)})")
        return struct.unpack_from(order + layout, data, offset)

    (_, machine, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum,
     shstrndx) = unpack(_ELF_HEADER[bits], 16, "the ELF header")
    if shoff == 0:
        raise InputError(f"{path}: the ELF has no section headers (stripped with sstrip?)")
    header_size = struct.calcsize(order + _SECTION_HEADER[bits])
    if shentsize != header_size:
        raise InputError(f"{path}: corrupt ELF (section header size {shentsize}, expected "
                         f"{header_size})")

    def section_header(index: int) -> tuple:
        return unpack(_SECTION_HEADER[bits], shoff + index * shentsize,
                      f"section header {index}")

    # More than 0xff00 sections: the real count and name-table index sit in section 0.
    if shnum == 0:
        shnum = section_header(0)[5]
    if shstrndx == 0xFFFF:
        shstrndx = section_header(0)[6]
    headers = [section_header(index) for index in range(shnum)]
    if shnum and shstrndx >= shnum:
        raise InputError(f"{path}: corrupt ELF (section name table index {shstrndx} of {shnum})")

    segments = []
    if phoff and phnum:
        for index in range(phnum):
            fields = unpack(_PROGRAM_HEADER[bits], phoff + index * phentsize,
                            f"program header {index}")
            if bits == 32:
                p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, _ = fields
            else:
                p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, _ = fields
            segments.append(Segment(p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz,
                                    p_flags))

    names_offset, names_size = (headers[shstrndx][4], headers[shstrndx][5]) if shnum else (0, 0)
    if names_offset + names_size > len(data):
        raise InputError(f"{path}: truncated ELF (the section name table ends at byte "
                         f"{names_offset + names_size}, the file has {len(data)})")
    names = data[names_offset:names_offset + names_size]
    sections = []
    for index, (sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, *_rest) in \
            enumerate(headers):
        if index == 0:
            continue  # the null section
        if sh_name >= max(len(names), 1):
            raise InputError(f"{path}: corrupt ELF (section {index}'s name is outside the name "
                             f"table)")
        end = names.find(b"\0", sh_name)
        name = names[sh_name:end if end >= 0 else len(names)].decode("utf-8", "replace")
        if sh_type != SHT_NOBITS and sh_offset + sh_size > len(data):
            raise InputError(f"{path}: truncated ELF (section {name} ends at byte "
                             f"{sh_offset + sh_size}, the file has {len(data)})")
        section = Section(name, sh_type, sh_flags, sh_addr, sh_addr, sh_size, sh_offset)
        sections.append(_with_load_address(section, segments))
    return Elf(path, bits, order == "<", machine, sections, segments)


def _with_load_address(section: Section, segments: list[Segment]) -> Section:
    """The section's LMA, as the linker recorded it: the PT_LOAD segment holding the section
    runs at p_vaddr and is stored at p_paddr (GNU ld writes the AT> address there), so a
    section at VMA v in that segment is stored at p_paddr + (v - p_vaddr). objdump does the
    same."""
    # NOBITS sections (.bss) have nothing to load: their LMA is their VMA, whatever objdump
    # extrapolates from a segment they share with .data.
    if not section.allocated or section.size == 0 or not section.has_contents:
        return section
    for segment in segments:
        if segment.type != PT_LOAD:
            continue
        # In the segment's address range and in its file image: the second test tells apart
        # segments that share addresses (overlays).
        inside = (segment.virtual_address <= section.address
                  < segment.virtual_address + segment.memory_size
                  and segment.offset <= section.offset < segment.offset + segment.file_size)
        if inside:
            load = segment.physical_address + section.address - segment.virtual_address
            return Section(section.name, section.type, section.flags, section.address, load,
                           section.size, section.offset)
    return section


def elf_sections(path: str | Path) -> list[Section]:
    """The ELF's sections (without the null section 0), in header order."""
    return read_elf(path).sections
