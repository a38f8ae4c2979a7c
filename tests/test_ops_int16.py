"""16x8 models (int16 activations, int8 weights) and int16 model inputs and outputs: randomized
schema-built models (every quantization TFLM's Prepare accepts) and converter-built networks (the
quantizations a training run gives) must give TFLM's bytes through the built-in runtime, on the
host (also under ASan and UBSan) and on the QEMU Cortex-M4 image; a 16x8 Keras model validates
exactly end to end; an int16 form the runtime does not compute is refused in one line, never
computed wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.modelgen import _schema
from tests.support.opbuild import (
    Operand,
    PerChannel,
    Quantization,
    broadcast_pair,
    single_op_model,
    unary_chain_model,
)
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.tflite_model import TFLiteModel

MODELS_PER_OP = 210


def _shape(rng, max_rank: int = 4, largest: int = 6) -> tuple[int, ...]:
    rank = int(rng.integers(1, max_rank + 1))
    return tuple([1] + [int(rng.integers(1, largest + 1)) for _ in range(rank - 1)])


def _scale(rng, low: float = 1e-4, high: float = 1.0) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(low), np.log(high)))))


def _quantization(rng, type_name: str) -> Quantization | None:
    """int8: any zero point; int16: 0, as 16x8 quantization and the model's I/O require."""
    if type_name == "FLOAT32":
        return None
    zero_point = int(rng.integers(-128, 128)) if type_name == "INT8" else 0
    return Quantization(_scale(rng), zero_point)


