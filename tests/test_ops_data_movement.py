"""PAD/PADV2, CONCATENATION, QUANTIZE and DEQUANTIZE against TFLM, bit for bit, on randomized
models converted in batches of 40 with fixed seeds. Each test compares all its models in one
host build, which is most of its time.

- PAD (200): rank 1-5 (the flat input is reshaped first, so any dimension can be padded), random
  paddings; a quarter pad with a constant, which the converter emits as PADV2.
- CONCATENATION (200): 2-4 pieces (one in ten: 5-10, TFLM's limit) on a random axis, made from
  the input: itself, dense or 1x1-convolution layers of random gain, constants, and "nested"
  pieces (a layer over the input concatenated with a high-gain layer). TFLM's int8
  CONCATENATION needs equal scales, so the converter gives every piece the output's
  quantization, propagating it backwards; only a tensor feeding two concatenations of different
  range needs two scales, and there it inserts an int8 -> int8 QUANTIZE.
- QUANTIZE int8 -> int8 (200): the 100 nested-concatenation models above, each asserted to hold
  one, plus 100 of the PAD models edited to end in a QUANTIZE to a random output quantization
  (scale ratios from 1/1000 to 1000, equal and exact powers of two included), which the
  converter alone never gives.
- Float islands, DEQUANTIZE and float32 -> int8 QUANTIZE (200): int8 -> DEQUANTIZE -> float
  RESHAPE -> QUANTIZE -> int8, made by the converter itself with selective quantization, the
  path tf.lite's QuantizationDebugger takes (calibrate only, then mlir_quantize with
  denylisted_ops=["RESHAPE"] and int8 model input and output), since no plain converter option
  leaves a supported op in float. The converter gives both ends of an island the same
  quantization, which only tests the round trip; so 80 lone islands have their input and output
  quantization rewritten at random, exact 2^k scale ratios included, whose half-way quotients
  test round-half-away-from-zero.
"""
import copy
import functools
import warnings

import numpy as np

from tests.support.modelgen import (
    Case,
    _schema,
    convert_cases,
    pack,
    quantizing_converter,
    split_branches,
)
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 40
INPUT_RANGES = [(-1.0, 1.0), (0.0, 1.0), (-2.0, 0.5), (-0.25, 3.0)]


def _random_range(rng) -> tuple[float, float]:
    return INPUT_RANGES[int(rng.integers(len(INPUT_RANGES)))]


def _random_shape(rng, rank: int, largest: int = 4) -> list[int]:
    return [int(rng.integers(1, largest + 1)) for _ in range(rank)]


def _factor_shape(rng, size: int, rank: int) -> list[int]:
    """A random shape of `rank` dimensions holding `size` elements."""
    shape = []
    for _ in range(rank - 1):
        divisors = [d for d in range(1, size + 1) if size % d == 0]
        shape.append(int(rng.choice(divisors)))
        size //= shape[-1]
    return shape + [size]


def _layer(rng, x, units: int, gain: float, conv: bool | None = None):
    """A dense layer (FULLY_CONNECTED) or 1x1 convolution over the last axis of any-rank x,
    optionally with a fused ReLU; its output range follows `gain`."""
    import tensorflow as tf

    channels = int(x.shape[-1])
    weights = (rng.normal(size=(channels, units)) * gain / np.sqrt(channels)).astype(np.float32)
    bias = (rng.normal(size=units) * 0.2 * gain).astype(np.float32)
    relu = rng.random() < 0.3
    conv = rng.random() < 0.5 if conv is None else conv
    shape = [int(d) for d in x.shape[:-1]] + [units]

    def apply(tensor):
        if conv:
            y = tf.nn.conv2d(tf.reshape(tensor, [1, 1, -1, channels]),
                             weights.reshape(1, 1, channels, units), 1, "VALID") + bias
        else:
            y = tf.matmul(tf.reshape(tensor, [-1, channels]), weights) + bias
        return tf.reshape(tf.nn.relu(y) if relu else y, shape)

    return apply(x), f"{'conv' if conv else 'dense'}{'+relu' if relu else ''}x{gain:.2g}"


def _gain(rng) -> float:
    return float(np.exp(rng.uniform(np.log(0.05), np.log(8.0))))


# --- PAD ------------------------------------------------------------------------------------

