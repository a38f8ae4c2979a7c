"""One training run, end to end: data, fit, int8 export, scoring, card and plots.

Usage (through the CLI): `tinyml train digits --arch cnn --epochs 10 --seed 1`.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import testset
from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.card import ModelCard, package_versions, write_card
from tinyml_pipeline.tools.metrics import confusion_matrix
from tinyml_pipeline.tools.reference import LiteRTRunner, measure_tflm_arena, run_all
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.tools.workspace import Workspace
from tinyml_pipeline.training import architectures, datasets, plots
from tinyml_pipeline.training.evaluation import (
    Normalization,
    classification_metrics,
    int8_inputs,
    output_values,
    regression_metrics,
    score,
)
from tinyml_pipeline.training.quantize import (
    WEIGHT_QUANTIZATION,
    calibration_indices,
    quantization_aware,
    to_float_tflite,
    to_int8_tflite,
)
from tinyml_pipeline.training.tasks import Task
from tinyml_pipeline.training.train import fit, set_seeds

LINEAR_PROBE_X = 10.0


@dataclasses.dataclass
class TrainOptions:
    task: Task
    architecture: str
    dataset: str
    epochs: int
    seed: int
    out: Path
    workspace: Workspace  # where the data sets are, and what the card's paths are relative to
    qat: bool = False
    qat_epochs: int | None = None
    subset: int | None = None  # train on the first N training samples only (smoke runs)
    captures: Path | None = None  # train on recorded IMU data (tinyml capture) instead


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def float_metrics(model, task: Task, data: datasets.Dataset) -> dict:
    predicted = model.predict(data.x_test, batch_size=512, verbose=0)
    if task.is_regression:
        probe = float(model.predict(np.array([[LINEAR_PROBE_X]], np.float32), verbose=0)[0, 0])
        return regression_metrics(predicted, data.y_test, LINEAR_PROBE_X, probe)
    return classification_metrics(predicted, data.y_test)


def int8_metrics(tflite: TFLiteModel, task: Task, data: datasets.Dataset,
                 normalization: Normalization | None) -> tuple[dict, np.ndarray]:
    """Scores of the int8 model on the test set, run by LiteRT as desktop users run it (its
    default kernels). Returns the metrics and the raw int8 outputs."""
    runner = LiteRTRunner(tflite)
    inputs = int8_inputs(data.x_test, tflite.inputs[0], normalization)
    outputs = run_all(runner, inputs)
    metrics = score(outputs, data.y_test, tflite.outputs[0], not task.is_regression)
    if task.is_regression:
        probe_input = int8_inputs(np.array([[LINEAR_PROBE_X]], np.float32), tflite.inputs[0], None)
        probe = float(output_values(runner.invoke(probe_input[0]), tflite.outputs[0])[0])
        metrics[f"f({LINEAR_PROBE_X:g})"] = probe
    return metrics, outputs


def load_data(options: TrainOptions) -> datasets.Dataset:
    """The task's bundled data set, or the recordings under options.captures cut to the task's
    window and checked against its sample rate."""
    if options.captures is None:
        return datasets.load(options.dataset, options.workspace, options.seed)
    from tinyml_pipeline.training.captures import load_captures

    task = options.task
    return load_captures(options.captures, task.sample_rate_hz, task.window_steps,
                         options.workspace)


def train_and_export(options: TrainOptions) -> ModelCard:
    """Train, quantize and score one model; write its files into `options.out`.

    Returns the card. Each file is written atomically and card.json last, so a directory with
    a card always holds the model that card describes.
    """
    task = options.task
    set_seeds(options.seed)
    data = load_data(options)
    if options.subset:
        data = dataclasses.replace(data, x_train=data.x_train[:options.subset],
                                   y_train=data.y_train[:options.subset])
    _log(f"[{task.name}] data set {data.name}: {len(data.x_train)} train, "
         f"{len(data.x_val)} validation, {len(data.x_test)} test")

    raw_test = (data.x_test, data.y_test)  # the card's test set: inputs before normalization
    normalization = None
    if task.normalize_inputs:
        normalization = Normalization.fit(data.x_train)
        pool = data.calibration_pool
        data = dataclasses.replace(data, x_train=normalization.apply(data.x_train),
                                   calibration_pool=None if pool is None
                                   else normalization.apply(pool),
                                   x_val=normalization.apply(data.x_val),
                                   x_test=normalization.apply(data.x_test))

    classes = len(data.labels) if data.labels else None
    model = architectures.BUILDERS[options.architecture](data.x_train.shape[1:], classes)
    started = time.monotonic()
    augment = task.augments(options.architecture)
    history = fit(model, task, data, options.epochs, options.seed, augment, label=task.name)
    float_scores = float_metrics(model, task, data)
    float_tflite_bytes = to_float_tflite(model)
    parameters = int(model.count_params())  # before QAT adds its quantizer variables
    qat_epochs = 0
    if options.qat:
        qat_epochs = options.qat_epochs or max(1, options.epochs // 5)
        _log(f"[{task.name}] quantization-aware fine-tuning for {qat_epochs} epochs")
        model = quantization_aware(model)
        qat_history = fit(model, task, data, qat_epochs, options.seed, augment,
                          learning_rate=task.learning_rate / 10, label=f"{task.name} qat")
        history = {key: history[key] + qat_history.get(key, []) for key in history}
    training_seconds = time.monotonic() - started

    pool = data.calibration_inputs
    calibration = calibration_indices(len(pool), options.seed)
    _log(f"[{task.name}] converting to int8 with {len(calibration)} calibration samples")
    tflite_bytes = to_int8_tflite(model, pool[calibration])
    tflite = TFLiteModel(tflite_bytes, f"{task.name} model")
    tflite.require_int8_io()
    # The test inputs were normalized above already; quantization is all that remains.
    int8_scores, int8_outputs = int8_metrics(tflite, task, data, None)
    arena = measure_tflm_arena(tflite)

    test_set = write_test_set(options.out, data, raw_test, options.workspace)
    card = build_card(options=options, data=data, parameters=parameters, tflite=tflite,
                      normalization=normalization, float_scores=float_scores,
                      int8_scores=int8_scores, history=history,
                      training_seconds=training_seconds, calibration=calibration, arena=arena,
                      qat_epochs=qat_epochs, test_set=test_set)
    write_outputs(options.out, card, tflite_bytes, float_tflite_bytes, history, data,
                  int8_outputs, tflite)
    return card


TEST_X_FILE, TEST_Y_FILE = "test_x.npy", "test_y.npy"


def write_test_set(out: Path, data: datasets.Dataset, raw_test: tuple,
                   workspace: Workspace) -> dict:
    """The card's test set: the workspace file the split already sits in, or test_x.npy and
    test_y.npy written beside the model (inputs as the data set holds them, before any
    normalization; .npy rather than .npz because its bytes depend on nothing but the arrays)."""
    import io

    stored = data.stored_test
    if stored is not None:
        path = stored["path"]
        return {"x": testset.describe_file(path, workspace, stored["x_key"]),
                "y": testset.describe_file(path, workspace, stored["y_key"]),
                "count": int(len(data.x_test)), "transform": {"divide_by": stored["divide_by"]}}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entry = {"count": int(len(data.x_test)), "transform": {"divide_by": None}}
    for name, array in (("x", raw_test[0]), ("y", raw_test[1])):
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        path = out / (TEST_X_FILE if name == "x" else TEST_Y_FILE)
        atomic_write_bytes(path, buffer.getvalue())
        entry[name] = testset.describe_file(path, workspace, None, out)
    return entry


def build_card(*, options: TrainOptions, data: datasets.Dataset, parameters: int,
               tflite: TFLiteModel, normalization: Normalization | None, float_scores: dict,
               int8_scores: dict, history: dict, training_seconds: float,
               calibration: list[int], arena: int, qat_epochs: int,
               test_set: dict) -> ModelCard:
    task = options.task
    input_entry = tflite.inputs[0].describe()
    if normalization is not None:
        input_entry["normalization"] = normalization.describe()
    input_entry["float_input"] = data.notes.get("input_scaling", "as in the data set")
    return ModelCard(
        name=task.name,
        description=task.description,
        architecture=options.architecture,
        task={"kind": task.kind, "metric": "mean_abs_error" if task.is_regression
              else "accuracy"},
        dataset=data.describe(),
        test_set=test_set,
        labels=data.labels,
        input=input_entry,
        output=tflite.outputs[0].describe(),
        parameters=parameters,
        macs=tflite.macs(),
        test={"float": float_scores, "int8": int8_scores},
        model={"file": "model.tflite", "bytes": tflite.size, "sha256": tflite.sha256,
               "ops": tflite.op_names(),
               "op_sequence": [op.name for op in tflite.operators],
               "weight_quantization": WEIGHT_QUANTIZATION, "float_file": FLOAT_MODEL_FILE},
        tflm_arena_bytes=arena,
        tflm_arena_note="smallest arena with which tflite_micro's host interpreter (64-bit) "
                        "loads and invokes the model",
        training={
            "seconds": round(training_seconds, 1), "epochs": options.epochs,
            "training_samples": int(len(data.x_train)),
            "qat": options.qat, "qat_epochs": qat_epochs, "seed": options.seed,
            "batch_size": task.batch_size, "optimizer": task.optimizer,
            "learning_rate": task.learning_rate,
            "augmentation": task.augments(options.architecture),
            "final": {key: values[-1] for key, values in history.items()},
            "machine": f"{platform.machine()}, {_cpu_count()} cores",
        },
        calibration={"source": data.calibration_source, "count": len(calibration),
                     "indices": calibration},
        versions=package_versions(),
    )


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


FLOAT_MODEL_FILE = "model_float.tflite"


def write_outputs(out: Path, card: ModelCard, tflite_bytes: bytes, float_tflite_bytes: bytes,
                  history: dict, data: datasets.Dataset, int8_outputs: np.ndarray,
                  tflite: TFLiteModel) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = card.name
    metric = "mae" if data.labels is None else "accuracy"
    plots.training_curves(history, out / "training.png",
                          f"{name} ({card.architecture}): training vs validation", metric)
    if data.labels is None:
        predicted = output_values(int8_outputs, tflite.outputs[0])
        plots.regression_plot(data.x_test.reshape(-1), data.y_test.reshape(-1),
                              predicted.reshape(-1), out / "prediction.png",
                              f"{name}: int8 model over its input range")
    else:
        predictions = np.argmax(int8_outputs.reshape(len(int8_outputs), -1), axis=1)
        matrix = confusion_matrix(data.y_test, predictions, len(data.labels))
        card.test["int8"]["confusion_matrix"] = matrix.tolist()
        accuracy = card.test["int8"]["accuracy"]
        plots.confusion_plot(matrix, data.labels, out / "confusion.png",
                             f"{name} int8 on {data.name} test: {accuracy:.2%}")
    atomic_write_bytes(out / "model.tflite", tflite_bytes)
    atomic_write_bytes(out / FLOAT_MODEL_FILE, float_tflite_bytes)
    # The card goes last: a directory with a card always has the model the card describes.
    write_card(out, card)

