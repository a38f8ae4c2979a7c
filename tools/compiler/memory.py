"""The static activation memory plan: buffers with lifetimes placed in one arena.

Greedy by size (largest first), each at the lowest aligned offset that does not overlap a
buffer alive at the same time, the approach of TFLM's GreedyMemoryPlanner.

A *chain* is a run of buffers that must start at one offset: a layer that writes its output
over its input in place (see Layer.in_place_ok). Its buffers' lifetimes follow one another
without overlapping, and the chain is placed as a unit: at the lowest aligned offset where no
member meets a buffer alive at the same time. A buffer on its own is a chain of one.
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


def _alive_together(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def _chains(buffers: list[Buffer], chains: list[tuple[object, ...]]) -> list[list[Buffer]]:
    for buffer in buffers:
        # compile_plan refuses such a model first; a placement of one would be meaningless.
        if buffer.size <= 0:
            raise ValueError(f"buffer {buffer.key} has non-positive size {buffer.size}")
    by_key = {buffer.key: buffer for buffer in buffers}
    if len(by_key) != len(buffers):
        raise ValueError("buffer keys must be unique")
    grouped: list[list[Buffer]] = []
    seen: set[object] = set()
    for keys in chains:
        members = [by_key[key] for key in keys]
        if seen.intersection(keys) or len(set(keys)) != len(keys):
            raise ValueError(f"buffer in more than one chain: {keys}")
        for index, a in enumerate(members):
            for b in members[index + 1:]:
                if _alive_together(a, b):
                    raise ValueError(f"chained buffers {a.key} and {b.key} are alive together")
        seen.update(keys)
        grouped.append(members)
    grouped += [[buffer] for buffer in buffers if buffer.key not in seen]
    return grouped


def place(buffers: list[Buffer], chains: list[tuple[object, ...]] = ()
          ) -> tuple[dict[object, int], int]:
    """Returns each buffer's offset and the arena size they need. `chains` lists the keys of
    buffers that must share one offset (each key in at most one chain)."""
    offsets: dict[object, int] = {}
    placed: list[tuple[int, Buffer]] = []
    # Largest first; for a chain, its largest member. Ties: earliest first, then by key, so the
    # result does not depend on the input order.
    groups = sorted(_chains(buffers, list(chains)),
                    key=lambda g: (-max(b.size for b in g), min(b.first for b in g),
                                   str(g[0].key)))
    for group in groups:
        # (member, placed offset, placed buffer) for every pair alive at the same time.
        conflicts = [(member, offset, other) for member in group for offset, other in placed
                     if _alive_together(member, other)]
        # The lowest feasible aligned offset is 0 or the aligned end of a conflicting buffer
        # (otherwise it could move 16 bytes lower), so only those are tried.
        candidates = sorted({0} | {_align(offset + other.size) for _, offset, other in conflicts})
        for candidate in candidates:
            if all(candidate + member.size <= offset or candidate >= offset + other.size
                   for member, offset, other in conflicts):
                break
        for member in group:
            offsets[member.key] = candidate
            placed.append((candidate, member))
    arena = max((offset + b.size for offset, b in placed), default=0)
    return offsets, _align(arena)