# QUANTIZE and DEQUANTIZE with an int16 side, as chains whose float32 middle is no model I/O.
_QUANTIZE_CHAINS = [
    (["QUANTIZE"], ["INT8", "INT16"]),
    (["QUANTIZE"], ["INT16", "INT8"]),
    (["QUANTIZE"], ["INT16", "INT16"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT16", "FLOAT32", "INT16"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT16", "FLOAT32", "INT8"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT8", "FLOAT32", "INT16"]),
]


def _check(built: list[tuple[str, bytes]], seed: int, samples: int = 4) -> None:
    models = [TFLiteModel(data, text) for text, data in built]
    failures = compare_models(models, [text for text, _ in built], seed, samples)
    assert not failures, "\n".join(failures)


def test_quantize_dequantize_int16_match_tflm():
    """Twice the models per op: half of the chains hold a DEQUANTIZE, all a QUANTIZE."""
    rng = np.random.default_rng(1601)
    built = []
    for index in range(2 * MODELS_PER_OP):
        ops, types = _QUANTIZE_CHAINS[index % len(_QUANTIZE_CHAINS)]
        shape = _shape(rng)
        tensors = [(t, _quantization(rng, t)) for t in types]
        text = " -> ".join(f"{t.lower()}{'' if q is None else f' ({q.scale:.3g}, {q.zero_point})'}"
                           for t, q in tensors)
        built.append((f"{'+'.join(ops)} {shape}: {text}",
                      unary_chain_model(shape, ops, tensors)))
    _check(built, seed=1601)


# --- CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED 16x8 ------------------------------------------

def _weights_and_scales(rng, shape: tuple[int, ...], channels: int, axis: int):
    """int8 weights (sometimes sparse or saturated) and per-channel or per-tensor scales."""
    weights = rng.integers(-127, 128, size=shape).astype(np.int8)
    if rng.random() < 0.2:
        weights[rng.random(size=shape) < 0.6] = 0
    if rng.random() < 0.1:
        weights = np.where(weights >= 0, 127, -127).astype(np.int8)
    if rng.random() < 0.7:
        scales = tuple(_scale(rng, 1e-3, 0.1) for _ in range(channels))
        return weights, PerChannel(scales, axis), scales
    scale = _scale(rng, 1e-3, 0.1)
    return weights, Quantization(scale, 0), (scale,) * channels


def _bias(rng, kind: str, channels: int, input_scale: float, filter_scales, typical: float):
    """An int64 or int32 bias operand of `typical` magnitude (None: no bias)."""
    if kind == "none":
        return None
    values = np.round(rng.normal(scale=typical, size=channels))
    if kind == "int64" and rng.random() < 0.2:
        values *= 2.0 ** int(rng.integers(4, 16))  # beyond int32: the int64 accumulator matters
    dtype, bound = ("INT64", 2.0 ** 40) if kind == "int64" else ("INT32", 2.0 ** 24)
    values = np.clip(values, -bound, bound).astype(np.int64)
    scales = tuple(float(np.float32(input_scale * s)) for s in filter_scales)
    return Operand((channels,), PerChannel(scales, 0), values, dtype=dtype)


def _output_scale(rng, input_scale: float, filter_scales, taps: int) -> float:
    """Around the accumulator's spread, so that outputs range from small to saturated."""
    spread = 16384 * 64 * np.sqrt(taps) * input_scale * float(np.mean(filter_scales)) / 16384
    return float(np.float32(spread * np.exp(rng.uniform(np.log(0.05), np.log(8.0)))))


def _bias_kind(rng, op: str) -> str:
    kinds = ["int64", "int64", "none"] + ([] if op == "DEPTHWISE_CONV_2D" else ["int32"])
    return str(rng.choice(kinds))


def _conv_case(rng, op: str) -> tuple[str, bytes]:
    schema = _schema()
    in_h, in_w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    filter_h = int(rng.integers(1, min(in_h, 3) + 1))
    filter_w = int(rng.integers(1, min(in_w, 3) + 1))
    stride_h, stride_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    dilation_h = int(rng.choice([1, 1, 2])) if in_h >= 2 * filter_h else 1
    dilation_w = int(rng.choice([1, 1, 2])) if in_w >= 2 * filter_w else 1
    padding = int(rng.integers(0, 2))  # SAME, VALID
    activation = int(rng.choice([0, 0, 1, 2, 3]))
    input_q = Quantization(_scale(rng, 1e-4, 1e-2), 0)
    if op == "CONV_2D":
        filter_c = int(rng.integers(1, 7))
        groups = int(rng.choice([1, 1, 1, 2]))
        in_c, out_c = filter_c * groups, groups * int(rng.integers(1, 6))
        weights, filter_q, filter_scales = _weights_and_scales(
            rng, (out_c, filter_h, filter_w, filter_c), out_c, 0)
        options = schema.Conv2DOptionsT()
        taps = filter_h * filter_w * filter_c
        shape_text = f"groups {groups}, filter {list(weights.shape)}"
    else:
        in_c = int(rng.integers(1, 7))
        multiplier = int(rng.choice([1, 1, 2, 3]))
        out_c = in_c * multiplier
        weights, filter_q, filter_scales = _weights_and_scales(
            rng, (1, filter_h, filter_w, out_c), out_c, 3)
        options = schema.DepthwiseConv2DOptionsT()
        options.depthMultiplier = multiplier
        taps = filter_h * filter_w
        shape_text = f"multiplier {multiplier}, filter {list(weights.shape)}"
    options.padding, options.strideH, options.strideW = padding, stride_h, stride_w
    options.dilationHFactor, options.dilationWFactor = dilation_h, dilation_w
    options.fusedActivationFunction = activation

    def out_size(size, filt, stride, dilation):
        effective = (filt - 1) * dilation + 1
        return (size + stride - 1) // stride if padding == 0 else (size - effective) // stride + 1
    out_h = out_size(in_h, filter_h, stride_h, dilation_h)
    out_w = out_size(in_w, filter_w, stride_w, dilation_w)
    kind = _bias_kind(rng, op)
    bias = _bias(rng, kind, out_c, input_q.scale, filter_scales, 2000.0 * np.sqrt(taps))
    output_q = Quantization(_output_scale(rng, input_q.scale, filter_scales, taps), 0)
    data = single_op_model(
        op, [Operand((1, in_h, in_w, in_c), input_q, dtype="INT16"),
             Operand(weights.shape, filter_q, weights), *([] if bias is None else [bias])],
        (1, out_h, out_w, out_c), output_q, options, output_type="INT16")
    text = (f"{op} 16x8 input [1, {in_h}, {in_w}, {in_c}], {shape_text}, stride "
            f"{stride_h}x{stride_w}, dilation {dilation_h}x{dilation_w}, "
            f"{'SAME' if padding == 0 else 'VALID'}, activation {activation}, bias {kind}, "
            f"{'per-channel' if isinstance(filter_q, PerChannel) else 'per-tensor'}")
    return text, data


def _fully_connected_case(rng) -> tuple[str, bytes]:
    schema = _schema()
    depth, units = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    # The harness feeds and reads batch-1 tensors: several rows only with keep_num_dims.
    keep = bool(rng.random() < 0.4)
    rows = int(rng.choice([1, 2, 3])) if keep else 1
    in_shape = (1, rows, depth) if keep or rng.random() < 0.3 else (1, depth)
    out_shape = (*in_shape[:-1], units) if keep else (1, units)
    input_q = Quantization(_scale(rng, 1e-4, 1e-2), 0)
    weights, filter_q, filter_scales = _weights_and_scales(rng, (units, depth), units, 0)
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = int(rng.choice([0, 0, 1, 2, 3]))
    options.keepNumDims = keep
    kind = _bias_kind(rng, "FULLY_CONNECTED")
    bias = _bias(rng, kind, units, input_q.scale, filter_scales, 2000.0 * np.sqrt(depth))
    output_q = Quantization(_output_scale(rng, input_q.scale, filter_scales, depth), 0)
    data = single_op_model(
        "FULLY_CONNECTED", [Operand(in_shape, input_q, dtype="INT16"),
                            Operand(weights.shape, filter_q, weights), bias],
        out_shape, output_q, options, output_type="INT16")
    text = (f"FULLY_CONNECTED 16x8 input {list(in_shape)}, filter [{units}, {depth}], "
            f"keep_num_dims {keep}, activation {options.fusedActivationFunction}, bias {kind}, "
            f"{'per-channel' if isinstance(filter_q, PerChannel) else 'per-tensor'}")
    return text, data


@pytest.mark.parametrize("op", ["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"])
def test_conv_like_16x8_match_tflm(op):
    seed = {"FULLY_CONNECTED": 1602, "CONV_2D": 1603, "DEPTHWISE_CONV_2D": 1604}[op]
    rng = np.random.default_rng(seed)
    built = [_fully_connected_case(rng) if op == "FULLY_CONNECTED" else _conv_case(rng, op)
             for _ in range(MODELS_PER_OP)]
    _check(built, seed)


# --- ADD, MUL int16 ----------------------------------------------------------------------------

def _binary_case(rng, op: str) -> tuple[str, bytes]:
    schema = _schema()
    first, second, output_shape = broadcast_pair(rng)
    swap = bool(rng.random() < 0.3)  # the constant as the first input
    constant = rng.integers(-32768, 32768, second).astype(np.int16)
    if rng.random() < 0.2:
        constant = np.full(second, int(rng.choice([-32768, 32767, 0, 1, -1])), np.int16)
    scale1, scale2 = _scale(rng, 1e-5, 1e-2), _scale(rng, 1e-5, 1e-2)
    if op == "ADD":
        options = schema.AddOptionsT()
        output_scale = max(scale1, scale2) * float(np.exp(rng.uniform(np.log(0.2), np.log(8.0))))
    else:
        options = schema.MulOptionsT()
        # Products run to 2^30 steps of scale1 * scale2; outputs range from fine to saturated.
        output_scale = scale1 * scale2 * float(np.exp(rng.uniform(np.log(2.0 ** 10),
                                                                 np.log(2.0 ** 17))))
    options.fusedActivationFunction = int(rng.choice([0, 1, 2, 3], p=[0.4, 0.2, 0.2, 0.2]))
    output_q = Quantization(float(np.float32(output_scale)), 0)
    variable = Operand(first, Quantization(scale1, 0), dtype="INT16")
    fixed = Operand(second, Quantization(scale2, 0), constant, dtype="INT16")
    operands = [fixed, variable] if swap else [variable, fixed]
    data = single_op_model(op, operands, output_shape, output_q, options, output_type="INT16")
    order = "const, x" if swap else "x, const"
    return (f"{op} int16 ({order}) x {list(first)}, const {list(second)} -> "
            f"{list(output_shape)}, activation {options.fusedActivationFunction}", data)


@pytest.mark.parametrize("op", ["ADD", "MUL"])
def test_add_mul_int16_match_tflm(op):
    seed = {"ADD": 1605, "MUL": 1606}[op]
    rng = np.random.default_rng(seed)
    _check([_binary_case(rng, op) for _ in range(MODELS_PER_OP)], seed)


# --- LOGISTIC, TANH int16 ----------------------------------------------------------------------

def _sigmoid_case(rng, op: str) -> tuple[str, bytes]:
    shape = _shape(rng)
    roll = rng.random()
    if roll < 0.3:  # TFLM's power-of-two path (2^-12, and 2^-11 for TANH) or near it
        scale = 2.0 ** -int(rng.choice([10, 11, 12, 13, 14]))
    elif roll < 0.4:
        scale = 2.0 ** -12 * float(1 + rng.choice([-1, 1]) * rng.uniform(1e-5, 5e-4))
    else:
        scale = _scale(rng, 1e-6, 2.0)
    output_scale = 2.0 ** -15 if rng.random() < 0.8 else 2.0 ** -15 * (1 + 3e-4)
    data = single_op_model(op, [Operand(shape, Quantization(float(np.float32(scale)), 0),
                                        dtype="INT16")],
                           shape, Quantization(float(np.float32(output_scale)), 0),
                           output_type="INT16")
    return f"{op} int16 {list(shape)}, input scale {scale:.6g}, output {output_scale:.6g}", data


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_int16_match_tflm(op):
    seed = {"LOGISTIC": 1607, "TANH": 1608}[op]
    rng = np.random.default_rng(seed)
    _check([_sigmoid_case(rng, op) for _ in range(MODELS_PER_OP)], seed)


# --- end to end: a 16x8 Keras model through card, convert, the host firmware and validate ------

def _grid_images(rng, count: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 noise with a bright 2x2 patch at one of three places: the class."""
    labels = rng.integers(0, 3, count)
    x = rng.normal(0, 0.3, (count, 8, 8, 1)).astype(np.float32)
    for row, label in enumerate(labels):
        top, left = [(1, 1), (1, 5), (5, 3)][label]
        x[row, top:top + 2, left:left + 2, 0] += 2.0
    return x, labels.astype(np.int64)


def _model_16x8(directory) -> None:
    """A small CNN quantized 16x8 by the TFLite converter, int16 in and out, and its test set."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = _grid_images(rng, 600)
    x_test, y_test = _grid_images(rng, 200)
    inputs = keras.layers.Input((8, 8, 1))
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    features = keras.layers.Add()([features, keras.layers.DepthwiseConv2D(
        3, padding="same")(features)])
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(features))
    model = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=4, verbose=0)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x_train[i:i + 1]] for i in range(100))
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = tf.int16
    converter.inference_output_type = tf.int16
    (directory / "model16.tflite").write_bytes(converter.convert())
    np.savez(directory / "test.npz", x=x_test, y=y_test)


