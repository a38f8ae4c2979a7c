"""Plots written next to each model: training curves and the int8 confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on build machines
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: dict, path: Path, title: str, metric: str) -> None:
    """Loss and the task's metric per epoch, training against validation: where the two part,
    the model has started to learn the training set instead of the task."""
    plt = _pyplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    markers = len(epochs) <= 50  # on long runs markers only blur the curves
    for axis, key, label in ((axes[0], "loss", "loss"), (axes[1], metric, metric)):
        axis.plot(epochs, history[key], "o-" if markers else "-", label="training", markersize=3)
        if f"val_{key}" in history:
            axis.plot(epochs, history[f"val_{key}"], "s-" if markers else "-",
                      label="validation", markersize=3)
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    if "loss" in history and min(history["loss"]) > 0:
        axes[0].set_yscale("log")
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def confusion_plot(matrix: np.ndarray, class_names: list[str], path: Path, title: str) -> None:
    """Rows are true classes, columns predictions; counts in each cell."""
    plt = _pyplot()
    size = max(4.0, 0.55 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axis.imshow(shown, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for row in range(matrix.shape[0]):
        for col in range(matrix.shape[1]):
            if matrix[row, col]:
                axis.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=8,
                          color="white" if shown[row, col] > 0.5 else "black")
    axis.set_title(title)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def regression_plot(x: np.ndarray, expected: np.ndarray, predicted: np.ndarray, path: Path,
                    title: str) -> None:
    """For the linear model there is no confusion matrix: prediction against truth instead."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(x, expected, "-", label="y = 2x - 1")
    axis.plot(x, predicted, ".", label="int8 model")
    axis.set_xlabel("x")
    axis.set_ylabel("y")
    axis.grid(alpha=0.3)
    axis.legend()
    axis.set_title(title)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def _save(figure, path: Path) -> None:
    import io

    from tinyml_pipeline.tools.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=110, format="png")
    atomic_write_bytes(path, buffer.getvalue())
