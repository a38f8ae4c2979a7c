"""ADD, MUL (int8, broadcasting, fused activations, constant or activation operands) and MEAN
(int8, any axes, keep_dims either way): randomized converter-built models must give TFLM's
bytes through the built-in runtime."""

import numpy as np
import pytest

from tests.support.modelgen import Case, _schema, convert_cases, pack
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.ops.elementwise import (
    add_input_table,
    add_output_stage,
    broadcast_loops,
)
from tinyml_pipeline.tools.compiler.ops.reduce import mean_multiplier
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 42
DSP_BUILDS = [(), ("-DTINYML_EMULATE_DSP",)]  # portable, and the DSP kernels emulated

# The activation the converter should fuse into the op: (schema code, name, builder).
ACTIVATIONS = [(0, "none", None), (1, "relu", "relu"), (3, "relu6", "relu6"),
               (2, "relu_n1_to_1", "clip")]


def _apply_activation(tf, name, value):
    if name == "relu":
        return tf.nn.relu(value)
    if name == "relu6":
        return tf.nn.relu6(value)
    if name == "clip":
        return tf.clip_by_value(value, -1.0, 1.0)
    return value


def _dims(rng, rank: int, largest: int = 6) -> list[int]:
    """A batch-1 shape: the harness feeds and reads one sample with a leading 1."""
    return [1] + [int(rng.integers(1, largest + 1)) for _ in range(rank - 1)]


def _with_ones(rng, shape, probability: float, keep_first: int = 0) -> list[int]:
    """Some axes set to 1, so that they broadcast."""
    return [d if i < keep_first or rng.random() >= probability else 1
            for i, d in enumerate(shape)]


def _input_range(rng, straddle_zero: bool = True) -> tuple[float, float]:
    """Straddling zero, leaning positive, keeps a fused ReLU's output range from collapsing to
    a point (which TFLM's Prepare cannot quantize)."""
    if straddle_zero:
        high = float(rng.uniform(0.3, 6.0))
        return -high * float(rng.uniform(0.1, 1.0)), high
    low = float(rng.uniform(-6.0, 1.0))
    return low, low + float(rng.uniform(0.2, 8.0))


def _second_operand(rng, x_shape: list[int], bound: float):
    """(description, builder x -> operand) for an operand that is a constant or an activation
    computed from x, with its own scale and zero point and often a broadcasting shape.
    Constants stay within bound."""
    import tensorflow as tf

    rank = len(x_shape)
    kind = rng.choice(["const", "const", "const", "self", "dense", "mean", "scaled"]
                      if rank >= 2 else ["const", "const", "self", "scaled"])
    if kind == "const":
        const_rank = int(rng.integers(1, rank + 1))
        full = [int(rng.integers(1, 6)) if d == 1 and rng.random() < 0.3 else d
                for d in x_shape[rank - const_rank:]]
        if const_rank == rank:
            full[0] = 1  # keeps the output's batch of 1
        shape = _with_ones(rng, full, 0.4)
        magnitude = bound * float(rng.choice([0.02, 0.2, 0.5, 1.0]))
        value = rng.uniform(-magnitude, magnitude, size=shape).astype(np.float32)
        return f"const {shape}", lambda x: tf.constant(value)
    if kind == "self":
        return "x itself", lambda x: x
    if kind == "dense":
        units = int(rng.choice([1, x_shape[-1]]))
        weights = rng.normal(size=(x_shape[-1], units)).astype(np.float32)
        return f"dense -> {x_shape[:-1] + [units]}", lambda x: tf.matmul(x, weights)
    if kind == "mean":
        axes = sorted(int(a) for a in rng.choice(np.arange(1, rank), size=int(
            rng.integers(1, rank)), replace=False))
        return f"mean(x, {axes}, keepdims)", lambda x: tf.reduce_mean(x, axes, keepdims=True)
    scale = float(rng.uniform(0.2, 3.0)) * float(rng.choice([-1.0, 1.0]))
    shift = float(rng.uniform(-bound, bound)) * 0.5
    return f"x * {scale:.2f} + {shift:.2f}", lambda x: x * scale + shift


