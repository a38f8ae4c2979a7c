"""The sigmoid table measured from tflite_micro (tools/compiler/sigmoid_table.py): with it, the
int16 LOGISTIC and TANH formulas give TFLM's output for every int16 input, and the solver refuses
outputs that do not pin the table down."""

import numpy as np
import pytest

from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.sigmoid_table import (
    ALL_INT16,
    logistic_int16,
    measured_sigmoid_table,
    run_tflm_int16_activation,
    solve_table,
    tanh_int16,
)


@pytest.mark.parametrize("operator, formula", [("LOGISTIC", logistic_int16),
                                               ("TANH", tanh_int16)])
def test_measured_table_reproduces_tflm(operator, formula):
    expected = run_tflm_int16_activation(operator, ALL_INT16)
    computed = formula(measured_sigmoid_table(), ALL_INT16)
    differ = np.flatnonzero(computed != expected)
    assert differ.size == 0, (f"{differ.size} outputs differ, first at input "
                              f"{int(ALL_INT16[differ[0]])}")
    # The sweep reaches both saturated ends (sigmoid(-8) is 11 in Q0.15).
    assert expected.min() <= (-32000 if operator == "TANH" else 16)
    assert expected.max() >= 32000


def test_measured_table_is_a_sigmoid():
    table = measured_sigmoid_table().astype(np.int64)
    assert table.shape == (256,) and table[0] == 32768
    assert np.all(np.diff(table) >= 0)
    nominal = 65536.0 / (1.0 + np.exp(-np.arange(256) / 24.0))
    assert np.max(np.abs(table - nominal)) < 1.5  # a rounding, give or take one


def test_solver_refuses_contradictory_outputs():
    outputs = run_tflm_int16_activation("TANH", ALL_INT16).astype(np.int64)
    assert np.array_equal(solve_table(ALL_INT16, outputs), measured_sigmoid_table())
    # x = 600: 3x = 1800 = entry 7, ut 8; one step too high cannot fit the other ut of entry 7.
    outputs[np.flatnonzero(ALL_INT16 == 600)] += 1
    with pytest.raises(CompileError, match="entry 8 contradictory"):
        solve_table(ALL_INT16, outputs)


def test_solver_refuses_a_sweep_too_sparse():
    # One small fraction per entry leaves each difference a wide interval.
    inputs = np.array([0] + [(256 * entry + 2) // 3 + 1 for entry in range(255)], np.int16)
    outputs = run_tflm_int16_activation("TANH", inputs)
    with pytest.raises(CompileError, match="undetermined"):
        solve_table(inputs, outputs)
