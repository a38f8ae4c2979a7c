"""Whether a model's bench image fits the QEMU board's RAM, checked before anything is built.

The image holds, in RAM, the plan's arena and the two batch buffers of
firmware/boards/common/batch_file.c, each the arena's size (every tensor of a built-in model
lives in its arena, so they hold any input and output) and at least 8 KiB; then the stack and
the rest of the firmware's data. A model too large for that gets one line here instead of a
link failure after two builds.
"""

from __future__ import annotations

from tinyml_pipeline.tools.errors import InputError

QEMU_RAM_BYTES = 4 * 1024 * 1024  # mps2_an386.ld's RAM region
MIN_BATCH_BUFFER_BYTES = 8192  # batch_file.c's MIN_TENSOR_BYTES
# The stack (8 KiB), the device's frame buffers and everything else the image keeps in RAM,
# rounded well up: about 23 KiB in the QEMU images measured (arm-none-eabi-size).
FIRMWARE_RAM_BYTES = 64 * 1024


def batch_buffer_bytes(arena_bytes: int) -> int:
    return max(arena_bytes, MIN_BATCH_BUFFER_BYTES)


def qemu_ram_bytes(arena_bytes: int) -> int:
    """RAM the bench's QEMU image needs for a plan of `arena_bytes`."""
    return arena_bytes + 2 * batch_buffer_bytes(arena_bytes) + FIRMWARE_RAM_BYTES


def check_qemu_fit(name: str, arena_bytes: int) -> None:
    needed = qemu_ram_bytes(arena_bytes)
    if needed > QEMU_RAM_BYTES:
        raise InputError(
            f"{name} does not fit the QEMU board's RAM: its arena of {arena_bytes:,} bytes and "
            f"two batch buffers of {batch_buffer_bytes(arena_bytes):,} need about {needed:,} "
            f"bytes, the mps2-an386 has {QEMU_RAM_BYTES:,}; bench it with --target host")
