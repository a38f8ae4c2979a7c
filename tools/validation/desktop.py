"""The desktop side of a validation: a model's int8 test inputs, their labels, and what the
desktop runtimes output for each: TFLM's host interpreter (the reference the device must match)
and LiteRT (reported beside it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.card import ModelCard, load_card
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.workspace import Workspace


@dataclass
class DesktopReference:
    name: str
    model_dir: Path
    card: ModelCard
    sha256: str  # of model.tflite, which the device's copy must equal
    dataset: str  # the test set's file, as the card or --data names it
    inputs: np.ndarray  # (n, *input shape) int8, exactly the bytes the device receives
    labels: np.ndarray | None  # class indices, expected values, or None (plain tensors)
    x: np.ndarray  # the float test inputs, as the float model takes them
    model: object  # the int8 TFLiteModel
    output_tensor: object  # TFLiteModel tensor: scale, zero_point, shape
    input_zero_point: int
    tflm: np.ndarray  # (n, output bytes) int8
    litert: np.ndarray  # (n, output bytes) int8
    float_outputs: np.ndarray | None  # (n, output values) float32; None without a float model

    @property
    def is_classification(self) -> bool:
        return self.card.is_classification and self.labels is not None

    @property
    def class_names(self) -> list[str] | None:
        return self.card.labels

    @property
    def count(self) -> int:
        return len(self.inputs)

    def metrics(self, outputs: np.ndarray, indices: np.ndarray) -> dict | None:
        """The task's metrics (accuracy, or errors) of int8 `outputs`, the outputs for the
        samples `indices`; None when the test set has no expected values."""
        from tinyml_pipeline.tools.metrics import task_metrics

        if self.labels is None:
            return None
        return task_metrics(self.card.kind, self.card.labels, outputs, self.labels[indices],
                            self.output_tensor)

    def tensor_metrics(self, outputs: np.ndarray, indices: np.ndarray) -> dict:
        """int8 `outputs` (dequantized) against the float model's and TFLM's outputs."""
        from tinyml_pipeline.tools.metrics import dequantized, tensor_metrics

        values = dequantized(outputs, self.output_tensor)
        found = {"vs_tflm": tensor_metrics(values, dequantized(self.tflm[indices],
                                                                self.output_tensor))}
        if self.float_outputs is not None:
            found["vs_float"] = tensor_metrics(values, self.float_outputs[indices])
        return found

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        return np.argmax(outputs.reshape(len(outputs), -1), axis=1)


def model_file(model_dir: Path) -> Path:
    """The .tflite of a model directory, as its card names it."""
    path = Path(model_dir) / load_card(model_dir).model_file
    if not path.is_file():
        from tinyml_pipeline.tools.errors import InputError

        raise InputError(f"{path} is missing (train the model, or check --models-dir)")
    return path


def prepare(workspace: Workspace, model_dir: Path, limit: int | None = None,
            progress=None, data: Path | None = None) -> DesktopReference:
    """Loads the test set (the card's, or the file `data`) and runs it through TFLM and LiteRT,
    and the float model when the directory has one (a few seconds for 10,000 MNIST images).
    `progress(label, total)` returns a bar with update() and close(), or is None."""
    from tinyml_pipeline.tools.evaluate import load_test_set
    from tinyml_pipeline.tools.reference import LiteRTRunner, TFLMRunner, run_all
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    model_dir = Path(model_dir)
    card, model, test = load_test_set(workspace, model_dir, limit, data)
    runners = [TFLMRunner(model), LiteRTRunner(model)]
    float_file = model_dir / card.float_model_file if card.float_model_file else None
    if float_file is not None and float_file.is_file():
        float_runner = LiteRTRunner(TFLiteModel.from_file(float_file))
        float_runner.name = "float"
        runners.append(float_runner)
    outputs = {}
    for runner in runners:
        samples = test.x if runner.name == "float" else test.inputs
        bar = progress(f"{card.name}: desktop {runner.name}", len(samples)) if progress else None
        outputs[runner.name] = run_all(runner, samples, bar).reshape(len(samples), -1)
        if bar is not None:
            bar.close()
    return DesktopReference(
        name=card.name, model_dir=model_dir, card=card,
        sha256=sha256_of(model_dir / card.model_file), dataset=test.source,
        inputs=test.inputs, labels=test.y, x=test.x, model=model,
        output_tensor=model.outputs[0],
        input_zero_point=int(model.inputs[0].zero_point), tflm=outputs["tflm"],
        litert=outputs["litert"], float_outputs=outputs.get("float"))