def _binary_case(rng, op: str) -> tuple[Case, int]:
    """A random ADD or MUL model and the fused activation code its last op must carry."""
    import tensorflow as tf

    rank = int(rng.integers(1, 6))
    x_shape = _with_ones(rng, _dims(rng, rank), 0.25, keep_first=1)
    code, act_name, act = ACTIVATIONS[int(rng.choice(4, p=[0.4, 0.2, 0.2, 0.2]))]
    input_range = _input_range(rng, straddle_zero=act is not None or rng.random() < 0.5)
    # Without an activation anything goes; with one, constants stay small against x.
    bound = input_range[1] if act is not None else 8.0
    description, operand = _second_operand(rng, x_shape, bound)
    swap = bool(rng.random() < 0.5)
    combine = tf.add if op == "ADD" else tf.multiply

    def build(x):
        a, b = x, operand(x)
        return _apply_activation(tf, act, combine(b, a) if swap else combine(a, b))

    order = f"({description}) {op} x" if swap else f"x {op} ({description})"
    return Case(f"{order}, x {x_shape}, {act_name}", tuple(x_shape), build, input_range), code


def _mean_case(rng) -> Case:
    import tensorflow as tf

    keepdims = bool(rng.random() < 0.5)
    if rng.random() < 0.3:  # global average pooling, as image models end
        shape = [1, int(rng.integers(1, 13)), int(rng.integers(2, 13)), int(rng.integers(1, 9))]
        axes = [[1, 2], [2, 1], [-3, -2]][int(rng.integers(0, 3))]
    else:
        rank = int(rng.integers(2, 6))
        shape = _dims(rng, rank, largest=int(rng.choice([4, 6, 9])))
        # The batch axis only with keepdims: without, the output would lose its leading 1.
        candidates = list(range(0 if keepdims else 1, rank))
        axes = [int(a) for a in rng.choice(candidates, size=int(
            rng.integers(1, len(candidates) + 1)), replace=False)]
        if all(shape[a] == 1 for a in axes):  # else the converter drops the op
            widened = next((a for a in axes if a != 0), None)
            if widened is None:
                widened = int(rng.integers(1, rank))
                axes.append(widened)
            shape[widened] = int(rng.integers(2, 6))
        axes = [a - rank if rng.random() < 0.3 else a for a in axes]
    return Case(f"mean {shape} axes {axes} keepdims={keepdims}", tuple(shape),
                lambda x: tf.reduce_mean(x, axes, keepdims=keepdims),
                _input_range(rng, straddle_zero=False))


