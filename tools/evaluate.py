"""`tinyml evaluate`: a committed or trained model over its whole test set in LiteRT and in
TFLM's host interpreter, with their accuracies and how far their outputs agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.card import load_card
from tinyml_pipeline.tools.reference import (
    LiteRTRunner,
    OpDifference,
    TFLMRunner,
    first_differing_op,
    run_all,
)
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.tools.workspace import Workspace

# How many differing samples are traced op by op to name the operator responsible.
TRACED_SAMPLES = 20


@dataclasses.dataclass
class Evaluation:
    model: str
    dataset: str
    samples: int
    litert_kernels: str
    metrics: dict  # {"litert": {...}, "tflm": {...}}
    identical: int  # samples whose whole output tensor matches bit for bit
    max_difference_lsb: int
    differing_ops: dict  # op name -> {"samples": traced count, "max_lsb": int, "first": {...}}

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TestInputs:
    """A model's test set made ready to run: the float inputs (normalized as the model takes
    them), the int8 tensors the device receives, and the labels or expected values."""

    source: str  # the test file, as the card or --data names it
    raw_x: np.ndarray  # float32, as stored (after the card's divide_by): what sensors give
    x: np.ndarray  # float32 [n, *input shape without batch], normalized as the model takes it
    inputs: np.ndarray  # int8 (int16 for a 16x8 model), same shape
    y: np.ndarray | None


def load_test_set(workspace: Workspace, model_dir: Path, limit: int | None = None,
                  data: Path | None = None):
    """A model directory's card, its int8 (or 16x8: int16 I/O) model and its test set (the
    card's, or the file `data`), as (card, model, TestInputs)."""
    from tinyml_pipeline.tools import testset
    from tinyml_pipeline.training.evaluation import Normalization, int8_inputs

    card = load_card(model_dir)
    model = TFLiteModel.from_file(Path(model_dir) / card.model_file)
    model.require_integer_io()
    arrays = testset.load(card.test_set, workspace, model_dir, data, limit,
                          per_sample=testset.sample_size(model.inputs[0].shape))
    raw_x = testset.shaped_for(arrays.x, model.inputs[0].shape, arrays.source)
    normalization = Normalization.from_card(card)
    x = raw_x if normalization is None else normalization.apply(raw_x)
    inputs = int8_inputs(x, model.inputs[0], None)
    return card, model, TestInputs(arrays.source, raw_x, x, inputs, arrays.y)


def evaluate_model(workspace: Workspace, model_dir: Path, litert_kernels: str = "optimized",
                   limit: int | None = None, progress: bool = True) -> Evaluation:
    from tinyml_pipeline.tools.metrics import task_metrics

    card, model, test = load_test_set(workspace, model_dir, limit)
    inputs = test.inputs

    outputs, metrics = {}, {}
    for runner in (LiteRTRunner(model, kernels=litert_kernels), TFLMRunner(model)):
        bar = _progress(len(inputs), f"{card.name} on {runner.name}", progress)
        outputs[runner.name] = run_all(runner, inputs, bar)
        bar.close()
        metrics[runner.name] = task_metrics(card.kind, card.labels, outputs[runner.name],
                                            test.y, model.outputs[0])

    gap = np.abs(outputs["litert"].astype(np.int32) - outputs["tflm"].astype(np.int32))
    per_sample = gap.reshape(len(gap), -1).max(axis=1)
    differing = np.flatnonzero(per_sample)
    return Evaluation(
        model=str(model_dir), dataset=test.source, samples=len(inputs),
        litert_kernels=litert_kernels, metrics=metrics,
        identical=int(len(inputs) - len(differing)),
        max_difference_lsb=int(per_sample.max()) if len(per_sample) else 0,
        differing_ops=_trace_ops(model, inputs, differing, litert_kernels))


def _trace_ops(model: TFLiteModel, inputs: np.ndarray, differing: np.ndarray,
               litert_kernels: str) -> dict:
    """Name the operator where LiteRT and TFLM first part, on a sample of the differing inputs."""
    found: dict[str, dict] = {}
    if not len(differing):
        return found
    litert = LiteRTRunner(model, preserve_all_tensors=True, kernels=litert_kernels)
    tflm = TFLMRunner(model, preserve_all_tensors=True)
    for index in differing[:TRACED_SAMPLES]:
        difference: OpDifference | None = first_differing_op(model, inputs[index], int(index),
                                                             litert, tflm)
        if difference is None:
            continue
        entry = found.setdefault(difference.op_name, {"samples": 0, "max_lsb": 0,
                                                      "first": dataclasses.asdict(difference)})
        entry["samples"] += 1
        entry["max_lsb"] = max(entry["max_lsb"], difference.max_lsb)
    return found


def _progress(total: int, label: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="sample", disable=not enabled, leave=False,
                mininterval=0.5)


def format_report(result: Evaluation) -> str:
    lines = [f"model {result.model}: {result.samples} test samples of {result.dataset}"]
    for runtime, metrics in result.metrics.items():
        label = "LiteRT" if runtime == "litert" else "TFLM  "
        if runtime == "litert":
            label += f" ({result.litert_kernels} kernels)"
        lines.append(f"  {label:28s} " + _format_metrics(metrics))
    lines.append(f"  bit-identical outputs        {result.identical}/{result.samples}")
    lines.append(f"  largest difference           {result.max_difference_lsb} LSB")
    for op_name, entry in result.differing_ops.items():
        first = entry["first"]
        lines.append(f"  rounds differently: {op_name} (op #{first['op_index']}, output "
                     f"'{first['tensor_name']}'), up to {entry['max_lsb']} LSB, first seen on "
                     f"sample {first['sample']} ({entry['samples']} of the traced samples)")
    return "\n".join(lines)


def _format_metrics(metrics: dict) -> str:
    if not metrics:
        return "no expected outputs in the test set"
    if "accuracy" in metrics:
        return f"accuracy {metrics['accuracy']:.2%} ({metrics['correct']}/{metrics['total']})"
    return (f"mean abs error {metrics['mean_abs_error']:.4f}, "
            f"max abs error {metrics['max_abs_error']:.4f}")
