"""The desktop reference: LiteRT and TFLM agree bit for bit on the committed models, the arena
measurement is tight, and a differing operator is named."""

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools.evaluate import evaluate_model, format_report
from tinyml_pipeline.tools.reference import (
    TFLMRunner,
    _tflm_runs_with,
    first_differing_op,
    measure_tflm_arena,
)
from tinyml_pipeline.tools.tflite_model import TFLiteModel


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_litert_and_tflm_are_bit_identical_on_the_full_test_set(name):
    result = evaluate_model(WORKSPACE, MODELS_DIR / name, progress=False)
    assert result.samples == {"linear": 81, "digits": 10000, "activity": 40}[name]
    assert result.identical == result.samples, format_report(result)
    assert result.max_difference_lsb == 0
    assert result.metrics["litert"] == result.metrics["tflm"]


def test_arena_measurement_is_the_smallest_that_works():
    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    arena = measure_tflm_arena(model)
    assert _tflm_runs_with(model, arena)
    assert not _tflm_runs_with(model, arena - 16)


def test_the_isolated_arena_measurement_agrees_and_survives_a_crashing_probe(monkeypatch):
    """In a worker process, as `tinyml convert` measures: the same figure; and a worker that
    dies on a probe (as TFLM's interpreter does on some too-small arenas) counts as "does not
    run" instead of taking the caller down."""
    import tinyml_pipeline.tools.reference as reference

    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    expected = measure_tflm_arena(model)
    assert measure_tflm_arena(model, isolated=True) == expected
    monkeypatch.setattr(reference._IsolatedProbe, "worker_module",
                        "tests.support.crashing_tflm_probe")
    assert measure_tflm_arena(model, isolated=True) == expected


class _Perturbed:
    """A runner whose output for one tensor is off by one LSB, as a runtime that rounds one op
    differently would be."""

    def __init__(self, runner, tensor_index):
        self.runner, self.tensor_index = runner, tensor_index

    def invoke(self, sample):
        return self.runner.invoke(sample)

    def tensor(self, index):
        value = self.runner.tensor(index)
        if index == self.tensor_index:
            value = value.copy()
            value.flat[0] = value.flat[0] + (1 if value.flat[0] < 127 else -1)
        return value


def test_first_differing_op_names_the_operator():
    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    sample = np.zeros(model.inputs[0].shape[1:], np.int8)
    pool = next(op for op in model.operators if op.name == "MAX_POOL_2D")
    reference = TFLMRunner(model, preserve_all_tensors=True)
    perturbed = _Perturbed(TFLMRunner(model, preserve_all_tensors=True), pool.outputs[0])
    assert first_differing_op(model, sample, 0, reference, reference) is None
    found = first_differing_op(model, sample, 5, reference, perturbed)
    assert (found.op_name, found.op_index, found.max_lsb, found.sample) == (
        "MAX_POOL_2D", pool.index, 1, 5)
