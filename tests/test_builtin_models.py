"""The built-in runtime gives TFLM's bytes on the full test sets of the committed models, and
its static plan needs less RAM than TFLM's arena."""

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools.compiler.host import build_runner, run_builtin
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.reference import TFLMRunner, measure_tflm_arena, run_all


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_builtin_equals_tflm_on_the_full_test_set(name):
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / name)
    inputs = test.inputs
    builtin = run_builtin(build_runner([(name, model)]), name, model, inputs)
    tflm = run_all(TFLMRunner(model), inputs)
    assert len(builtin) == {"linear": 81, "digits": 10000, "activity": 40}[name]
    differing = np.flatnonzero((builtin.reshape(len(builtin), -1) !=
                                tflm.reshape(len(tflm), -1)).any(axis=1))
    assert differing.size == 0, f"{differing.size} samples differ, first {differing[:10]}"


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_plan_needs_less_ram_than_the_tflm_arena(name):
    _, model, _ = load_test_set(WORKSPACE, MODELS_DIR / name, limit=1)
    assert compile_plan(model).arena_bytes < measure_tflm_arena(model)
