"""The README's "Your own model" commands, run exactly as written, in a fresh workspace holding
a model of the kind a user brings: a small 1-D CNN trained for a few seconds on generated
signals (tests/support/own_model.py), saved as model.keras with train.npz, test.npz and
labels.txt. The first code block of the section is the emulated one."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.support import own_model

pytestmark = pytest.mark.slow


def readme_commands() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Your own model\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_the_section_is_five_tinyml_commands():
    commands = readme_commands()
    assert len(commands) == 5
    assert all(shlex.split(command)[0] == "tinyml" for command in commands)


def test_the_readme_commands_take_a_keras_model_to_a_validated_qemu_board(tmp_path):
    own_model.build(tmp_path)
    environment = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
                                        f"{os.environ['PATH']}")
    environment.pop("TINYML_WORKSPACE", None)
    for command in readme_commands():
        done = subprocess.run(command, shell=True, cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    card = json.loads((tmp_path / "models/mine/card.json").read_text())
    assert card["task"]["kind"] == "classification"
    assert card["labels"] == list(own_model.CLASSES)
    assert card["test_set"]["count"] == 300
    report = json.loads((tmp_path / "build/validation/mine/report.json").read_text())
    assert report["passed"] and report["validated"] == 300
    assert report["tflm"]["exact"] == 300
    device = report["accuracy"]["device"]
    assert device["accuracy"] > 0.9  # the signals are easy; the float model scores about 99 %
    assert set(device["per_class"]) == set(own_model.CLASSES)
    assert report["tensor_metrics"]["vs_tflm"]["rmse"] == 0.0
    assert report["tensor_metrics"]["vs_float"]["cosine_similarity"] > 0.99
