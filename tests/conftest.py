"""Shared fixtures. TensorFlow's start-up logging is silenced for readable test output."""

import os
from pathlib import Path

import pytest

from tinyml_pipeline.training.tasks import TASKS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
COMMITTED_MODELS = tuple(TASKS)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
