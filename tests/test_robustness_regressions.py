"""The corrupted models of issue 15 (tests/robustness/README.md): `tinyml convert` refuses each
with one error line and exit 2 and writes nothing; none ends in an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tinyml_pipeline.tools.cli import main

REPRODUCERS = sorted((REPO_ROOT / "tests" / "robustness" / "models").glob("*.tflite"))
# Damage only to a tensor's name, which is read with the bad byte replaced: a valid model.
ACCEPTED = {"02_UnicodeDecodeError_tools.tflite_model.py_122.tflite"}


def test_the_set_is_all_there():
    assert len(REPRODUCERS) == 37


@pytest.mark.parametrize("path", [p for p in REPRODUCERS if p.name not in ACCEPTED],
                         ids=lambda p: p.name.split("_")[0])
def test_convert_refuses_the_corrupted_model(path: Path, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["convert", str(path), "--name", "repro", "--out", str(out)])
    error = capsys.readouterr().err.strip()
    assert code == 2, error
    assert error.startswith("tinyml: error: ") and "\n" not in error, error
    assert "internal error" not in error and "Traceback" not in error, error
    assert path.name in error  # the message says which model
    assert not out.exists() or not any(out.iterdir())


def test_a_damaged_tensor_name_is_replaced_not_fatal(tmp_path, capsys):
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    path = REPO_ROOT / "tests" / "robustness" / "models" / next(iter(ACCEPTED))
    names = [TFLiteModel.from_file(path).tensor(i).name for i in range(4)]
    assert "linear/neu\ufffdon/MatMul" in names
    assert main(["convert", str(path), "--name", "damaged", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "damaged_plan.c").is_file()
