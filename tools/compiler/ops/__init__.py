"""Lowerings: one function per TFLite builtin op, turning an OpView into a Layer (or an Alias
for shape-only ops). Each module in this package registers its ops with @lowering; the int16
forms (16-bit activations, 8-bit weights) register with @lowering_s16 and are picked when the
op's first input or first output is int16."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

LOWERINGS: dict[str, Callable] = {}
_S16_LOWERINGS: dict[str, Callable] = {}


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


def lowering_s16(*op_names: str):
    def register(function):
        for name in op_names:
            _S16_LOWERINGS[name] = function
        return function
    return register


def has_int16_activation(op) -> bool:
    """Whether the op's first input or first output is int16: what selects the 16x8 lowering
    (QUANTIZE int8 -> int16 has only its output int16, DEQUANTIZE only its input)."""
    first = op.input(0)
    outputs = op.outputs
    return any(tensor is not None and tensor.type_name == "INT16"
               for tensor in (first, outputs[0] if outputs else None))


def _by_activation_type(int8_lowering: Callable | None, s16_lowering: Callable) -> Callable:
    def lower(op):
        if has_int16_activation(op) or int8_lowering is None:
            return s16_lowering(op)
        return int8_lowering(op)
    return lower


def supported_ops() -> list[str]:
    return sorted(LOWERINGS)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
for _name, _s16 in _S16_LOWERINGS.items():
    LOWERINGS[_name] = _by_activation_type(LOWERINGS.get(_name), _s16)
