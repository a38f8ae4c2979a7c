"""The static activation memory plan: buffers with lifetimes placed in one arena.

Greedy by size (largest first), each at the lowest aligned offset that does not overlap a
buffer alive at the same time, the approach of TFLM's GreedyMemoryPlanner.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGNMENT = 16


@dataclass(frozen=True)
class Buffer:
    key: object
    size: int
    first: int  # first step it is alive (written)
    last: int  # last step it is alive (read)


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def place(buffers: list[Buffer]) -> tuple[dict[object, int], int]:
    """Returns each buffer's offset and the arena size they need."""
    offsets: dict[object, int] = {}
    placed: list[tuple[int, Buffer]] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, str(b.key))):
        overlapping = sorted(((offset, other) for offset, other in placed
                              if other.first <= buffer.last and buffer.first <= other.last),
                             key=lambda item: item[0])  # Buffers do not compare
        candidate = 0
        for offset, other in overlapping:
            if candidate + buffer.size <= offset:
                break
            candidate = max(candidate, _align(offset + other.size))
        offsets[buffer.key] = candidate
        placed.append((candidate, buffer))
    arena = max((offset + b.size for offset, b in placed), default=0)
    return offsets, _align(arena)