@pytest.mark.slow
def test_a_16x8_model_validates_exactly_on_the_host_port(tmp_path, capsys):
    _model_16x8(tmp_path)
    model = TFLiteModel.from_file(tmp_path / "model16.tflite")
    assert (model.inputs[0].type_name, model.outputs[0].type_name) == ("INT16", "INT16")
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "FULLY_CONNECTED", "TANH"} <= set(
        model.op_names())
    workspace = ["--workspace", str(tmp_path)]
    assert main(["-q", *workspace, "card", str(tmp_path / "model16.tflite"), "--test",
                 str(tmp_path / "test.npz"), "--out", str(tmp_path / "models/grid16")]) == 0
    sources, build = tmp_path / "build/sources", tmp_path / "build/host"
    assert main(["-q", *workspace, "convert", str(tmp_path / "models/grid16/model.tflite"),
                 "--out", str(sources)]) == 0
    assert "TINYML_TYPE_INT16, 4, {1, 8, 8, 1, 0, 0}, 128u" in (
        sources / "grid16_settings.c").read_text()
    assert main(["-q", *workspace, "firmware", "build", "--target", "host", "--models-dir",
                 str(sources), "--build-dir", str(build)]) == 0
    capsys.readouterr()
    assert main(["-q", *workspace, "validate", "--model", str(tmp_path / "models/grid16"),
                 "--emulator", "host", "--image", str(build / "tinyml-host")]) == 0
    report = json.loads((tmp_path / "build/validation/grid16/report.json").read_text())
    assert report["validated"] == 200 and report["tflm"]["exact"] == 200
    assert report["tflm"]["max_difference_lsb"] == 0 and report["passed"]
    lines = [json.loads(line) for line in
             (tmp_path / "build/validation/grid16/results.jsonl").read_text().splitlines()]
    outputs = [value for line in lines if line["kind"] == "sample" for value in line["output"]]
    # int16 values on the wire and in the journal, not int8 pairs.
    assert len(outputs) == 600 and max(abs(v) for v in outputs) > 127


