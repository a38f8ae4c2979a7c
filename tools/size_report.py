"""`tinyml firmware size`: flash and RAM per section of a firmware ELF, read with tools/elf.py."""

from __future__ import annotations

from pathlib import Path

from tinyml_pipeline.tools.elf import SHF_EXECINSTR, Section, read_elf

# Cortex-M's architectural memory map (Armv6-M/v7-M/v8-M): 0x0000_0000-0x1FFF_FFFF is the Code
# region, where every part keeps its flash (nRF52840: 0x0-0x10_0000; QEMU's mps2-an386 runs code
# from its 0x0 SSRAM as if it were flash), and 0x2000_0000 up is SRAM (nRF52840:
# 0x2000_0000-0x2004_0000), peripherals and external RAM.
_CORTEX_M_CODE_END = 0x2000_0000


def size_report(elf: str | Path) -> dict:
    """Flash and RAM used by a firmware ELF, and the per-section table.

    Cortex-M ELF: flash = bytes stored in non-volatile memory (code, read-only data,
    .ARM.exidx, the initial values of .data); RAM = bytes used at run time in SRAM (.data, .bss,
    stack and heap reservations). Each allocated section is classed by the program headers
    first, which works for any linker script:
      - stored at one address and run at another (LMA != VMA, e.g. .data AT> FLASH): the
        start-up code copies it, so it counts in flash and in RAM;
      - SHT_NOBITS (.bss, .stack, .heap, .noinit): zero or uninitialised at run time, takes RAM
        only;
      - otherwise it runs where it is stored. Writable: that must be RAM, which a loader
        (QEMU's -kernel, a debugger) fills directly, e.g. a linker script that puts
        everything in one region. Read-only: the Cortex-M memory map says where (Code region
        below 0x2000_0000: flash; above: RAM, e.g. code loaded into RAM by a debugger).
    Host executable: text/data/bss as `size` (Berkeley format) counts them; flash and RAM do
    not apply (None)."""
    parsed = read_elf(elf)
    text = data = bss = 0
    flash = ram = 0
    rows = []
    for section in parsed.sections:
        region = None
        if section.allocated:
            # size(1)'s Berkeley rule: code or read-only -> text, else with contents -> data.
            if section.flags & SHF_EXECINSTR or not section.writable:
                text += section.size
            elif section.has_contents:
                data += section.size
            else:
                bss += section.size
            if parsed.is_cortex_m and section.size:
                region = _cortex_m_region(section)
                flash += section.size if "flash" in region else 0
                ram += section.size if "RAM" in region else 0
        rows.append({"name": section.name, "type": section.type_name,
                     "flags": section.flag_letters, "address": section.address,
                     "load_address": section.load_address, "size": section.size,
                     "allocated": section.allocated, "has_contents": section.has_contents,
                     "region": region})
    report = {"path": str(parsed.path), "bits": parsed.bits, "machine": parsed.machine_name,
              "kind": "mcu" if parsed.is_cortex_m else "host",
              "text": text, "data": data, "bss": bss,
              "flash_bytes": flash if parsed.is_cortex_m else None,
              "ram_bytes": ram if parsed.is_cortex_m else None,
              "sections": rows,
              "note": None if parsed.is_cortex_m else (
                  f"{parsed.machine_name} executable: flash and RAM are not meaningful; "
                  f"text/data/bss as size(1) counts them")}
    return report


def _cortex_m_region(section: Section) -> str:
    if not section.has_contents:
        return "RAM"
    if section.load_address != section.address:
        return "flash+RAM"
    if section.writable:
        return "RAM"
    return "flash" if section.address < _CORTEX_M_CODE_END else "RAM"


def format_size_report(report: dict) -> str:
    """The report as a table of the allocated sections (what reaches the target), then totals."""
    mcu = report["kind"] == "mcu"
    width = 10 if report["bits"] == 32 else 18
    shown = [row for row in report["sections"] if row["allocated"] and row["size"]]
    name_width = max([len("section")] + [len(row["name"]) for row in shown])
    header = f"{'section':<{name_width}}  {'address':>{width}}  "
    if mcu:
        header += f"{'load at':>{width}}  "
    lines = [f"{report['path']} ({report['machine']}, ELF{report['bits']})",
             header + f"{'size':>9}  {'region' if mcu else 'counted as'}"]
    for row in shown:
        line = f"{row['name']:<{name_width}}  0x{row['address']:0{width - 2}x}  "
        if mcu:
            load = (f"0x{row['load_address']:0{width - 2}x}"
                    if row["load_address"] != row["address"] else "")
            line += f"{load:>{width}}  {row['size']:>9}  {row['region']}"
        else:
            where = ("text" if "X" in row["flags"] or "W" not in row["flags"]
                     else "data" if row["has_contents"] else "bss")
            line += f"{row['size']:>9}  {where}"
        lines.append(line)
    if mcu:
        for label, key in (("flash", "flash_bytes"), ("RAM", "ram_bytes")):
            lines.append(f"{label:<5} {report[key]:>9} bytes ({report[key] / 1024:.1f} KiB)")
    lines.append(f"text {report['text']}  data {report['data']}  bss {report['bss']}")
    if report["note"]:
        lines.append(f"note: {report['note']}")
    return "\n".join(lines)
