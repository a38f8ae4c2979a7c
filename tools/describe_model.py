"""`tinyml card`: a model card for an int8 .tflite someone else made, from its test set, so that
convert, validate and bench treat it like a model trained here. `tinyml quantize` writes its
card through the same function."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import testset
from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.card import TASK_KINDS, ModelCard, package_versions, write_card
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.tools.workspace import Workspace, shown

MODEL_FILE, FLOAT_MODEL_FILE = "model.tflite", "model_float.tflite"
MAX_LABELS = 10_000


@dataclass(frozen=True)
class Description:
    """What the user says about a model beyond its .tflite: its test set and task."""

    name: str
    test: Path | None
    labels: list[str] | None = None
    kind: str | None = None  # None: inferred from the labels and the test set
    divide_by: float | None = None  # applied to the stored inputs before quantization
    description: str = ""
    architecture: str = "own model"


def read_labels(path: Path) -> list[str]:
    """One class name per line (blank lines ignored)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{shown(path)} is missing")
    if path.stat().st_size > 1 << 20:
        raise InputError(f"{shown(path)}: over 1 MiB; a labels file holds one name per line")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise InputError(f"{shown(path)}: not UTF-8 text") from None
    names = [name for name in names if name]
    if not names or len(names) > MAX_LABELS:
        raise InputError(f"{shown(path)}: {len(names)} labels; expected 1 to {MAX_LABELS}")
    for number, name in enumerate(names, start=1):
        if len(name.encode("utf-8")) > 255:  # the protocol sends each as a u8-length string
            raise InputError(f"{shown(path)}: label {number} is over 255 UTF-8 bytes")
    return names


def _kind(description: Description, y: np.ndarray | None, outputs: int) -> str:
    if description.kind is not None:
        if description.kind not in TASK_KINDS:
            raise InputError(f"task kind {description.kind!r}; one of {', '.join(TASK_KINDS)}")
        return description.kind
    if description.labels is not None:
        return "classification"
    if y is None:
        return "tensors"
    # Integer labels, one per sample, for a model with several outputs: class indices.
    if y.dtype.kind in "iu" and y.size == len(y) and outputs > 1:
        return "classification"
    return "regression"


def _labels(kind: str, description: Description, y: np.ndarray | None, outputs: int):
    if kind != "classification":
        return None
    labels = description.labels or [str(index) for index in range(outputs)]
    if len(labels) != outputs:
        raise InputError(f"{len(labels)} labels for a model with {outputs} outputs")
    if y is None:
        raise InputError("a classification test set holds the labels as y")
    values = np.asarray(y).reshape(-1)
    if values.dtype.kind not in "iu" or len(values) != len(y):
        raise InputError("a classification test set's y holds one class index per sample")
    if len(values) and (values.min() < 0 or values.max() >= outputs):
        raise InputError(f"class indices in y run from {values.min()} to {values.max()}; the "
                         f"model has {outputs} classes")
    return labels


def _parameters(model: TFLiteModel) -> int:
    return int(sum(np.prod(model.tensor(index).shape, dtype=np.int64)
                   for index in range(model.tensor_count) if model.tensor(index).is_constant))


def build_card(model: TFLiteModel, description: Description, out: Path, workspace: Workspace,
               *, float_model: TFLiteModel | None = None, training: dict | None = None,
               calibration: dict | None = None,
               weight_quantization: dict | None = None) -> ModelCard:
    """The card of `model` (already written as out/model.tflite), scored on its test set by
    LiteRT, int8 and (when given) float."""
    from tinyml_pipeline.tools.compiler.convert import check_name
    from tinyml_pipeline.tools.metrics import task_metrics, tensor_metrics
    from tinyml_pipeline.tools.reference import LiteRTRunner, measure_tflm_arena, run_all
    from tinyml_pipeline.training.evaluation import int8_inputs

    check_name(description.name)
    model.require_integer_io()
    outputs = int(np.prod(model.outputs[0].shape, dtype=np.int64))
    test_entry = {"x": None, "y": None, "count": 0, "transform": {"divide_by": None}}
    scores, kind, labels = {}, description.kind or "tensors", description.labels
    if description.test is not None:
        test_entry = testset.describe(description.test, workspace, out, description.divide_by)
        arrays = testset.load(test_entry, workspace, out,
                              per_sample=testset.sample_size(model.inputs[0].shape))
        kind = _kind(description, arrays.y, outputs)
        labels = _labels(kind, description, arrays.y, outputs)
        x = testset.shaped_for(arrays.x, model.inputs[0].shape, arrays.source)
        int8_outputs = run_all(LiteRTRunner(model), int8_inputs(x, model.inputs[0], None))
        scores["int8"] = task_metrics(kind, labels, int8_outputs, arrays.y, model.outputs[0])
        if float_model is not None:
            float_outputs = run_all(LiteRTRunner(float_model), x)
            scores["float"] = _float_scores(kind, labels, float_outputs, arrays.y)
            from tinyml_pipeline.tools.metrics import dequantized

            scores["int8_vs_float"] = tensor_metrics(
                dequantized(int8_outputs, model.outputs[0]), float_outputs)
    elif kind == "classification" and not labels:
        labels = [str(index) for index in range(outputs)]
    metric = {"classification": "accuracy", "regression": "mean_abs_error",
              "tensors": "rmse"}[kind]
    return ModelCard(
        name=description.name,
        description=description.description or f"{description.name}: an int8 model with its "
                                                "own test set",
        architecture=description.architecture,
        task={"kind": kind, "metric": metric},
        dataset={"name": "own", "test": test_entry["x"]["path"] if test_entry["x"] else None},
        test_set=test_entry,
        labels=labels,
        input=model.inputs[0].describe(),
        output=model.outputs[0].describe(),
        parameters=_parameters(model),
        macs=model.macs(),
        test=scores,
        model={"file": MODEL_FILE, "bytes": model.size, "sha256": model.sha256,
               "ops": model.op_names(), "op_sequence": [op.name for op in model.operators],
               "weight_quantization": weight_quantization or {"as": "given"},
               **({"float_file": FLOAT_MODEL_FILE} if float_model is not None else {})},
        tflm_arena_bytes=measure_tflm_arena(model, isolated=True),
        tflm_arena_note="smallest arena with which tflite_micro's host interpreter (64-bit) "
                        "loads and invokes the model",
        training=training or {},
        calibration=calibration or {},
        versions=package_versions(),
    )


def _float_scores(kind: str, labels, float_outputs: np.ndarray, y) -> dict:
    from tinyml_pipeline.tools import metrics

    if y is None:
        return {}
    if kind == "classification":
        return metrics.classification(float_outputs, y, labels)
    return metrics.regression(float_outputs.reshape(len(y), -1),
                              np.asarray(y, np.float32).reshape(len(y), -1))


def describe_tflite(source: Path, description: Description, out: Path,
                    workspace: Workspace) -> ModelCard:
    """`tinyml card`: copy the int8 (or 16x8) .tflite into `out` as model.tflite and write its
    card."""
    model = TFLiteModel.from_file(source)
    model.require_integer_io()
    out = Path(out)
    card = build_card(model, description, out, workspace,
                      training={"source": shown(source), "sha256": model.sha256})
    out.mkdir(parents=True, exist_ok=True)  # the model and its card only once both are made
    target = out / MODEL_FILE
    if not (target.exists() and target.resolve() == Path(source).resolve()):
        atomic_write_bytes(target, model.data)
    write_card(out, card)
    return card
