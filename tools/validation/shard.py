"""`--shard K/N`: which test samples a shard validates. Strided, not contiguous: shard K takes
the samples i with i % N == K - 1, so every shard sees the whole test set's mix of classes
(test sets are often stored sorted by class) and the N shards are disjoint and cover it."""

from __future__ import annotations

from tinyml_pipeline.tools.errors import InputError


def parse_shard(text: str) -> tuple[int, int]:
    """'K/N' -> (K, N), 1 <= K <= N."""
    k, slash, n = text.partition("/")
    try:
        index, count = int(k), int(n)
    except ValueError:
        index = count = 0
    if not slash or count < 1 or not 1 <= index <= count:
        raise InputError(f"--shard {text!r}: give K/N with 1 <= K <= N, e.g. 2/4")
    return index, count


def shard_indices(total: int, shard: tuple[int, int] | None) -> range:
    if shard is None:
        return range(total)
    return range(shard[0] - 1, total, shard[1])


def shard_size(total: int, shard: tuple[int, int] | None) -> int:
    return len(shard_indices(total, shard))
