"""Models the board's pinned TFLite Micro computes with other bytes or cannot run (per-channel
dense weights, int8 MEAN, grouped CONV_2D, rank-5 broadcasting ADD/MUL; 16x8 convolutions
without a bias, int32 biases of 16x8 layers, an int16 softmax over one value) are refused at compile
time for the TFLM backend, with the model, the op and the fix named, while the built-in build
takes them; `tinyml convert` warns. The export that `tinyml train` uses writes per-tensor dense
weights, so the committed models are not refused."""

import subprocess

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR
from tests.support.modelgen import Case, convert_cases
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.compiler.host import CORE_INCLUDES
from tinyml_pipeline.tools.compiler.tflm_compat import pinned_tflm_incompatibilities
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.training.quantize import to_int8_tflite


def _dense_and_mean_model():
    """Conv -> global average (MEAN) -> two dense layers: every op the pinned TFLM gets wrong."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    inputs = keras.layers.Input((6, 6, 2))
    hidden = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    hidden = keras.layers.GlobalAveragePooling2D()(hidden)
    hidden = keras.layers.Dense(8, activation="relu")(hidden)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    model = _dense_and_mean_model()
    calibration = np.random.default_rng(0).uniform(-1, 1, (16, 6, 6, 2)).astype(np.float32)
    directory = tmp_path_factory.mktemp("exports")
    paths = {}
    for per_tensor in (False, True):
        path = directory / f"{'per_tensor' if per_tensor else 'per_channel'}.tflite"
        path.write_bytes(to_int8_tflite(model, calibration, per_tensor_dense=per_tensor))
        paths[per_tensor] = path
    return paths


def _dense_filter_scales(model: TFLiteModel) -> list[int]:
    return [len(set(model.tensor(op.inputs[1]).scales)) for op in model.operators
            if op.name == "FULLY_CONNECTED"]


def test_per_channel_dense_and_int8_mean_are_found(exports):
    model = TFLiteModel.from_file(exports[False])
    assert _dense_filter_scales(model) == [8, 3]
    found = [(p.op_name, p.op_index) for p in pinned_tflm_incompatibilities(model)]
    by_op = {op.index: op.name for op in model.operators}
    assert [name for name, _ in found] == ["MEAN", "FULLY_CONNECTED", "FULLY_CONNECTED"]
    assert all(by_op[index] == name for name, index in found)


def test_the_training_export_makes_dense_weights_per_tensor(exports):
    model = TFLiteModel.from_file(exports[True])
    assert _dense_filter_scales(model) == [1, 1]
    assert [p.op_name for p in pinned_tflm_incompatibilities(model)] == ["MEAN"]


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_the_committed_models_run_exactly_on_the_boards_tflm(name):
    model = TFLiteModel.from_file(MODELS_DIR / name / "model.tflite")
    assert pinned_tflm_incompatibilities(model) == []


def _compile(source, directory, *flags) -> subprocess.CompletedProcess:
    return subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", *flags, *CORE_INCLUDES,
                           f"-I{directory}", "-c", str(source), "-o", str(directory / "x.o")],
                          capture_output=True, text=True)


def test_convert_warns_and_the_tflm_build_refuses_with_the_op_and_the_fix(exports, tmp_path,
                                                                          capsys):
    out = tmp_path / "generated"
    assert main(["convert", str(exports[False]), "--name", "mine", "--out", str(out)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("warning:")]
    assert len(warnings) == 3
    assert "model 'mine' op #" in warnings[0] and "MEAN" in warnings[0]
    assert "per-channel weights" in warnings[1] and "nano33ble_builtin" in warnings[1]

    for source in sorted(out.glob("*.c")):
        built_in = _compile(source, out)
        assert built_in.returncode == 0, built_in.stderr
    tflm = _compile(out / "mine_model_data.c", out, "-DTINYML_BACKEND_TFLM")
    assert tflm.returncode != 0
    errors = [line for line in tflm.stderr.splitlines() if "error: #error" in line]
    assert len(errors) == 3, tflm.stderr
    assert "model 'mine' op #" in errors[1] and "FULLY_CONNECTED" in errors[1]
    assert "first channel's scale" in errors[1] and "per-tensor" in errors[1]


def test_a_model_the_boards_tflm_computes_exactly_converts_without_warning(tmp_path, capsys):
    out = tmp_path / "generated"
    assert main(["convert", str(MODELS_DIR / "digits" / "model.tflite"), "--out",
                 str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    tflm = _compile(out / "digits_model_data.c", out, "-DTINYML_BACKEND_TFLM")
    assert tflm.returncode == 0, tflm.stderr


def _conv_and_broadcast_cases() -> list[Case]:
    import tensorflow as tf

    rng = np.random.default_rng(11)
    grouped = rng.normal(size=(3, 3, 2, 4), scale=0.5).astype(np.float32)  # 4 channels, 2 groups
    plain = rng.normal(size=(3, 3, 4, 4), scale=0.5).astype(np.float32)
    row = rng.uniform(-1, 1, size=(1, 1, 1, 1, 3)).astype(np.float32)

    def conv(weights):
        return lambda x: tf.nn.conv2d(x, weights, strides=1, padding="VALID")

    return [Case("grouped conv", (1, 6, 6, 4), conv(grouped)),
            Case("plain conv", (1, 6, 6, 4), conv(plain)),
            Case("rank-5 broadcast add", (1, 2, 2, 2, 3), lambda x: x + row),
            Case("rank-5 broadcast mul", (1, 2, 2, 2, 3), lambda x: x * row),
            Case("rank-5 add of equal shapes", (1, 2, 2, 2, 3), lambda x: x + x * 0.5),
            Case("rank-4 broadcast add", (1, 2, 2, 3), lambda x: x + row[0])]


def test_grouped_convolutions_and_rank5_broadcasts_are_found():
    models = [TFLiteModel(data) for data in convert_cases(_conv_and_broadcast_cases(), seed=4)]
    found = [[p.op_name for p in pinned_tflm_incompatibilities(model)] for model in models]
    grouped, plain, add5, mul5, equal5, add4 = found
    assert grouped == ["CONV_2D"] and plain == []
    assert add5 == ["ADD"] and mul5 == ["MUL"]
    assert "ADD" not in equal5 and "ADD" not in add4  # same shapes, or rank 4: exact there
    reasons = {p.op_name: p.reason for p in pinned_tflm_incompatibilities(models[0])}
    assert "grouped convolution" in reasons["CONV_2D"]


def test_every_op_the_runtime_runs_has_a_resolver_method_the_standin_declares():
    """convert writes a TFLM op resolver for every model; an op without a MicroMutableOpResolver
    method would stop the board's build. The stand-in header declares the methods the pinned
    library has (each checked there by hand when added)."""
    import re
    from pathlib import Path

    from tinyml_pipeline.tools.compiler.emit.resolver import RESOLVER_METHODS
    from tinyml_pipeline.tools.compiler.ops import supported_ops

    header = (Path(__file__).parent / "support" / "tflm_standin" / "tensorflow" / "lite" /
              "micro" / "micro_mutable_op_resolver.h").read_text()
    declared = set(re.findall(r"TfLiteStatus (Add\w+)\(\)", header))
    assert set(supported_ops()) <= set(RESOLVER_METHODS)
    assert set(RESOLVER_METHODS.values()) <= declared


def test_16x8_layers_the_boards_tflm_gets_wrong_are_found():
    """Run beside the repository on QEMU (docs/compiler.md), the pinned library fails in
    AllocateTensors on a 16x8 CONV_2D or DEPTHWISE_CONV_2D without a bias, reads the int32 bias
    of a 16x8 CONV_2D or FULLY_CONNECTED as int64, and gets an int16 softmax over one value
    wrong. Among randomized 16x8 models the rule names exactly those (a per-channel dense layer
    or a grouped convolution is named for that first), and nothing in the others."""
    from tests.test_ops_int16 import _every_op_sample

    built = _every_op_sample(np.random.default_rng(1613), 12)
    named = {"no bias": 0, "int32 bias": 0, "softmax": 0}
    for text, data in built:
        model = TFLiteModel(data, text)
        found = [p.reason for p in pinned_tflm_incompatibilities(model)]
        op = model.operators[-1]
        if any("per-channel" in reason or "grouped" in reason for reason in found):
            continue
        expected = []
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and "bias none" in text:
            expected = ["a 16x8 convolution without a bias fails in AllocateTensors"]
            key = "no bias"
        elif op.name in ("CONV_2D", "FULLY_CONNECTED") and "bias int32" in text:
            expected, key = ["an int32 bias of a 16x8 layer is read as int64"], "int32 bias"
        elif op.name == "SOFTMAX" and model.tensor(op.inputs[0]).shape[-1] == 1:
            expected = ["an int16 softmax over one value gives -32768 instead of 32767"]
            key = "softmax"
        assert found == expected, text
        if expected:
            named[key] += 1
    assert all(count >= 2 for count in named.values()), named