# --- SOFTMAX int16 -----------------------------------------------------------------------------

def _softmax_case(rng) -> tuple[str, bytes]:
    schema = _schema()
    rank = int(rng.integers(2, 5))  # batch 1 first, as the harness feeds it
    shape = tuple([1] + [int(rng.integers(1, 5)) for _ in range(rank - 2)]
                  + [int(rng.choice([1, 2, 3, 10, 40, 300]))])
    options = schema.SoftmaxOptionsT()
    options.beta = float(np.float32(rng.choice([1.0, 1.0, 0.5, 2.0, rng.uniform(0.1, 3.0)])))
    scale = _scale(rng, 1e-5, 1e-2)
    output_scale = 1.0 / 32768 if rng.random() < 0.8 else 1.0 / 32768 * (1 + 5e-4)
    data = single_op_model("SOFTMAX", [Operand(shape, Quantization(scale, 0), dtype="INT16")],
                           shape, Quantization(float(np.float32(output_scale)), 0), options,
                           output_type="INT16")
    return f"SOFTMAX int16 {list(shape)}, input scale {scale:.4g}, beta {options.beta:.4g}", data


def test_softmax_int16_matches_tflm():
    rng = np.random.default_rng(1609)
    _check([_softmax_case(rng) for _ in range(MODELS_PER_OP)], 1609)


