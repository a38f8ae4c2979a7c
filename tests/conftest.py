"""Shared fixtures. TensorFlow's start-up logging is silenced for readable test output."""

import os
from pathlib import Path

import pytest

from tinyml_pipeline.tools.firmware import Firmware
from tinyml_pipeline.tools.workspace import Workspace
from tinyml_pipeline.training.tasks import TASKS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
# The repository is the tests' workspace: its models, data and firmware/lib/models, builds in
# its build/.
WORKSPACE = Workspace(REPO_ROOT)
FIRMWARE = Firmware(WORKSPACE)
# The host-runner cache is shared by the whole run (and the next one), not per user.
os.environ.setdefault("TINYML_BUILD_CACHE", str(REPO_ROOT / "build" / "host-runner"))
COMMITTED_MODELS = tuple(TASKS)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
