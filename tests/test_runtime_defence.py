"""The runtime's defence in depth against plans it should never have been given: a plan is
checked once (tinyml_plan_check) before anything runs, the host batch runner refuses a
zero-sized tensor instead of reading nothing for ever, and `tinyml run` reports a runner's
failure with its reason (its last line of stderr, its exit status or the signal that killed
it), never an empty one.

The plans here are written by hand, not converted, so the runner's checks are tested on their
own, whatever the converter refuses first."""

import shutil
import subprocess
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.compiler import host
from tinyml_pipeline.tools.tflite_model import TFLiteModel

ARENA = 64

# One tiny kernel of the test's own (negates int8 bytes), and plans around it: one sound, the
# others broken in the ways a damaged model or a converter bug would break them.
MODELS_C = r"""
#include <stddef.h>
#include <stdint.h>

#include "tinyml_models.h"

typedef struct {
  uint32_t input, output, bytes;
} negate_params;

static void negate(const void *params, uint8_t *arena) {
  const negate_params *p = (const negate_params *)params;
  uint32_t index;
  for (index = 0; index < p->bytes; ++index) {
    arena[p->output + index] = (uint8_t)(-(int8_t)arena[p->input + index]);
  }
}

#define INFO(NAME, IN_BATCH, IN_BYTES, OUT_BYTES) \
  static const tinyml_model_info NAME##_info = { \
      #NAME, NULL, \
      {TINYML_TYPE_INT8, 2, {IN_BATCH, 4, 0, 0, 0, 0}, IN_BYTES, 1.0f, 0}, \
      {TINYML_TYPE_INT8, 2, {1, 4, 0, 0, 0, 0}, OUT_BYTES, 1.0f, 0}, \
      NULL, 0u, NULL, NULL, 0u, 0.0f}

static const negate_params params = {0u, 16u, 4u};

INFO(sound, 1, 4u, 4u);
static const tinyml_layer sound_layers[1] = {{"NEG", negate, &params, 16u, 4u}};
static const tinyml_plan sound = {&sound_info, sound_layers, 1u, 32u, 0u, 16u};

INFO(zero_batch, 0, 0u, 4u);
static const tinyml_plan zero_batch = {&zero_batch_info, sound_layers, 1u, 32u, 0u, 16u};

/* A layer whose output ends past the plan's arena of 32 bytes. */
INFO(layer_outside, 1, 4u, 4u);
static const tinyml_layer outside_layers[1] = {{"NEG", negate, &params, 30u, 4u}};
static const tinyml_plan layer_outside = {&layer_outside_info, outside_layers, 1u, 32u, 0u, 16u};

/* An output read from past the plan's arena. */
INFO(output_outside, 1, 4u, 4u);
static const tinyml_plan output_outside = {&output_outside_info, sound_layers, 1u, 32u, 0u,
                                           0xFFFFFFFEu};

#if TINYML_MODEL_COUNT == 5
/* A plan asking for more arena than the runner has (which the arena check always refused). */
INFO(arena_too_big, 1, 4u, 4u);
static const tinyml_plan arena_too_big = {&arena_too_big_info, sound_layers, 1u, 1u << 20, 0u,
                                          16u};
#endif

const tinyml_plan *const tinyml_builtin_models[TINYML_MODEL_COUNT] = {
    &sound, &zero_batch, &layer_outside, &output_outside
#if TINYML_MODEL_COUNT == 5
    , &arena_too_big
#endif
};
"""

MODELS_H = """
#ifndef TINYML_GENERATED_TINYML_MODELS_H
#define TINYML_GENERATED_TINYML_MODELS_H
#include "tinyml/model_info.h"
#include "tinyml/runtime.h"
#define TINYML_MODEL_COUNT {count}
#define TINYML_BUILTIN_ARENA_BYTES {arena}u
#define TINYML_TFLM_ARENA_BYTES {arena}u
extern const tinyml_plan *const tinyml_builtin_models[TINYML_MODEL_COUNT];
#endif
"""