def test_softmax_int16_tables_match_tflm_at_every_difference():
    """Rows [0, -d] for every d the exp table sees (input scale 10 / 65535, beta 1: one table
    step per input step), so that every entry of both tables meets TFLM's."""
    schema = _schema()
    options = schema.SoftmaxOptionsT()
    options.beta = 1.0
    scale = float(np.float32(10.0 / 65535.0))
    rows = np.arange(0, 32769, 16, dtype=np.int32)
    shape = (1, len(rows), 2)
    data = single_op_model("SOFTMAX", [Operand(shape, Quantization(scale, 0), dtype="INT16")],
                           shape, Quantization(1.0 / 32768, 0), options, output_type="INT16")
    model = TFLiteModel(data, "softmax sweep")
    sweep = np.zeros(shape, np.int16)  # differences 2 * row - 1, up to 65535
    sweep[0, :, 0] = np.clip(rows - 16384, -32768, 32767)
    sweep[0, :, 1] = np.clip(-16384 - rows + 1, -32768, 32767)
    from tinyml_pipeline.tools.compiler.host import build_runner, run_builtin
    from tinyml_pipeline.tools.reference import TFLMRunner

    runner = build_runner([("sweep", model)])
    expected = TFLMRunner(model).invoke_tensor(sweep)
    assert len(np.unique(expected[0, :, 1])) > 1000  # the sweep reaches most of the tables
    assert np.array_equal(run_builtin(runner, "sweep", model, sweep[np.newaxis])[0], expected)