def _pad_case(rng) -> Case:
    import tensorflow as tf

    rank = int(rng.integers(1, 6))
    shape = _random_shape(rng, rank, 5)
    paddings = [[int(rng.integers(0, 4)) * int(rng.random() < 0.7) for _ in range(2)]
                for _ in range(rank)]
    if not any(any(p) for p in paddings):
        paddings[-1][1] = 1
    constant = float(rng.uniform(-2, 2)) if rng.random() < 0.25 else None
    size = int(np.prod(shape))

    def build(x):
        padded = tf.pad(tf.reshape(x, shape), paddings, constant_values=constant or 0.0)
        return tf.reshape(padded, [1, -1])

    return Case(f"pad {shape} by {paddings} with {constant}", (1, size), build,
                _random_range(rng))


@functools.cache
def _pad_batch(seed: int) -> tuple[list[str], list[bytes]]:
    """Shared with the QUANTIZE test, which edits these models."""
    rng = np.random.default_rng(2000 + seed)
    cases = [_pad_case(rng) for _ in range(PER_BATCH)]
    return [case.description for case in cases], convert_cases(cases, seed)


def test_pad_models_match_tflm():
    models, descriptions = [], []
    for seed in range(BATCHES):
        batch_descriptions, converted = _pad_batch(seed)
        models += _models(converted, f"pad seed {seed}")
        descriptions += batch_descriptions
    _require_op(descriptions, models, lambda m: {"PAD", "PADV2"} & set(m.op_names()),
                "PAD or PADV2")
    padv2 = sum("PADV2" in m.op_names() for m in models)
    assert padv2 >= len(models) // 8, f"only {padv2} PADV2 models"
    _assert_identical(models, descriptions, 2000)


# --- CONCATENATION --------------------------------------------------------------------------

def _piece(rng, kind: str, x, shape: list[int], axis: int, conv: bool):
    """One concatenation input of `kind` and its description; only the axis size may differ
    from `shape`, and only the last axis can change size through a layer. One case's layers
    are all convolutions or all dense: given both, the converter can leave a CONV_2D in
    float when it folds their two different reshapes of x."""
    import tensorflow as tf

    last = axis == len(shape) - 1
    units = int(rng.integers(1, 6)) if last else shape[-1]
    if kind == "input":
        return x, "x"
    if kind == "layer":
        return _layer(rng, x, units, _gain(rng), conv)
    if kind == "const":
        const_shape = list(shape)
        const_shape[axis] = int(rng.integers(1, 4))
        values = rng.uniform(-1.5, 1.5, size=const_shape).astype(np.float32)
        return tf.constant(values), f"const{const_shape}"
    # A second concatenation of x behind a layer, its range widened well beyond x's by a
    # high-gain layer: x needs two scales.
    inner, inner_name = _layer(rng, x, shape[-1], float(rng.uniform(6.0, 12.0)), conv)
    outer, outer_name = _layer(rng, tf.concat([x, inner], -1), units, _gain(rng), conv)
    return outer, f"{outer_name}(concat(x, {inner_name}))"


def _concat_case(rng, nested: bool = False) -> Case:
    import tensorflow as tf

    rank = int(rng.integers(1, 6))
    shape = _random_shape(rng, rank)
    axis = int(rng.integers(-rank, rank))
    count = int(rng.integers(2, 5)) if rng.random() < 0.9 else int(rng.integers(5, 11))
    kinds = list(rng.choice(["input", "layer", "const", "nested"], size=count,
                            p=[0.35, 0.35, 0.15, 0.15]))
    if nested:  # x both directly and inside a nested concatenation
        kinds[:2] = ["input", "nested"]
    if all(kind == "const" for kind in kinds):
        kinds[0] = "input"
    direct = rank >= 2 and shape[0] == 1 and axis % rank != 0 and rng.random() < 0.5
    size = int(np.prod(shape))
    piece_seed = int(rng.integers(1 << 31))
    conv = bool(rng.random() < 0.5)
    names = []

    def build(x):
        source = x if direct else tf.reshape(x, shape)
        piece_rng = np.random.default_rng(piece_seed)  # the same pieces at every trace
        pieces = [_piece(piece_rng, kind, source, shape, axis % rank, conv) for kind in kinds]
        names[:] = [name for _, name in pieces]
        joined = tf.concat([piece for piece, _ in pieces], axis)
        return joined if direct else tf.reshape(joined, [1, -1])

    build(tf.zeros(shape if direct else (1, size)))  # names the pieces for the description
    return Case(f"concat {shape} axis {axis} of {names}", tuple(shape) if direct else (1, size),
                build, _random_range(rng))


