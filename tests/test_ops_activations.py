"""SOFTMAX, LOGISTIC, TANH, RELU and RELU6 (int8): randomized converter-built models must give
TFLM's bytes through the built-in runtime.

Each op gets BATCHES * PER_BATCH single-op models with random shapes and input ranges (so input
scales and zero points vary widely, saturating ranges included); SOFTMAX models also get a random
beta, written into the converted model because the converter keeps x * beta as a separate MUL.
Elementwise ops are fed every int8 value, so each model is checked over its whole domain."""

import functools
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.support.modelgen import Case, convert_cases
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.host import RUNTIME_DIR, build_runner, run_builtin
from tinyml_pipeline.tools.compiler.ops.activations import (
    input_radius,
    relu6_bounds,
    sigmoid_input_scaling,
    softmax_input_scaling,
)
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.console import native_stderr_silenced
from tinyml_pipeline.tools.reference import TFLMRunner
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 40
OPS = ["SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6"]
FAILURE_DIR = Path(__file__).resolve().parent.parent / "build" / "op-failures"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


# ---- random cases ------------------------------------------------------------------------

def _shape(rng) -> tuple[int, ...]:
    """Batch 1, rank 2 to 4; small axes keep a batch's conversion and build quick."""
    rank = int(rng.integers(2, 5))
    largest = {2: 40, 3: 12, 4: 7}[rank]
    return (1, *(int(rng.integers(1, largest + 1)) for _ in range(rank - 1)))


def _magnitude(rng, low: float, high: float) -> float:
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _input_range(rng, low: float, high: float) -> tuple[float, float]:
    """Mostly ranges around 0 with independent ends; some one-sided ranges."""
    kind = rng.random()
    if kind < 0.15:  # all positive
        start = _magnitude(rng, low, high)
        return start, start + _magnitude(rng, low, high)
    if kind < 0.25:  # all negative
        end = -_magnitude(rng, low, high)
        return end - _magnitude(rng, low, high), end
    return -_magnitude(rng, low, high), _magnitude(rng, low, high)


def _beta(rng) -> float:
    kind = rng.random()
    if kind < 0.2:
        return 1.0
    if kind < 0.3:  # beta * scale beyond 32: TFLM caps the multiplier at 2^31 - 1
        return _magnitude(rng, 200.0, 5000.0)
    return _magnitude(rng, 0.02, 20.0)


def _single_op_case(op: str, rng) -> tuple[Case, float]:
    import tensorflow as tf

    shape = _shape(rng)
    beta = 1.0
    if op == "SOFTMAX":
        beta = _beta(rng)
        low, high = _input_range(rng, 0.05, 60.0)
        build = tf.nn.softmax
    elif op == "LOGISTIC":
        low, high = _input_range(rng, 0.01, 300.0)
        build = tf.sigmoid
    elif op == "TANH":
        low, high = _input_range(rng, 0.01, 300.0)
        build = tf.tanh
    elif op == "RELU":
        low, high = _input_range(rng, 0.02, 50.0)
        build = tf.nn.relu
    else:
        low, high = _input_range(rng, 0.05, 40.0)
        build = tf.nn.relu6
    description = f"{op} {list(shape)} input range [{low:.4g}, {high:.4g}]"
    if op == "SOFTMAX":
        description += f" beta {beta:.4g}"
    return Case(description, shape, build, (low, high)), beta


def _with_softmax_beta(model_bytes: bytes, beta: float) -> bytes:
    """The model with every SOFTMAX's beta option set to `beta`."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    softmax_codes = {index for index, code in enumerate(model.operatorCodes)
                     if max(code.builtinCode, code.deprecatedBuiltinCode)
                     == schema.BuiltinOperator.SOFTMAX}
    for op in model.subgraphs[0].operators:
        if op.opcodeIndex in softmax_codes:
            op.builtinOptions.beta = beta
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


# ---- inputs and comparison ---------------------------------------------------------------

def _inputs(model: TFLiteModel, elementwise: bool, rng) -> np.ndarray:
    """Every int8 value at least once for elementwise ops; for softmax, uniform samples and
    samples clustered near a random value (small differences from the row maximum)."""
    shape = model.inputs[0].shape
    size = int(np.prod(shape))
    if elementwise:
        samples = -(-256 // size)
        values = np.resize(rng.permutation(np.arange(-128, 128)), samples * size)
        return values.astype(np.int8).reshape((samples, *shape))
    uniform = rng.integers(-128, 128, size=(3, *shape))
    peak = rng.integers(-100, 128, size=(3, 1))
    below_peak = rng.integers(0, 1 + rng.integers(1, 30, size=(3, 1)), size=(3, size))
    clustered = np.clip(peak - below_peak, -128, 127).reshape((3, *shape))
    return np.concatenate([uniform, clustered]).astype(np.int8)


def _run_both(runner: Path, name: str, model: TFLiteModel, inputs: np.ndarray):
    builtin = run_builtin(runner, name, model, inputs)
    with native_stderr_silenced():
        tflm = TFLMRunner(model, arena_size="generous")
    expected = np.stack([tflm.invoke(sample[0]).reshape(model.outputs[0].shape)
                         for sample in inputs])
    return builtin, expected


def _compare(runner: Path, named: list[tuple[str, TFLiteModel]], descriptions: list[str],
             elementwise: list[bool], seed: int) -> list[str]:
    """One line per model whose built-in output differs from TFLM's."""
    rng = np.random.default_rng(seed)
    failures = []
    for (name, model), description, pointwise in zip(named, descriptions, elementwise,
                                                     strict=True):
        inputs = _inputs(model, pointwise, rng)
        builtin, expected = _run_both(runner, name, model, inputs)
        if not np.array_equal(builtin, expected):
            failures.append(_report(model, description, seed, name, inputs, builtin, expected))
    return failures