# --- converter-built 16x8 models ---------------------------------------------------------------

def _converted_16x8(cases, seed: int) -> list[bytes]:
    """The cases as modelgen converts them, but quantized 16x8 (int16 activations and I/O,
    int8 weights, int64 bias), one .tflite per case."""
    import warnings

    import tensorflow as tf

    from tests.support.modelgen import quantizing_converter, split_branches

    converter = quantizing_converter(cases, seed)
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = tf.int16
    converter.inference_output_type = tf.int16
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        converted = converter.convert()
    return split_branches(converted, len(cases))


def _network_case(rng, index: int):
    """A small random network of the 16x8 ops, as a training run would quantize it."""
    import tensorflow as tf

    from tests.support.modelgen import Case

    h, w, c = int(rng.integers(3, 9)), int(rng.integers(3, 9)), int(rng.integers(1, 5))
    out_c = int(rng.integers(1, 7))
    conv = rng.normal(size=(3, 3, c, out_c)).astype(np.float32) * 0.5
    depthwise = rng.normal(size=(3, 3, out_c, 1)).astype(np.float32) * 0.5
    units = int(rng.integers(2, 9))
    dense = rng.normal(size=(h * w * out_c, units)).astype(np.float32) * 0.2
    bias = rng.normal(size=units).astype(np.float32)
    head = ["tanh", "sigmoid", "softmax", "none"][index % 4]
    residual = bool(rng.random() < 0.5)
    gate = bool(rng.random() < 0.4)

    def build(x):
        y = tf.nn.relu(tf.nn.conv2d(x, conv, 1, "SAME"))
        z = tf.nn.depthwise_conv2d(y, depthwise, [1, 1, 1, 1], "SAME")
        if residual:
            z = z + y
        if gate:
            z = z * tf.sigmoid(y)
        logits = tf.matmul(tf.reshape(z, [1, -1]), dense) + bias
        return {"tanh": tf.tanh, "sigmoid": tf.sigmoid, "softmax": tf.nn.softmax,
                "none": lambda v: v}[head](logits)

    return Case(f"16x8 network [1, {h}, {w}, {c}] conv {out_c} depthwise"
                f"{' + residual' if residual else ''}{' * sigmoid gate' if gate else ''}"
                f" -> dense {units} -> {head}", (1, h, w, c), build, (-2.0, 2.0))


def test_converter_built_16x8_networks_match_tflm():
    rng = np.random.default_rng(1610)
    cases = [_network_case(rng, index) for index in range(48)]
    models = [TFLiteModel(data, case.description)
              for data, case in zip(_converted_16x8(cases, 1610), cases, strict=True)]
    found = set().union(*(model.op_names() for model in models))
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "LOGISTIC",
            "TANH", "SOFTMAX"} <= found, found
    failures = compare_models(models, [case.description for case in cases], 1610)
    assert not failures, "\n".join(failures)


# --- what is refused, in one line --------------------------------------------------------------