def _build(root, count: int):
    models = root / f"models{count}"
    models.mkdir()
    (models / "tinyml_models.h").write_text(MODELS_H.format(count=count, arena=ARENA))
    (models / "models.c").write_text(MODELS_C)
    build = root / f"build{count}"
    for command in (["cmake", "-S", str(REPO_ROOT / "firmware"), "-B", str(build),
                     "-DTINYML_TARGET=host", f"-DTINYML_MODELS_DIR={models}"],
                    ["cmake", "--build", str(build), "-j2", "--target", "tinyml-run",
                     "tinyml-bench"]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("cmake and a C compiler are needed for the host runner")
    return tmp_path_factory.mktemp("defence")


@pytest.fixture(scope="module")
def built(root):
    """All five plans."""
    return _build(root, 5)


@pytest.fixture(scope="module")
def built_without_big_arena(root):
    """The four plans whose arena fits the runner's: what only the new checks refuse."""
    return _build(root, 4)


def _run(built, name: str, data: bytes) -> subprocess.CompletedProcess:
    # A timeout, not a hang, is what the zero-sized input used to give.
    return subprocess.run([str(built / "tinyml-run"), name], input=data, capture_output=True,
                          timeout=20)


def test_a_sound_plan_runs(built):
    result = _run(built, "sound", bytes([1, 2, 0x80, 0xFF]) * 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout == bytes([0xFF, 0xFE, 0x80, 0x01]) * 2


def test_a_zero_sized_input_stops_the_runner(built):
    result = _run(built, "zero_batch", bytes(8))
    assert result.returncode == 2
    assert result.stderr.decode().strip() == \
        "run_model: model zero_batch has a zero-sized input tensor"
    assert result.stdout == b""


@pytest.mark.parametrize("name", ["layer_outside", "output_outside", "arena_too_big"])
def test_a_plan_outside_its_arena_is_refused_before_it_runs(built, name):
    result = _run(built, name, bytes(4))
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"run_model: model {name} has an inconsistent plan")
    assert result.stdout == b""


def test_the_batch_runner_refuses_the_plans_at_start(built_without_big_arena, tmp_path):
    """tinyml-bench (and every port) initializes the backend, which checks each plan once: a
    zero-sized tensor or a layer outside the arena stops it before any sample (a million
    samples of the zero-sized model's 0 bytes, here)."""
    built = built_without_big_arena
    header = b"TMLBAT1\x00" + (1).to_bytes(2, "little") + bytes(2) \
        + (1000000).to_bytes(4, "little") + bytes(4)
    (tmp_path / "batch_inputs.bin").write_bytes(header)
    result = subprocess.run([str(built / "tinyml-bench"), str(tmp_path)], capture_output=True,
                            text=True, timeout=20)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("batch:")
    assert not (tmp_path / "batch_outputs.bin").exists()


@pytest.mark.parametrize("returncode, stderr, reason", [
    (-11, b"", "runner killed by SIGSEGV"),
    (-6, b"==1==ERROR: AddressSanitizer\nSUMMARY: AddressSanitizer: heap-buffer-overflow\n",
     "SUMMARY: AddressSanitizer: heap-buffer-overflow (runner killed by SIGABRT)"),
    (1, b"", "runner exit status 1"),
    (2, b"run_model: no model named x\n\n", "run_model: no model named x (runner exit status 2)"),
])
def test_runner_failure_always_gives_a_reason(returncode, stderr, reason):
    assert host.runner_failure(returncode, stderr) == reason


def _fake_runner(tmp_path, script: str):
    runner = tmp_path / "run_model"
    runner.write_text("#!/bin/sh\n" + script)
    runner.chmod(0o755)
    return runner


LINEAR = REPO_ROOT / "models" / "linear" / "model.tflite"


@pytest.mark.parametrize("script, expected", [
    ("cat >/dev/null; kill -SEGV $$\n", "runner killed by SIGSEGV"),
    ("cat >/dev/null; exit 3\n", "runner exit status 3"),
    ("cat >/dev/null; printf '\\001'\n", "wrote 1 output bytes for 2 samples, not 2")])
def test_tinyml_run_reports_a_runner_failure_with_its_reason(tmp_path, monkeypatch, capsys,
                                                             script, expected):
    runner = _fake_runner(tmp_path, script)
    monkeypatch.setattr(host, "build_runner", lambda *args, **kwargs: runner)
    np.save(tmp_path / "x.npy", np.zeros((2, 1), dtype=np.int8))
    code = main(["run", str(LINEAR), "--inputs", str(tmp_path / "x.npy"), "--out",
                 str(tmp_path / "y.npy"), "--backend", "builtin"])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert len(error.splitlines()) == 1 and expected in error, error
    assert "internal error" not in error
    assert not (tmp_path / "y.npy").exists()


def test_run_builtin_refuses_a_zero_sized_tensor_without_starting_the_runner(tmp_path):
    linear = TFLiteModel.from_file(LINEAR)
    model = SimpleNamespace(inputs=[replace(linear.inputs[0], shape=(0, 1))],
                            outputs=linear.outputs)
    runner = _fake_runner(tmp_path, "touch started\n")
    with pytest.raises(host.RunnerFailed, match="zero-sized input tensor"):
        host.run_builtin(runner, "model", model, np.zeros((0, 1), dtype=np.int8))
    assert not (tmp_path / "started").exists()