def _report(model, description, seed, name, inputs, builtin, expected) -> str:
    FAILURE_DIR.mkdir(parents=True, exist_ok=True)
    stem = FAILURE_DIR / f"activations_seed{seed}_{name}"
    stem.with_suffix(".tflite").write_bytes(model.data)
    np.save(stem.with_suffix(".npy"), inputs)
    where = np.argwhere(builtin != expected)
    first = tuple(int(i) for i in where[0])
    return (f"{description} [seed {seed}, {name}, ops {model.op_names()}]: {len(where)} of "
            f"{expected.size} bytes differ, first at {first}: input {int(inputs[first])}, "
            f"builtin {int(builtin[first])} vs tflm {int(expected[first])}; saved as "
            f"{stem}.tflite / .npy")


def _models(cases: list[Case], seed: int, betas: list[float]) -> list[TFLiteModel]:
    converted = convert_cases(cases, seed)
    return [TFLiteModel(_with_softmax_beta(data, beta) if beta != 1.0 else data,
                        f"seed {seed} case {index}")
            for index, (data, beta) in enumerate(zip(converted, betas, strict=True))]


# ---- randomized single-op models ---------------------------------------------------------

@dataclass
class Batch:
    """One batch's models for every op, converted together and built into one host runner
    (a host build has a fixed cost of over a second, so one per batch, not per op)."""

    named: dict[str, list[tuple[str, TFLiteModel]]]  # op -> runner names and models
    cases: dict[str, list[Case]]
    betas: dict[str, list[float]]

    def runner(self) -> Path:
        """Built on first use; build_runner's cache makes later calls cheap."""
        return build_runner([entry for op in OPS for entry in self.named[op]])


@functools.cache
def _batch(batch: int) -> Batch:
    cases, betas = {}, {}
    for op in OPS:
        rng = np.random.default_rng(7000 + 100 * OPS.index(op) + batch)
        drawn = [_single_op_case(op, rng) for _ in range(PER_BATCH)]
        cases[op], betas[op] = [case for case, _ in drawn], [beta for _, beta in drawn]
    everything = [case for op in OPS for case in cases[op]]
    models = iter(_models(everything, 7000 + batch, [b for op in OPS for b in betas[op]]))
    named = {op: [(f"{op.lower()}{index}", next(models)) for index in range(PER_BATCH)]
             for op in OPS}
    return Batch(named, cases, betas)


@pytest.mark.parametrize("batch", range(BATCHES))
@pytest.mark.parametrize("op", OPS)
def test_single_op_models_match_tflm(op, batch):
    found = _batch(batch)
    cases, named = found.cases[op], found.named[op]
    for (_, model), case in zip(named, cases, strict=True):  # the op really is there, alone
        assert model.op_names() == [op], f"{case.description}: converter gave " \
                                         f"{model.op_names()}"
    if op == "SOFTMAX":
        assert [model.operators[0].options.beta for _, model in named] == \
            pytest.approx(found.betas[op], rel=1e-6)
    failures = _compare(found.runner(), named, [c.description for c in cases],
                        [op != "SOFTMAX"] * len(cases), 7000 + 100 * OPS.index(op) + batch)
    print("\n".join(failures))
    assert not failures, f"{len(failures)} of {len(cases)} {op} models differ from TFLM"


# ---- small multi-op models ---------------------------------------------------------------

