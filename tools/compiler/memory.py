"""The static activation memory plan: buffers with lifetimes placed in one arena.

Greedy by size (largest first), each at the lowest aligned offset that does not overlap a
buffer alive at the same time, the approach of TFLM's GreedyMemoryPlanner.

A *chain* is a run of buffers placed as a unit, each at a fixed distance (its relative offset,
0 unless given) from the chain's start: a layer that writes its output over its input, at the
same offset (see Layer.in_place_ok) or shifted by some rows (tools/compiler/strips.py). Chained
buffers may not share bytes while alive together, except the pairs named as overlapping (an
input and its strip-run output, at that layer's step: the planner has shown the strips'
order makes it safe). The chain goes at the lowest aligned offset where no member meets a
buffer alive at the same time. A buffer on its own is a chain of one.
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


def _chains(buffers: list[Buffer], chains: list[tuple[object, ...]], relative: dict,
            overlapping: frozenset) -> list[list[tuple[Buffer, int]]]:
    """Groups the buffers into chains of (buffer, offset from the chain's start)."""
    for buffer in buffers:
        # compile_plan refuses such a model first; a placement of one would be meaningless.
        if buffer.size <= 0:
            raise ValueError(f"buffer {buffer.key} has non-positive size {buffer.size}")
    by_key = {buffer.key: buffer for buffer in buffers}
    if len(by_key) != len(buffers):
        raise ValueError("buffer keys must be unique")
    grouped: list[list[tuple[Buffer, int]]] = []
    seen: set[object] = set()
    for keys in chains:
        members = [by_key[key] for key in keys]
        if seen.intersection(keys) or len(set(keys)) != len(keys):
            raise ValueError(f"buffer in more than one chain: {keys}")
        rel = [relative.get(key, 0) for key in keys]
        if any(r % ALIGNMENT for r in rel):
            raise ValueError(f"relative offsets {rel} of {keys} are not aligned")
        for index, a in enumerate(members):
            for j, b in enumerate(members[index + 1:], index + 1):
                shared = (rel[index] < rel[j] + b.size and rel[j] < rel[index] + a.size)
                if (_alive_together(a, b) and shared
                        and frozenset((a.key, b.key)) not in overlapping):
                    raise ValueError(f"chained buffers {a.key} and {b.key} are alive together")
        seen.update(keys)
        low = min(rel)
        grouped.append([(member, r - low) for member, r in zip(members, rel, strict=True)])
    grouped += [[(buffer, 0)] for buffer in buffers if buffer.key not in seen]
    return grouped


def place(buffers: list[Buffer], chains: list[tuple[object, ...]] = (),
          relative: dict | None = None, overlapping: frozenset = frozenset()
          ) -> tuple[dict[object, int], int]:
    """Returns each buffer's offset and the arena size they need. `chains` lists the keys of
    buffers placed as a unit (each key in at most one chain), `relative` their offsets from one
    another (multiples of ALIGNMENT; 0 when absent), `overlapping` the chained pairs (frozensets
    of two keys) that may share bytes while alive together."""
    offsets: dict[object, int] = {}
    placed: list[tuple[int, Buffer]] = []
    # Largest first; for a chain, its largest member. Ties: earliest first, then by key, so the
    # result does not depend on the input order.
    groups = sorted(_chains(buffers, list(chains), relative or {}, overlapping),
                    key=lambda g: (-max(b.size for b, _ in g), min(b.first for b, _ in g),
                                   str(g[0][0].key)))
    for group in groups:
        # (member's start in the chain, member, placed offset, placed buffer) for every pair
        # alive at the same time.
        conflicts = [(rel, member, offset, other) for member, rel in group
                     for offset, other in placed if _alive_together(member, other)]
        # The lowest feasible aligned start is 0 or puts a member at the aligned end of a
        # conflicting buffer (otherwise it could move 16 bytes lower), so only those are tried.
        candidates = sorted({0} | {_align(offset + other.size) - rel
                                   for rel, _, offset, other in conflicts})
        for candidate in candidates:
            if candidate >= 0 and all(
                    candidate + rel + member.size <= offset
                    or candidate + rel >= offset + other.size
                    for rel, member, offset, other in conflicts):
                break
        for member, rel in group:
            offsets[member.key] = candidate + rel
            placed.append((candidate + rel, member))
    arena = max((offset + b.size for offset, b in placed), default=0)
    return offsets, _align(arena)