def _refusal_models() -> list[tuple[str, bytes, str]]:
    """(what, model, a part of the message) for 16x8 forms the runtime does not compute."""
    schema = _schema()
    shape = (1, 4, 4, 2)
    q16, q8 = Quantization(1e-3, 0), Quantization(1e-2, 3)
    weights = np.ones((1, 3, 3, 2), np.int8)
    int32_bias = Operand((2,), PerChannel((1e-5, 1e-5), 0), np.ones(2, np.int32), dtype="INT32")
    depthwise = schema.DepthwiseConv2DOptionsT()
    depthwise.depthMultiplier = depthwise.strideH = depthwise.strideW = 1
    depthwise.dilationHFactor = depthwise.dilationWFactor = 1
    pool = schema.Pool2DOptionsT()
    pool.filterWidth = pool.filterHeight = pool.strideW = pool.strideH = 2
    return [
        ("an int16 op without an int16 kernel",
         single_op_model("MAX_POOL_2D", [Operand(shape, q16, dtype="INT16")], (1, 2, 2, 2), q16,
                         pool, output_type="INT16"), "is int16"),
        ("an int32 bias on DEPTHWISE_CONV_2D 16x8 (TFLM reads it as int64)",
         single_op_model("DEPTHWISE_CONV_2D", [Operand(shape, q16, dtype="INT16"),
                                               Operand(weights.shape, Quantization(1e-2, 0),
                                                       weights), int32_bias],
                         shape, q16, depthwise, output_type="INT16"), "int32 bias"),
        ("an int16 activation with a zero point",
         single_op_model("TANH", [Operand(shape, Quantization(2.0 ** -12, 5), dtype="INT16")],
                         shape, Quantization(2.0 ** -15, 0), output_type="INT16"),
         "zero point 5"),
        ("an int16 LOGISTIC whose output scale is not 2^-15",
         single_op_model("LOGISTIC", [Operand(shape, q16, dtype="INT16")], shape,
                         Quantization(2.0 ** -14, 0), output_type="INT16"), "2^-15"),
        ("int8 in, int16 out SOFTMAX",
         single_op_model("SOFTMAX", [Operand(shape, q8)], shape, Quantization(1 / 65536, 0),
                         schema.SoftmaxOptionsT(), output_type="INT16"), "int8"),
        ("int8 and int16 inputs mixed in an ADD",
         single_op_model("ADD", [Operand(shape, q16, dtype="INT16"),
                                 Operand(shape, q8, np.ones(shape, np.int8))], shape, q16,
                         schema.AddOptionsT(), output_type="INT16"), "'operand1' is int8"),
    ]


@pytest.mark.parametrize("what, data, expected", _refusal_models(),
                         ids=[case[0] for case in _refusal_models()])
def test_int16_forms_without_a_kernel_are_refused_in_one_line(what, data, expected):
    from tinyml_pipeline.tools.compiler.errors import CompileError
    from tinyml_pipeline.tools.compiler.planner import compile_plan

    with pytest.raises(CompileError) as error:
        compile_plan(TFLiteModel(data, what))
    assert expected in str(error.value) and "\n" not in str(error.value)


# --- the 16x8 kernels on the Cortex-M4 image ---------------------------------------------------

def _needs(*tools: str) -> None:
    import shutil

    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/install-system-deps.sh "
                    "installs them)")


def _every_op_sample(rng, per_op: int = 8) -> list[tuple[str, bytes]]:
    """`per_op` randomized models of each 16x8 form (12 QUANTIZE/DEQUANTIZE chains)."""
    built = []
    for index in range(12):
        ops, types = _QUANTIZE_CHAINS[index % len(_QUANTIZE_CHAINS)]
        shape = _shape(rng)
        built.append((f"{'+'.join(ops)} {shape}", unary_chain_model(
            shape, ops, [(t, _quantization(rng, t)) for t in types])))
    for _ in range(per_op):
        built += [_fully_connected_case(rng), _conv_case(rng, "CONV_2D"),
                  _conv_case(rng, "DEPTHWISE_CONV_2D"), _binary_case(rng, "ADD"),
                  _binary_case(rng, "MUL"), _sigmoid_case(rng, "LOGISTIC"),
                  _sigmoid_case(rng, "TANH"), _softmax_case(rng)]
    return built


