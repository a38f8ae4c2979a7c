"""Training's determinism settings: fixed thread counts applied before TensorFlow's runtime
starts (or a clear warning or error when they cannot be), and two runs giving the same bytes.

TensorFlow's thread counts can be set once per process, so the checks run in fresh processes."""

import os
import subprocess
import sys
import textwrap

import pytest

from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.training import train


def _environment(**env) -> dict:
    """This process's environment without a thread-count override, plus env."""
    environment = {key: value for key, value in os.environ.items() if key != train.THREADS_ENV}
    return {**environment, "TF_CPP_MIN_LOG_LEVEL": "3", **env}


def _python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=_environment(**env),
                          capture_output=True, text=True, timeout=300)


def test_thread_count_defaults_to_the_committed_models_and_can_be_overridden(monkeypatch):
    monkeypatch.delenv(train.THREADS_ENV, raising=False)
    assert train.train_threads() == (train.TRAIN_THREADS, False) == (2, False)
    monkeypatch.setenv(train.THREADS_ENV, "3")
    assert train.train_threads() == (3, True)
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(train.THREADS_ENV, bad)
        with pytest.raises(TinyMLError, match=train.THREADS_ENV):
            train.train_threads()


@pytest.mark.parametrize("override", [None, "1"])
def test_set_seeds_fixes_the_thread_counts_before_the_runtime_starts(override):
    result = _python("""
        import tensorflow as tf
        from tinyml_pipeline.training.train import set_seeds
        settings = set_seeds(1)
        tf.matmul(tf.ones((64, 64)), tf.ones((64, 64)))  # the runtime runs: the counts stay
        print(settings["intra_op_threads"], settings["inter_op_threads"],
              settings["op_determinism"],
              tf.config.threading.get_intra_op_parallelism_threads(),
              tf.config.threading.get_inter_op_parallelism_threads())
        """, **({train.THREADS_ENV: override} if override else {}))
    assert result.returncode == 0, result.stderr
    threads = override or str(train.TRAIN_THREADS)
    assert result.stdout.split() == [threads, threads, "True", threads, threads]
    assert "warning" not in result.stderr


def test_counts_that_cannot_be_applied_warn_or_fail_clearly():
    result = _python("""
        import tensorflow as tf
        from tinyml_pipeline.tools.errors import TinyMLError
        from tinyml_pipeline.training.train import fix_thread_counts
        tf.config.threading.set_intra_op_parallelism_threads(3)
        tf.config.threading.set_inter_op_parallelism_threads(3)
        tf.ones(1) + 1  # starts the runtime with 3 and 3
        fix_thread_counts(3)  # the counts it runs with: nothing to say
        print("same counts: fine", flush=True)
        fix_thread_counts(2)  # the default cannot be applied: a warning, training goes on
        print("warned", flush=True)
        try:
            fix_thread_counts(2, explicit=True)
        except TinyMLError as error:
            print("error:", error)
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["same counts: fine", "warned"]
    assert result.stderr.count("warning: TensorFlow's runtime was started earlier") == 1
    assert "3 intra-op and 3 inter-op threads" in result.stderr
    assert result.stdout.splitlines()[2].startswith(f"error: {train.THREADS_ENV}=2: ")


@pytest.mark.slow
def test_two_training_runs_give_the_same_bytes(tmp_path):
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        result = subprocess.run(
            [sys.executable, "-m", "tinyml_pipeline.tools.cli", "-q", "train", "activity",
             "--epochs", "3", "--out", str(out)],
            env=_environment(), capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr
        assert "TensorFlow: op determinism on, 2 intra-op and 2 inter-op threads" in result.stderr
        outputs.append((out / "model.tflite").read_bytes())
    assert outputs[0] == outputs[1]
