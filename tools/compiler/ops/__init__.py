"""Lowerings: one function per TFLite builtin op, turning an OpView into a Layer (or an Alias
for shape-only ops). Each module in this package registers its ops with @lowering."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

LOWERINGS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Alias:
    """A shape-only op: the output is the input's bytes under another shape; no layer runs."""

    source: int
    target: int


def lowering(*op_names: str):
    def register(function):
        for name in op_names:
            LOWERINGS[name] = function
        return function
    return register


def supported_ops() -> list[str]:
    return sorted(LOWERINGS)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