def _multi_op_case(rng, index: int) -> tuple[Case, set[str]]:
    """Small networks mixing the three ops with each other and with convolutions; returns the
    ops the model must contain."""
    import tensorflow as tf

    h, w, c = (int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(2, 6)))
    shape = (1, h, w, c)
    kernel = rng.normal(size=(3, 3, c, c), scale=0.5).astype(np.float32)
    kind = index % 5
    if kind == 0:  # the activity model's head
        dense = rng.normal(size=(c, int(rng.integers(2, 6)))).astype(np.float32)
        return (Case(f"conv relu -> mean [1, 2] -> dense, {shape}", shape,
                     lambda x: tf.matmul(tf.reduce_mean(
                         tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")), [1, 2]), dense)),
                {"CONV_2D", "MEAN", "FULLY_CONNECTED"})
    if kind == 1:  # residual block
        return (Case(f"relu(x + conv(x)), {shape}", shape,
                     lambda x: tf.nn.relu(x + tf.nn.conv2d(x, kernel, 1, "SAME"))),
                {"CONV_2D", "ADD"})
    if kind == 2:  # squeeze-and-excite style channel gating
        return (Case(f"x * mean(x, [1, 2], keepdims), {shape}", shape,
                     lambda x: x * tf.reduce_mean(x, [1, 2], keepdims=True)), {"MEAN", "MUL"})
    scale = rng.uniform(-2, 2, size=(c,)).astype(np.float32)
    bias = rng.uniform(-1, 1, size=(w, 1)).astype(np.float32)
    if kind == 3:  # per-channel scale, per-column bias, then a mean over channels
        return (Case(f"mean(relu6(x * s + b), -1), {shape}", shape,
                     lambda x: tf.reduce_mean(tf.nn.relu6(x * scale + bias), [-1])),
                {"MUL", "ADD", "MEAN"})
    return (Case(f"x + mean(x, -1, keepdims) * s, {shape}", shape,
                 lambda x: x + tf.reduce_mean(x, [-1], keepdims=True) * scale),
            {"MEAN", "MUL", "ADD"})


def _collapsed(model: TFLiteModel) -> bool:
    """A tensor whose calibrated range collapsed to a point: TFLM cannot prepare the model."""
    return any(model.tensor(i).type_name == "INT8" and 0 < (model.tensor(i).scale or 1) < 1e-6
               for i in range(model.tensor_count))


def _check(cases, seed, label, op, codes=None, required=None):
    """Converts the cases and compares them; every model must contain op (or, per case, the
    ops in required), and with codes its last op must be op with that fused activation."""
    models = [TFLiteModel(data, f"{label} seed {seed} case {i}")
              for i, data in enumerate(convert_cases(cases, seed, calibration_samples=48))]
    required = required or [{op}] * len(cases)
    missing = [f"{c.description}: has {m.op_names()}" for c, m, ops in
               zip(cases, models, required, strict=True) if not ops <= set(m.op_names())]
    assert not missing, "the converter did not produce the ops under test:\n" + \
        "\n".join(missing)
    if codes is not None:
        unfused = [f"{c.description}: {m.operators[-1].name} with activation "
                   f"{m.operators[-1].options.fusedActivationFunction}"
                   for c, m, code in zip(cases, models, codes, strict=True)
                   if m.operators[-1].name != op
                   or m.operators[-1].options.fusedActivationFunction != code]
        assert not unfused, "activation not fused as expected:\n" + "\n".join(unfused)
    # The compiler may refuse only a model whose range collapsed to a point (TFLM's Prepare
    # aborts on those for ADD); a few at most, so that the comparisons still count.
    kept, refused = [], []
    for case, model in zip(cases, models, strict=True):
        try:
            compile_plan(model)
        except CompileError as error:
            assert _collapsed(model), f"refused: {case.description}: {error}"
            refused.append(f"{case.description}: {error}")
        else:
            kept.append((case, model))
    assert len(refused) <= 2, "too many refused models:\n" + "\n".join(refused)
    # ADD's DSP output stage (SMMLAR) runs on the host through TINYML_EMULATE_DSP.
    builds = DSP_BUILDS if op in ("ADD", None) else DSP_BUILDS[:1]
    for flags in builds:
        failures = compare_models([m for _, m in kept], [c.description for c, _ in kept], seed,
                                  extra_flags=flags)
        assert not failures, f"build flags {flags}:\n" + "\n".join(failures)


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("seed", range(BATCHES))
def test_add_and_mul_models_match_tflm(op, seed):
    rng = np.random.default_rng((3000 if op == "ADD" else 4000) + seed)
    built = [_binary_case(rng, op) for _ in range(PER_BATCH)]
    _check([case for case, _ in built], seed, op, op, [code for _, code in built])


@pytest.mark.parametrize("seed", range(BATCHES))
def test_mean_models_match_tflm(seed):
    rng = np.random.default_rng(5000 + seed)
    _check([_mean_case(rng) for _ in range(PER_BATCH)], seed, "MEAN", "MEAN")


def test_multi_op_models_match_tflm():
    rng = np.random.default_rng(6000)
    built = [_multi_op_case(rng, i) for i in range(20)]
    _check([case for case, _ in built], 0, "multi-op", None,
           required=[ops for _, ops in built])


def _output_quantized_as_input(model_bytes: bytes) -> bytes:
    """The model with its output given its input's scale and zero point (the converter never
    makes a MEAN like that, and TFLM before 2023 took another path for it)."""
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    graph = model.subgraphs[0]
    source = graph.tensors[graph.inputs[0]].quantization
    target = graph.tensors[graph.outputs[0]].quantization
    target.scale, target.zeroPoint = list(source.scale), list(source.zeroPoint)
    return pack(model)


def test_mean_with_output_quantized_as_input_matches_tflm():
    rng = np.random.default_rng(7000)
    cases = [_mean_case(rng) for _ in range(24)]
    models = [TFLiteModel(_output_quantized_as_input(data), f"same-scale MEAN case {i}")
              for i, data in enumerate(convert_cases(cases, 0))]
    assert all(m.op_names() == ["MEAN"] and m.inputs[0].scale == m.outputs[0].scale
               and m.inputs[0].zero_point == m.outputs[0].zero_point for m in models)
    failures = compare_models(models, [c.description for c in cases], 0)
    assert not failures, "\n".join(failures)


def test_broadcast_loops_fuse_what_steps_alike():
    # Equal shapes: one flat loop, whatever the ranks.
    assert broadcast_loops((1, 2, 3), (2, 3), (1, 2, 3)) == (
        [1] * 5 + [6], [0] * 5 + [1], [0] * 5 + [1])
    # [1, 4, 1, 3] with [5, 1]: three loops, each input still for the axes it lacks.
    assert broadcast_loops((1, 4, 1, 3), (5, 1), (1, 4, 5, 3)) == (
        [1, 1, 1, 4, 5, 3], [0, 0, 0, 3, 0, 1], [0, 0, 0, 0, 1, 0])


def test_mean_multiplier_folds_the_count_like_tflm():
    # QuantizeMultiplier(1.0) = (2^30, 1); 1/4 moves two bits into the shift, exactly.
    assert mean_multiplier(0.5, 0.5, 1) == (1 << 30, 1)
    assert mean_multiplier(0.5, 0.5, 4) == (1 << 30, -1)
    # 1/3: floor(log2 3) = 1 bit, then an int64 division that truncates.
    assert mean_multiplier(0.5, 0.5, 3) == ((1 << 31) // 3, 0)


def _general_output(raw: int, multiplier: int, shift: int, offset: int) -> int:
    """TFLM's MultiplyByQuantizedMultiplierSmallerThanOne(raw) + offset, in Python integers."""
    product = raw * multiplier
    high = (abs(product + (1 << 30 if product >= 0 else 1 - (1 << 30))) >> 31) * (
        1 if product + (1 << 30 if product >= 0 else 1 - (1 << 30)) >= 0 else -1)
    right = -shift
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0) + offset


def _fast_output(raw: int, stage: tuple[int, int, int]) -> int:
    """op_add.c's DSP stage: SMMLAR(raw, 2M - 2^32, raw), then the rounding shift; every
    intermediate must stay an int32 (the kernel's registers)."""
    multiplier, rounding, shift = stage
    y = ((raw << 32) + raw * multiplier + (1 << 31)) >> 32
    total = y + rounding - (1 if y < 0 else 0)
    assert -(1 << 31) <= y < (1 << 31) and -(1 << 31) <= total < (1 << 31)
    return total >> shift


def test_add_output_stage_gives_the_general_requantization():
    rng = np.random.default_rng(9100)
    checked = 0
    for _ in range(400):
        multiplier = int(rng.integers(1 << 30, 1 << 31))
        shift = -int(rng.integers(1, 32))
        offset = int(rng.integers(-128, 128))
        bound = int(rng.choice([255 << 19, 1 << 24, 1 << 30, (1 << 31) - 1]))
        stage = add_output_stage(bound, multiplier, shift, offset)
        if stage == (0, 0, 0):
            continue
        checked += 1
        # The extremes, zero and random sums in between.
        raws = [bound, -bound, 0, 1, -1, *rng.integers(-bound, bound + 1, size=200).tolist()]
        for raw in raws:
            assert _fast_output(raw, stage) == _general_output(raw, multiplier, shift, offset), (
                raw, multiplier, shift, offset)
    assert checked > 100
    # Ties: with M = 2^30 the high multiply halves, so raw = (2k + 1) * 2^s lands halfway.
    for right in range(1, 21):
        stage = add_output_stage(255 << 20, 1 << 30, -right, -3)
        for k in (-5, -1, 0, 4):
            raw = (2 * k + 1) << right
            assert _fast_output(raw, stage) == _general_output(raw, 1 << 30, -right, -3)


def test_add_output_stage_falls_back_where_it_would_overflow():
    multiplier = (1 << 31) - 1
    assert add_output_stage((1 << 31), multiplier, -5, 0) == (0, 0, 0)  # the sum itself
    assert add_output_stage(1 << 30, multiplier, -31, 0) == (0, 0, 0)  # 2^30 rounding + more
    assert add_output_stage(1 << 20, 1 << 29, -10, 0) == (0, 0, 0)  # multiplier below 2^30
    assert add_output_stage(1 << 20, 1 << 30, 0, 0) == (0, 0, 0)  # no right shift
    assert add_output_stage(255 << 19, 1 << 30, -20, 5) == (
        (1 << 31) - (1 << 32), (1 << 19) + 5 * (1 << 20), 20)


def test_add_input_table_is_tflms_rescaling_per_int8_value():
    # 0.5 * (x + 3) * 2^20 exactly: multiplier 2^30 with no shift halves.
    table = add_input_table(3, 1 << 30, 0)
    assert table.shape == (256,)
    assert [int(v) for v in table[[0, 125, 128, 255]]] == [
        (-125) << 19, 0, 3 << 19, 130 << 19]
    # A right shift rounds half away from zero: (x + 0) * 2^20 * 0.5 / 2^21 = x / 4.
    table = add_input_table(0, 1 << 30, -21)
    assert [int(table[x + 128]) for x in (-6, -2, -1, 1, 2, 6)] == [-2, -1, 0, 0, 1, 2]