def _multi_op_cases(rng) -> list[tuple[Case, list[str], bool]]:
    """(case, expected op list, elementwise) for the ops in context: after FULLY_CONNECTED and
    CONV_2D, before FULLY_CONNECTED, chained, and softmax after a reshape."""
    import tensorflow as tf

    def dense(n, m):
        weights = rng.normal(size=(n, m)).astype(np.float32)
        bias = rng.normal(size=(m,)).astype(np.float32)
        return lambda x: tf.matmul(x, weights) + bias

    def conv(c_in, c_out):
        weights = rng.normal(size=(3, 3, c_in, c_out)).astype(np.float32)
        return lambda x: tf.nn.conv2d(x, weights, 1, "SAME")

    cases = []
    for _ in range(4):
        n, m = int(rng.integers(2, 30)), int(rng.integers(2, 12))
        fc = dense(n, m)
        after = dense(n, m)
        span = (-_magnitude(rng, 0.1, 10), _magnitude(rng, 0.1, 10))
        cases += [
            (Case(f"FC {n}->{m} + SOFTMAX", (1, n), lambda x, f=fc: tf.nn.softmax(f(x)), span),
             ["FULLY_CONNECTED", "SOFTMAX"], False),
            (Case(f"FC {n}->{m} + LOGISTIC", (1, n), lambda x, f=fc: tf.sigmoid(f(x)), span),
             ["FULLY_CONNECTED", "LOGISTIC"], False),
            (Case(f"FC {n}->{m} + TANH", (1, n), lambda x, f=fc: tf.tanh(f(x)), span),
             ["FULLY_CONNECTED", "TANH"], False),
            (Case(f"RELU + FC {n}->{m}", (1, n), lambda x, f=after: f(tf.nn.relu(x)), span),
             ["RELU", "FULLY_CONNECTED"], False),
            (Case(f"RELU6 + FC {n}->{m}", (1, n), lambda x, f=after: f(tf.nn.relu6(x)), span),
             ["RELU6", "FULLY_CONNECTED"], False),
            (Case(f"TANH + LOGISTIC {n}", (1, n), lambda x: tf.sigmoid(tf.tanh(x)), span),
             ["TANH", "LOGISTIC"], True),
        ]
        h, w, c_in, c_out = (int(rng.integers(2, 7)) for _ in range(4))
        convolution = conv(c_in, c_out)
        cases += [
            (Case(f"CONV {h}x{w}x{c_in}->{c_out} + SOFTMAX over channels", (1, h, w, c_in),
                  lambda x, f=convolution: tf.nn.softmax(f(x)), span),
             ["CONV_2D", "SOFTMAX"], False),
            (Case(f"RESHAPE {h}x{w}x{c_in} + SOFTMAX", (1, h, w, c_in),
                  lambda x, s=h * w * c_in: tf.nn.softmax(tf.reshape(x, (1, s))), span),
             ["RESHAPE", "SOFTMAX"], False),
        ]
    return cases


def test_multi_op_models_match_tflm():
    seed = 7900
    entries = _multi_op_cases(np.random.default_rng(seed))
    cases = [case for case, _, _ in entries]
    models = _models(cases, seed, [1.0] * len(cases))
    for model, (case, ops, _) in zip(models, entries, strict=True):
        assert model.op_names() == ops, f"{case.description}: converter gave {model.op_names()}"
    named = [(f"multi{index}", model) for index, model in enumerate(models)]
    failures = _compare(build_runner(named), named, [c.description for c in cases],
                        [e for _, _, e in entries], seed)
    print("\n".join(failures))
    assert not failures, f"{len(failures)} of {len(cases)} multi-op models differ from TFLM"


# ---- prepare-time arithmetic -------------------------------------------------------------

def test_prepare_values_follow_tflm_edge_cases():
    # CalculateInputRadius: floor(15 * 2^27 / 2^shift) for logistic/tanh, 31 * 2^26 for softmax.
    assert input_radius(4, 21) == 960 and input_radius(4, 31) == 0
    assert input_radius(5, 31) == 0 and input_radius(5, 20) == 1984
    # Logistic/tanh: the significand of scale * 2^27 straight from frexp.
    assert sigmoid_input_scaling(1.0 / 256) == (1 << 30, 20, 1920)
    # Softmax with a huge beta: the multiplier is capped at 2^31 - 1 and only the maximum counts.
    assert softmax_input_scaling(1000.0, 0.5) == ((1 << 31) - 1, 31, 0)
    assert softmax_input_scaling(1e-9, 1e-3) is None  # TFLM's Prepare would abort
    # RELU6: 6.0 in the input's quantization, clamped to int8.
    assert relu6_bounds(0.05, -10) == (-10, 110) and relu6_bounds(0.01, 0) == (0, 127)


# ---- what the built-in runtime refuses ---------------------------------------------------

