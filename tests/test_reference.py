"""The desktop reference: LiteRT and TFLM agree bit for bit on the committed models, the arena
measurement is tight, a differing operator is named, and each invoke starts from the model's
initial state."""

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR, WORKSPACE
from tests.test_ops_lstm import lstm_model
from tinyml_pipeline.tools.evaluate import evaluate_model, format_report
from tinyml_pipeline.tools.reference import (
    LiteRTRunner,
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


@pytest.mark.parametrize("runner_class", [TFLMRunner, LiteRTRunner])
def test_runners_reset_variable_tensors_before_each_invoke(runner_class):
    """An LSTM's state is reset per invoke: a sample gives the same output after another sample
    as first. The control run without the reset shows the state would otherwise carry over."""
    rng = np.random.default_rng(21)
    model = TFLiteModel(lstm_model(rng, 8, 4, 6, intermediates=True), "stateful")
    assert model.has_variable_tensors
    first, second = rng.integers(-128, 128, size=(2, *model.inputs[0].shape[1:]), dtype=np.int8)
    outputs = {}
    for reset in (True, False):
        runner = runner_class(model)
        runner._stateful = reset  # the control: a runner that does not reset
        outputs[reset] = [np.array(runner.invoke(sample), copy=True)
                          for sample in (first, second, first)]
    assert np.array_equal(outputs[True][0], outputs[True][2])
    assert np.array_equal(outputs[False][0], outputs[True][0])  # the same initial state
    assert not np.array_equal(outputs[False][2], outputs[False][0])
