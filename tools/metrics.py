"""The figures a validation reports: task metrics (accuracy with per-class accuracy and
confusion for a classifier, errors for a regression) and the tensor metrics that compare one
output tensor with another whatever the task (RMSE, mean absolute error, cosine similarity and
relative L2 error, as other vendors' validators report them)."""

from __future__ import annotations

import numpy as np


def tensor_metrics(outputs: np.ndarray, reference: np.ndarray) -> dict:
    """`outputs` against `reference`, both real-valued [n, ...]: over all values, and the
    cosine similarity as the mean of the per-sample ones (a constant-zero pair counts as 1)."""
    a = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    b = np.asarray(reference, np.float64).reshape(len(reference), -1)
    difference = a - b
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    both_zero = (np.linalg.norm(a, axis=1) == 0) & (np.linalg.norm(b, axis=1) == 0)
    cosine = np.where(norms > 0, dots / np.where(norms > 0, norms, 1), np.where(both_zero, 1, 0))
    reference_norm = float(np.linalg.norm(b))
    return {"rmse": float(np.sqrt(np.mean(difference ** 2))),
            "mean_abs_error": float(np.mean(np.abs(difference))),
            "max_abs_error": float(np.max(np.abs(difference))),
            "cosine_similarity": float(np.mean(cosine)),
            "relative_l2_error": float(np.linalg.norm(difference) / reference_norm)
            if reference_norm > 0 else None}


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def classification(scores: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    predictions = np.argmax(scores.reshape(len(scores), -1), axis=1)
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    matrix = confusion_matrix(labels, predictions, len(class_names))
    per_class = {}
    for index, name in enumerate(class_names):
        total = int(matrix[index].sum())
        per_class[name] = {"accuracy": float(matrix[index, index] / total) if total else None,
                           "correct": int(matrix[index, index]), "total": total}
    correct = int(np.sum(predictions == labels))
    return {"accuracy": correct / len(labels), "correct": correct, "total": int(len(labels)),
            "per_class": per_class, "confusion_matrix": matrix.tolist()}


def regression(values: np.ndarray, expected: np.ndarray) -> dict:
    error = np.asarray(values, np.float64).reshape(-1) - np.asarray(expected,
                                                                    np.float64).reshape(-1)
    return {"mean_abs_error": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error ** 2))),
            "max_abs_error": float(np.max(np.abs(error))), "total": int(len(values))}


def dequantized(outputs: np.ndarray, tensor) -> np.ndarray:
    return (np.asarray(outputs, np.float32) - np.float32(tensor.zero_point)) * np.float32(
        tensor.scale)


def task_metrics(kind: str, labels: list[str] | None, outputs: np.ndarray,
                 expected: np.ndarray | None, output_tensor) -> dict:
    """The card's task metrics of int8 `outputs` against the test set's expected values: for
    a classifier, accuracy, per class and confusion; otherwise the errors of the dequantized
    outputs (a "tensors" task without expected values has none, only tensor metrics)."""
    if expected is None:
        return {}
    if kind == "classification":
        return classification(outputs, expected, labels)
    values = dequantized(outputs, output_tensor).reshape(len(outputs), -1)
    expected = np.asarray(expected, np.float32).reshape(len(expected), -1)
    if values.shape != expected.shape:
        from tinyml_pipeline.tools.errors import InputError

        raise InputError(f"the expected values have {expected.shape[1]} numbers per sample, "
                         f"the model outputs {values.shape[1]}")
    return regression(values, expected)