def _with_first_output(model_bytes: bytes, change) -> TFLiteModel:
    """The model after change(tensor, schema) on the first operator's output tensor."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    graph = model.subgraphs[0]
    change(graph.tensors[int(graph.operators[0].outputs[0])], schema)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return TFLiteModel(bytes(builder.Output()), "edited model")


@pytest.fixture(scope="module")
def op_then_fc_models():
    """OP -> FULLY_CONNECTED for each op, so the op's output is an inner tensor."""
    import tensorflow as tf

    weights = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
    builders = {"SOFTMAX": tf.nn.softmax, "LOGISTIC": tf.sigmoid, "TANH": tf.tanh,
                "RELU": tf.nn.relu, "RELU6": tf.nn.relu6}
    cases = [Case(op, (1, 6), lambda x, b=builders[op]: tf.matmul(b(x), weights), (-4.0, 4.0))
             for op in OPS]
    return dict(zip(OPS, convert_cases(cases, 11), strict=True))


@pytest.mark.parametrize("op", OPS)
def test_non_int8_output_is_refused_with_the_op_named(op, op_then_fc_models):
    def to_int16(tensor, schema):
        tensor.type = schema.TensorType.INT16

    model = _with_first_output(op_then_fc_models[op], to_int16)
    assert model.operators[0].name == op
    with pytest.raises(CompileError) as error:
        compile_plan(model)
    message = str(error.value)
    assert f"op #0 {op}" in message and "int16" in message and "int8" in message
    assert "\n" not in message


@pytest.mark.parametrize("op", ["SOFTMAX", "LOGISTIC"])
def test_output_zero_point_tflm_rejects_is_refused(op, op_then_fc_models):
    def zero_point_0(tensor, schema):
        tensor.quantization.zeroPoint = [0]

    with pytest.raises(CompileError, match="-128"):
        compile_plan(_with_first_output(op_then_fc_models[op], zero_point_0))


# ---- the fixed-point helpers against gemmlowp itself -------------------------------------

HARNESS = r"""
#include <cstdint>
#include <cstdio>
#include "fixedpoint/fixedpoint.h"
#include "tinyml/fixedpoint_nonlinear.h"
using namespace gemmlowp;
static long bad = 0;
static void check(const char *what, int32_t x, int32_t expected, int32_t got) {
  if (expected != got && bad++ < 5) {
    printf("%s(%d): gemmlowp %d, tinyml %d\n", what, x, expected, got);
  }
}
int main() {
  for (int64_t v = -(int64_t(1) << 31); v <= 0; v += 4099) {
    const int32_t x = (int32_t)v;
    check("exp Q4", x, exp_on_negative_values(FixedPoint<int32_t, 4>::FromRaw(x)).raw(),
          tinyml_exp_on_negative_values(x, 4));
    check("exp Q5", x, exp_on_negative_values(FixedPoint<int32_t, 5>::FromRaw(x)).raw(),
          tinyml_exp_on_negative_values(x, 5));
    check("exp Q7", x, exp_on_negative_values(FixedPoint<int32_t, 7>::FromRaw(x)).raw(),
          tinyml_exp_on_negative_values(x, 7));
  }
  for (int64_t v = 0; v <= INT32_MAX; v += 4093) {
    const int32_t x = (int32_t)v;
    check("1/(1+x)", x, one_over_one_plus_x_for_x_in_0_1(FixedPoint<int32_t, 0>::FromRaw(x)).raw(),
          tinyml_one_over_one_plus_x(x));
    check("(1-x)/(1+x)", x,
          one_minus_x_over_one_plus_x_for_x_in_0_1(FixedPoint<int32_t, 0>::FromRaw(x)).raw(),
          tinyml_one_minus_x_over_one_plus_x(x));
  }
  for (int64_t v = -(int64_t(16) << 27); v < (int64_t(16) << 27); v += 1021) {
    const int32_t x = (int32_t)v;
    check("logistic", x, logistic(FixedPoint<int32_t, 4>::FromRaw(x)).raw(),
          tinyml_logistic_fixed(x, 4));
    check("tanh", x, gemmlowp::tanh(FixedPoint<int32_t, 4>::FromRaw(x)).raw(),
          tinyml_tanh_fixed(x, 4));
  }
  printf("mismatches %ld\n", bad);
  return bad != 0;
}
"""


def _gemmlowp_include() -> Path | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    path = Path(tf.sysconfig.get_include()) / "external" / "gemmlowp"
    return path if (path / "fixedpoint" / "fixedpoint.h").exists() else None


def test_fixed_point_helpers_equal_gemmlowp(tmp_path):
    include = _gemmlowp_include()
    cxx = shutil.which("g++") or shutil.which("c++")
    if include is None or cxx is None:
        pytest.skip("needs gemmlowp's fixedpoint.h (shipped in the tensorflow wheel) and g++")
    source = tmp_path / "harness.cc"
    source.write_text(HARNESS)
    build = subprocess.run([cxx, "-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror",
                            f"-I{include}", f"-I{RUNTIME_DIR / 'include'}", str(source), "-o",
                            str(tmp_path / "harness")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "harness")], capture_output=True, text=True)
    print(run.stdout)
    assert run.returncode == 0, run.stdout
