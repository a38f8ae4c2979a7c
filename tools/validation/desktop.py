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
    dataset: str
    inputs: np.ndarray  # (n, *input shape) int8, exactly the bytes the device receives
    labels: np.ndarray  # class indices, or expected values for a regression
    x: np.ndarray  # the float test inputs (the linear model's plot needs them)
    output_tensor: object  # TFLiteModel tensor: scale, zero_point, shape
    input_zero_point: int
    tflm: np.ndarray  # (n, output bytes) int8
    litert: np.ndarray  # (n, output bytes) int8
    class_names: list[str] | None  # None for a regression

    @property
    def is_classification(self) -> bool:
        return self.class_names is not None

    @property
    def count(self) -> int:
        return len(self.inputs)

    def metrics(self, outputs: np.ndarray, indices: np.ndarray) -> dict:
        """The task's metrics (accuracy, or errors for a regression) of `outputs`, the outputs
        for the samples `indices`."""
        from tinyml_pipeline.training.evaluation import score

        return score(outputs, self.labels[indices], self.output_tensor, self.is_classification)

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
            progress=None) -> DesktopReference:
    """Loads the test set and runs it through TFLM and LiteRT (a few seconds for 10,000 MNIST
    images). `progress(label, total)` returns a bar with update() and close(), or is None."""
    from tinyml_pipeline.tools.evaluate import load_test_set
    from tinyml_pipeline.tools.reference import LiteRTRunner, TFLMRunner, run_all

    model_dir = Path(model_dir)
    card, model, data, inputs, labels = load_test_set(workspace, model_dir, limit)
    outputs = {}
    for runner in (TFLMRunner(model), LiteRTRunner(model)):
        bar = progress(f"{card.name}: desktop {runner.name}", len(inputs)) if progress else None
        outputs[runner.name] = run_all(runner, inputs, bar).reshape(len(inputs), -1)
        if bar is not None:
            bar.close()
    return DesktopReference(
        name=card.name, model_dir=model_dir, card=card,
        sha256=sha256_of(model_dir / card.model_file), dataset=data.name,
        inputs=inputs, labels=labels, x=data.x_test[:limit], output_tensor=model.outputs[0],
        input_zero_point=int(model.inputs[0].zero_point), tflm=outputs["tflm"],
        litert=outputs["litert"], class_names=data.labels)