def test_16x8_kernels_under_address_and_undefined_behaviour_sanitizers():
    rng = np.random.default_rng(1612)
    built = _every_op_sample(rng)
    flags = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
             "-fno-omit-frame-pointer")
    failures = compare_models([TFLiteModel(data, text) for text, data in built],
                              [text for text, _ in built], 1612, 3, flags)
    assert not failures, "\n".join(failures)


def test_16x8_kernels_on_the_cortex_m4_image_match_tflm(tmp_path):
    """A sample of every op's randomized models, compiled for the QEMU Cortex-M4 image (32-bit
    int64 arithmetic, the Arm compiler) and run over the protocol, int16 tensors on the wire."""
    _needs("cmake", "arm-none-eabi-gcc", "qemu-system-arm")
    from tests.support.firmware_link import device_process
    from tests.support.opcheck import random_inputs
    from tinyml_pipeline.tools import qemu
    from tinyml_pipeline.tools.compiler.host import FIRMWARE_DIR, generate_sources
    from tinyml_pipeline.tools.reference import TFLMRunner
    from tinyml_pipeline.tools.targets.cmake import CMakeProject

    rng = np.random.default_rng(1611)
    built = _every_op_sample(rng)
    models = [(f"case{index:03d}", TFLiteModel(data, text))
              for index, (text, data) in enumerate(built)]
    (tmp_path / "models").mkdir()
    for name, text in generate_sources(models).items():
        (tmp_path / "models" / name).write_text(text)
    tree = CMakeProject(FIRMWARE_DIR, tmp_path / "cmake").build(
        "qemu", models_dir=tmp_path / "models", build_dir=tmp_path / "qemu", quiet=True)
    failures = []
    with device_process(qemu.qemu_command(tree / "tinyml-qemu.elf"), timeout=15.0) as (device,
                                                                                      _):
        # The registry lists the models by name, which is the order built here.
        for index, (name, model) in enumerate(models):
            info = device.model_info(index)
            assert info.name == name and info.input.dtype == model.inputs[0].type_name.lower()
            for sample in random_inputs(rng, model, 2):
                # The shorter encoding: zero runs of int16 inputs included.
                found = device.infer(index, sample, encoding=None)
                output = np.frombuffer(found.output,
                                       np.dtype(model.outputs[0].dtype).newbyteorder("<"))
                expected = TFLMRunner(model).invoke(sample[0]).reshape(-1)
                if not np.array_equal(output, expected):
                    failures.append(f"{name} {built[index][0]}: {output} vs TFLM {expected}")
    assert not failures, "\n".join(failures)


def test_run_takes_int16_inputs_for_a_16x8_model(tmp_path, capsys):
    rng = np.random.default_rng(1613)
    text, data = _fully_connected_case(rng)
    (tmp_path / "fc16.tflite").write_bytes(data)
    model = TFLiteModel(data, text)
    from tests.support.opcheck import random_inputs

    np.save(tmp_path / "x.npy", random_inputs(rng, model, 5))
    outputs = {}
    for backend in ("builtin", "tflm"):
        assert main(["-q", "run", str(tmp_path / "fc16.tflite"), "--inputs",
                     str(tmp_path / "x.npy"), "--out", str(tmp_path / f"{backend}.npy"),
                     "--backend", backend]) == 0
        outputs[backend] = np.load(tmp_path / f"{backend}.npy")
    assert outputs["builtin"].dtype == np.int16
    assert np.array_equal(outputs["builtin"], outputs["tflm"])
    np.save(tmp_path / "x8.npy", np.zeros((2, *model.inputs[0].shape), np.int8))
    capsys.readouterr()
    assert main(["-q", "run", str(tmp_path / "fc16.tflite"), "--inputs",
                 str(tmp_path / "x8.npy"), "--out", str(tmp_path / "no.npy")]) == 2
    assert "the model takes int16" in capsys.readouterr().err
    assert not (tmp_path / "no.npy").exists()
