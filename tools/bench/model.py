"""What `tinyml bench` measures: a .tflite given as a file or as a model directory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tinyml_pipeline.tools.card import ModelCard, card_beside
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel


@dataclass(frozen=True)
class BenchModel:
    name: str  # a C identifier: the generated sources' prefix
    path: Path
    model: TFLiteModel
    card: ModelCard | None

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample's shape: the input tensor's without its batch dimension of 1."""
        return tuple(self.model.inputs[0].shape[1:])


def resolve(source: str | Path) -> Path:
    """MODEL.tflite, or a directory holding model.tflite (models/<name>)."""
    path = Path(source)
    if path.is_dir():
        path = path / "model.tflite"
    if not path.is_file():
        raise InputError(f"model not found: {path}" if path.parent.exists()
                         else f"model not found: {source} (no such file or directory)")
    return path


def c_name(text: str) -> str:
    """A lowercase C identifier of at most 32 characters, as the converter requires."""
    name = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or "model"
    if not name[0].isalpha():
        name = f"m_{name}"
    return name[:32]


def load(source: str | Path, name: str | None = None) -> BenchModel:
    """The model at `source`; InputError for a missing file, one that is not a .tflite, or a
    model whose input or output is not int8."""
    path = resolve(source)
    model = TFLiteModel.from_file(path)
    model.require_int8_io()
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise InputError(f"{path}: the bench runs models with one input and one output; this "
                         f"one has {len(model.inputs)} and {len(model.outputs)}")
    shape = model.inputs[0].shape
    if not shape or shape[0] != 1:
        raise InputError(f"{path}: input shape {list(shape)} has no batch dimension of 1")
    card = card_beside(path)
    default = (card.name if card else None) or (path.parent.name if path.stem == "model"
                                           else path.stem)
    return BenchModel(c_name(name or default), path, model, card)