def test_concatenation_models_match_tflm():
    """Every other model also puts x into a nested concatenation: those must hold the int8 ->
    int8 QUANTIZE the converter inserts, the first half of that op's tests."""
    models, descriptions, nested = [], [], []
    for seed in range(BATCHES):
        rng = np.random.default_rng(3000 + seed)
        cases = [_concat_case(rng, nested=index % 2 == 1) for index in range(PER_BATCH)]
        batch = _models(convert_cases(cases, seed), f"concat seed {seed}")
        models += batch
        descriptions += [case.description for case in cases]
        nested += [(case.description, model) for index, (case, model)
                   in enumerate(zip(cases, batch, strict=True)) if index % 2 == 1]
    _require_op(descriptions, models, lambda m: "CONCATENATION" in m.op_names(),
                "CONCATENATION")
    _require_op(*zip(*nested, strict=True), _has_int8_quantize, "an int8 -> int8 QUANTIZE")
    _assert_identical(models, descriptions, 3000)


# --- QUANTIZE int8 -> int8 ------------------------------------------------------------------

def _has_int8_quantize(model: TFLiteModel) -> bool:
    return any(op.name == "QUANTIZE" and model.tensor(op.inputs[0]).type_name == "INT8"
               for op in model.operators)


def _scale_ratio(rng) -> float:
    """Output over input scale: equal, exact powers of two, or anything from 1/1000 to 1000."""
    pick = rng.random()
    if pick < 0.15:
        return 1.0
    if pick < 0.4:
        return float(2.0 ** int(rng.integers(-4, 5)))
    return float(np.exp(rng.uniform(np.log(1e-3), np.log(1e3))))


def _random_quantization(rng, scale: float | None = None) -> tuple[float, int]:
    if scale is None:
        scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
    return float(np.float32(scale)), int(rng.integers(-128, 128))


