"""What a lowered operator is: a C kernel, the ordered fields of its parameter struct, and the
tensors it reads and writes. The planner resolves arena offsets; the emitter writes C."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Const:
    """A constant array placed in flash; the field holds a pointer to it."""

    ctype: str  # int8_t, int16_t, int32_t, float
    values: np.ndarray
    label: str  # names the array in the generated C, e.g. "filter"


@dataclass(frozen=True)
class Offset:
    """The arena byte offset of an activation tensor."""

    tensor: int


@dataclass(frozen=True)
class Scratch:
    """The arena byte offset of this layer's scratch buffer, plus `plus` bytes."""

    plus: int = 0


@dataclass(frozen=True)
class Streamed:
    """An activation the runtime points at call by call (a fused stage's rows): emitted as 0,
    or as an arena tinyml_operand at 0 where the field is an operand."""

    operand: bool = False


@dataclass(frozen=True)
class Stage:
    """Another layer run inside this one (tools/compiler/fusion.py): emitted as a
    tinyml_stage, its kernel, a pointer to its own parameter struct and `kind`."""

    layer: Layer
    kind: str  # a tinyml_strips_kind constant


@dataclass(frozen=True)
class Operand:
    """A tensor that may be constant or an activation: emitted as a tinyml_operand."""

    tensor: int


@dataclass(frozen=True)
class Null:
    """A NULL pointer field (e.g. a convolution without bias)."""


@dataclass
class Layer:
    op: str  # TFLite builtin name
    op_index: int  # position in the .tflite's operator list
    kernel: str  # C function
    params_type: str  # C struct
    fields: list[tuple[str, object]]  # in the struct's declaration order
    reads: tuple[int, ...]  # activation tensors read
    writes: tuple[int, ...]  # activation tensors written
    scratch_bytes: int = 0
    # True when the kernel stays exact with writes[0] at the same arena offset as any one of
    # `reads` at least as large as it, the output overwriting that input as it is computed. A
    # lowering sets it only after checking its kernel's read/write order (for this layer's
    # shapes, where that matters); the planner may then, when nothing later reads the input,
    # give both tensors one buffer. False is always safe.
    in_place_ok: bool = False
    header: str = ""  # the runtime header declaring params_type and kernel
    extra: dict = field(default_factory=dict)
