"""Scoring: the test inputs prepared as the board receives them, and the task's metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.card import ModelCard
from tinyml_pipeline.training.quantize import dequantize, quantize_inputs


@dataclass(frozen=True)
class Normalization:
    """Per-channel standardization applied before quantization: (x - mean) / std.

    Recorded in card.json rather than folded into the model: the IMU channels differ in range,
    and one int8 scale over raw values would crush the smaller ones.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray) -> Normalization:
        axes = tuple(range(x.ndim - 1))
        std = np.maximum(x.std(axis=axes), 1e-6)
        return cls(tuple(float(v) for v in x.mean(axis=axes)), tuple(float(v) for v in std))

    @classmethod
    def from_card(cls, card: ModelCard) -> Normalization | None:
        entry = card.normalization
        return cls(tuple(entry["mean"]), tuple(entry["std"])) if entry else None

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - np.array(self.mean, np.float32)) / np.array(self.std, np.float32)).astype(
            np.float32)

    def describe(self) -> dict:
        return {"formula": "(x - mean[c]) / std[c] per channel c, then int8 quantization",
                "mean": list(self.mean), "std": list(self.std)}


def int8_inputs(x: np.ndarray, input_tensor, normalization: Normalization | None) -> np.ndarray:
    """Float samples [n, ...] to the model's int8 input tensor (int16 for a 16x8 model), batch
    dimension dropped."""
    if normalization is not None:
        x = normalization.apply(x)
    shape = tuple(input_tensor.shape[1:])
    dtype = np.int16 if input_tensor.type_name == "INT16" else np.int8
    return quantize_inputs(x, input_tensor.scale, input_tensor.zero_point, dtype
                           ).reshape(-1, *shape)


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    predictions = np.argmax(scores.reshape(len(scores), -1), axis=1)
    return {"accuracy": float(np.mean(predictions == labels)),
            "correct": int(np.sum(predictions == labels)), "total": int(len(labels))}


def regression_metrics(predicted: np.ndarray, expected: np.ndarray, probe_x: float | None = None,
                       probe_y: float | None = None) -> dict:
    error = np.abs(predicted.reshape(-1) - expected.reshape(-1))
    metrics = {"mean_abs_error": float(error.mean()), "max_abs_error": float(error.max())}
    if probe_x is not None:
        metrics[f"f({probe_x:g})"] = probe_y
    return metrics


def score(outputs: np.ndarray, expected: np.ndarray, output_tensor, classification: bool) -> dict:
    """The task's metrics for int8 outputs: accuracy for classifiers, errors for regressions."""
    if classification:
        return classification_metrics(outputs, expected)
    return regression_metrics(output_values(outputs, output_tensor), expected)


def output_values(outputs: np.ndarray, output_tensor) -> np.ndarray:
    """int8 outputs to real values, for regression metrics and reports."""
    return dequantize(outputs, output_tensor.scale, output_tensor.zero_point)
