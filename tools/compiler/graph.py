"""A read-only view of a .tflite for lowering: operators with their tensors and options."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.tflite_model import TensorInfo, TFLiteModel


@dataclass(frozen=True)
class Tensor:
    info: TensorInfo
    data: np.ndarray | None  # constant values, None for activations

    @property
    def index(self) -> int:
        return self.info.index

    @property
    def shape(self) -> tuple[int, ...]:
        return self.info.shape

    @property
    def type_name(self) -> str:
        return self.info.type_name

    @property
    def scale(self) -> float:
        return self.info.scale if self.info.scale is not None else 0.0

    @property
    def zero_point(self) -> int:
        return self.info.zero_point if self.info.zero_point is not None else 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        # Exact (Python ints): np.prod would wrap silently on a corrupted huge shape.
        return math.prod(self.shape)

    @property
    def bytes(self) -> int:
        return self.size * np.dtype(self.info.dtype).itemsize


class OpView:
    """One operator as a lowering function sees it."""

    def __init__(self, model: TFLiteModel, index: int):
        self._model = model
        self._op = model.operators[index]
        self.index = index
        self.name = self._op.name
        self.options = self._op.options

    def _tensor(self, tensor_index: int) -> Tensor | None:
        if tensor_index < 0:
            return None
        # The model reader checks indices too; a lowering must still never index past the end.
        if tensor_index >= self._model.tensor_count:
            raise self.fail(f"tensor index {tensor_index} is out of range "
                            f"({self._model.tensor_count} tensors)")
        return Tensor(self._model.tensor(tensor_index), self._model.tensor_data(tensor_index))

    @property
    def model(self) -> TFLiteModel:
        """The whole model, for a lowering whose choice depends on more than its op."""
        return self._model

    @property
    def input_count(self) -> int:
        return len(self._op.inputs)

    def input(self, position: int) -> Tensor | None:
        if position >= len(self._op.inputs):
            return None
        return self._tensor(self._op.inputs[position])

    def output(self, position: int = 0) -> Tensor:
        if position >= len(self._op.outputs) or self._op.outputs[position] < 0:
            raise self.fail(f"output {position} is missing ({len(self._op.outputs)} outputs)")
        return self._tensor(self._op.outputs[position])

    @property
    def inputs(self) -> list[Tensor | None]:
        return [self._tensor(i) for i in self._op.inputs]

    @property
    def outputs(self) -> list[Tensor]:
        return [self._tensor(i) for i in self._op.outputs]

    def where(self) -> str:
        # Built without output(): the message must not fail on the very fault it reports.
        outputs = self._op.outputs
        if outputs and 0 <= outputs[0] < self._model.tensor_count:
            return f"op #{self.index} {self.name} (output '{self._model.tensor(outputs[0]).name}')"
        return f"op #{self.index} {self.name}"

    def options_of(self, *class_names: str, required: bool = True):
        """The builtin options if they are one of `class_names` (schema *OptionsT); None when
        absent and not `required` (the op then takes TFLite's defaults)."""
        options = self.options
        if options is None:
            self.require(not required, f"options are missing (expected {class_names[0]})")
            return None
        found = type(options).__name__
        self.require(found in class_names, f"options {found} are not the {class_names[0]} "
                                           f"{self.name} takes")
        return options

    def fail(self, problem: str) -> CompileError:
        """The error to raise when this op cannot be compiled."""
        return CompileError(f"{self._model.source}: {self.where()}: {problem}")

    def require(self, condition: bool, problem: str) -> None:
        if not condition:
            raise self.fail(problem)

    def require_types(self, tensor: Tensor | None, *type_names: str) -> None:
        self.require(tensor is not None, "a required input is missing")
        self.require(tensor.type_name in type_names,
                     f"tensor '{tensor.info.name}' is {tensor.type_name.lower()}, the built-in "
                     f"runtime supports {'/'.join(t.lower() for t in type_names)} here")