def test_edited_requantize_models_match_tflm():
    """The second half of the int8 QUANTIZE tests: PAD models (from the PAD test) requantized
    to a random output quantization, the ratio of scales spanning 1/1000 to 1000."""
    rng = np.random.default_rng(5000)
    models, descriptions = [], []
    for seed in range(BATCHES):
        batch_descriptions, converted = _pad_batch(seed)
        pairs = list(zip(batch_descriptions, converted, strict=True))
        for description, data in pairs[:PER_BATCH // 2]:
            source = _random_quantization(rng)
            output = _random_quantization(rng, source[0] * _scale_ratio(rng))
            descriptions.append(f"{description}, quantize {source} to {output}")
            models.append(TFLiteModel(_append_quantize(data, source, output),
                                      f"requantize seed {seed} case {len(models)}"))
    _require_op(descriptions, models, _has_int8_quantize, "an int8 -> int8 QUANTIZE")
    _assert_identical(models, descriptions, 5000)


# --- Float islands: DEQUANTIZE and float32 -> int8 QUANTIZE ---------------------------------

def _island_case(rng, kind: int) -> Case:
    """Models whose RESHAPEs stay in float; kind 0 is a lone island (input to output)."""
    import tensorflow as tf

    image = [1] + _random_shape(rng, 3, 5)
    size = int(np.prod(image))
    target = [1] + _factor_shape(rng, size, int(rng.integers(1, 5)))
    if target == image:  # the converter drops an identity reshape
        target = [1, size]
    layer_seed = int(rng.integers(1 << 31))

    def layer(x, units, gain_factor, layer_rng):
        return _layer(layer_rng, x, units, _gain(layer_rng) * gain_factor)[0]

    def at_start(x):  # the model input is dequantized
        return layer(tf.reshape(x, image), 3, 1.0, np.random.default_rng(layer_seed))

    def between(x):
        layer_rng = np.random.default_rng(layer_seed)
        return layer(tf.reshape(layer(x, image[-1], 1.0, layer_rng), target), 2, 1.0, layer_rng)

    def two_into_concat(x):  # islands of different range feeding one concatenation
        layer_rng = np.random.default_rng(layer_seed)
        return tf.concat([tf.reshape(layer(x, image[-1], gain, layer_rng), [1, -1])
                          for gain in (4.0, 0.25)], -1)

    if kind == 0:
        return Case(f"island: reshape {image} -> {target}", tuple(image),
                    lambda x: tf.reshape(x, target), _random_range(rng))
    if kind == 1:
        return Case(f"island: reshape [1, {size}] -> {image} -> layer", (1, size), at_start,
                    _random_range(rng))
    if kind == 2:
        return Case(f"island: layer {image} -> reshape {target} -> layer", tuple(image),
                    between, _random_range(rng))
    return Case(f"islands: concat(reshape(layer {image}), reshape(layer))", tuple(image),
                two_into_concat, _random_range(rng))


def _has_float_island(model: TFLiteModel) -> bool:
    return "DEQUANTIZE" in model.op_names() and any(
        op.name == "QUANTIZE" and model.tensor(op.inputs[0]).type_name == "FLOAT32"
        for op in model.operators)


def test_float_island_models_match_tflm():
    """120 converter-built islands of four kinds, and 80 lone islands with their input and
    output quantization rewritten."""
    rng = np.random.default_rng(7000)
    models, descriptions = [], []
    for seed in range(BATCHES):
        edited = seed >= 3
        cases = [_island_case(rng, 0 if edited else index % 4) for index in range(PER_BATCH)]
        for case, data in zip(cases, _convert_with_float_reshapes(cases, seed), strict=True):
            description = case.description
            if edited:
                source = _random_quantization(rng)
                output = _random_quantization(rng, source[0] * _scale_ratio(rng))
                description += f", dequantize {source}, quantize {output}"
                data = _requantize_io(data, source, output)
            descriptions.append(description)
            models.append(TFLiteModel(data, f"float island seed {seed} case {len(models)}"))
    _require_op(descriptions, models, _has_float_island, "DEQUANTIZE and a float32 QUANTIZE")
    _assert_identical(models, descriptions, 6000)


def _convert_with_float_reshapes(cases: list[Case], seed: int) -> list[bytes]:
    """convert_cases, but RESHAPE is denylisted from quantization: the converter wraps each in
    DEQUANTIZE / QUANTIZE (selective quantization, as QuantizationDebugger does it)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as lite_convert

    converter = quantizing_converter(cases, seed)
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True
    with warnings.catch_warnings():  # the int8 input's statistics come from calibration
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        calibrated = converter.convert()
        quantized = lite_convert.mlir_quantize(
            calibrated, fully_quantize=True, input_data_type=tf.int8, output_data_type=tf.int8,
            denylisted_ops=["RESHAPE"])
    return split_branches(quantized, len(cases))


# --- Model edits (schema object API) --------------------------------------------------------

def _load(model_bytes: bytes):
    schema = _schema()
    return schema, schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))


def _quantization(schema, scale: float, zero_point: int):
    params = schema.QuantizationParametersT()
    params.scale = [scale]
    params.zeroPoint = [zero_point]
    return params


def _requantize_io(model_bytes: bytes, source: tuple, output: tuple) -> bytes:
    """The model with new quantization on its input and its output tensor."""
    schema, model = _load(model_bytes)
    graph = model.subgraphs[0]
    graph.tensors[graph.inputs[0]].quantization = _quantization(schema, *source)
    graph.tensors[graph.outputs[0]].quantization = _quantization(schema, *output)
    return pack(model)


def _append_quantize(model_bytes: bytes, source: tuple, output: tuple) -> bytes:
    """The single-op passthrough model with `source` quantization on its tensors, followed by
    an int8 -> int8 QUANTIZE to `output` quantization."""
    schema, model = _load(model_bytes)
    graph = model.subgraphs[0]
    for tensor in graph.tensors:
        if tensor.type == schema.TensorType.INT8:
            tensor.quantization = _quantization(schema, *source)
    last = graph.outputs[0]
    requantized = copy.copy(graph.tensors[last])
    requantized.name = b"requantized"
    requantized.quantization = _quantization(schema, *output)
    graph.tensors.append(requantized)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.QUANTIZE
    code.version = 1
    model.operatorCodes.append(code)
    op = schema.OperatorT()
    op.opcodeIndex = len(model.operatorCodes) - 1
    op.inputs = [last]
    op.outputs = [len(graph.tensors) - 1]
    graph.operators.append(op)
    graph.outputs = [len(graph.tensors) - 1]
    return pack(model)


# --- Shared ---------------------------------------------------------------------------------

def _models(converted: list[bytes], label: str) -> list[TFLiteModel]:
    return [TFLiteModel(data, f"{label} case {i}") for i, data in enumerate(converted)]


def _require_op(descriptions, models, present, what: str) -> None:
    """Each model must hold the op under test, or the comparison would test nothing."""
    missing = [f"{d}: {m.op_names()}" for d, m in zip(descriptions, models, strict=True)
               if not present(m)]
    assert not missing, f"no {what} in:\n" + "\n".join(missing)


def _assert_identical(models, descriptions, seed: int) -> None:
    """One host build for all the models (the build dominates the test's time)."""
    failures = compare_models(models, list(descriptions), seed)
    print("\n".join(failures))
    assert not failures, "\n".join(failures)
