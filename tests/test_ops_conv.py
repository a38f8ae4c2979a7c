"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, MAX_POOL_2D and AVERAGE_POOL_2D: randomized
converter-built models must give TFLM's bytes through the built-in runtime, both with the
portable kernels and with the DSP (SIMD) kernels, the latter run on the host through
TINYML_EMULATE_DSP (include/tinyml/dsp.h). The shapes are drawn to hit the DSP kernels' pair
and block tails: odd and even channel counts, depths that are and are not multiples of 4, an odd
or even number of output pixels, padding, dilation, channel multipliers and groups."""

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, REPO_ROOT, WORKSPACE
from tests.support import m4 as m4_check
from tests.support.modelgen import Case, convert_cases
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.host import CORE_INCLUDES, build_runner, run_builtin
from tinyml_pipeline.tools.compiler.layers import Const, Null
from tinyml_pipeline.tools.compiler.ops import fully_connected_packed as fc_packed
from tinyml_pipeline.tools.compiler.ops import supported_ops, widening_budget
from tinyml_pipeline.tools.compiler.ops.conv import (
    conv_filter_layout,
    conv_filter_values,
    conv_filter_wide,
    conv_pointwise8_packed,
    depthwise_packed_doubles,
    depthwise_packed_filter,
    output_stage_table,
)
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.reference import TFLMRunner, run_all
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 42  # 210 models per op
BUILDS = {"portable": (), "dsp-emulated": ("-DTINYML_EMULATE_DSP",)}

# Fused activations: (schema code, name).
ACTIVATIONS = [(0, "none"), (1, "relu"), (3, "relu6")]
CHANNELS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17]


def _tf():
    import tensorflow as tf

    return tf


def _activate(name, value):
    tf = _tf()
    if name == "relu":
        return tf.nn.relu(value)
    if name == "relu6":
        return tf.nn.relu6(value)
    return value


def _activation(rng):
    return ACTIVATIONS[int(rng.choice(3, p=[0.4, 0.3, 0.3]))]


def _input_range(rng) -> tuple[float, float]:
    """Zero points anywhere in [-128, 127]: ranges straddling zero and one-sided ones, so the
    input offset takes both signs and large magnitudes (widened values span -255 .. 255)."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return -float(rng.uniform(0.3, 4.0)), float(rng.uniform(0.3, 4.0))
    if kind == 1:
        low = float(rng.uniform(0.0, 1.0))
        return low, low + float(rng.uniform(0.5, 4.0))
    high = -float(rng.uniform(0.0, 1.0))
    return high - float(rng.uniform(0.5, 4.0)), high


def _channel_scales(rng, channels: int) -> np.ndarray:
    """Per-output-channel weight magnitudes spread over ~2 decades: per-channel scales."""
    return np.exp(rng.uniform(np.log(0.03), np.log(3.0), size=channels))


def _bias(rng, channels: int):
    return (rng.normal(size=channels) * rng.choice([0.1, 0.5, 2.0])).astype(np.float32) \
        if rng.random() < 0.7 else None


def _spatial(rng, kernel: int, dilation: int, padding: str, largest: int = 11):
    """An input extent for which the op has at least one output."""
    effective = (kernel - 1) * dilation + 1
    low = effective if padding == "VALID" else 1
    return int(rng.integers(low, max(low, largest) + 1))


def _stride_and_dilation(rng, allow_dilation=True):
    """TF forbids stride > 1 together with dilation > 1."""
    if allow_dilation and rng.random() < 0.25:
        return (1, 1), (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    return (int(rng.integers(1, 4)), int(rng.integers(1, 4))), (1, 1)


def _conv_case(rng):
    tf = _tf()
    padding = str(rng.choice(["SAME", "VALID"]))
    (sh, sw), (dh, dw) = _stride_and_dilation(rng)
    kh, kw = (1, 1) if rng.random() < 0.2 else (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    groups = int(rng.choice([2, 3])) if rng.random() < 0.1 else 1
    filter_c = int(rng.choice(CHANNELS[:8]))
    in_c = filter_c * groups
    out_c = groups * int(rng.integers(1, 7)) if groups > 1 else int(rng.choice(CHANNELS))
    shape = (1, _spatial(rng, kh, dh, padding), _spatial(rng, kw, dw, padding), in_c)
    weights = (rng.normal(size=(kh, kw, filter_c, out_c)) *
               _channel_scales(rng, out_c)).astype(np.float32)
    bias = _bias(rng, out_c)
    code, act = _activation(rng)

    def build(x):
        y = tf.nn.conv2d(x, weights, strides=[1, sh, sw, 1], padding=padding,
                         dilations=[1, dh, dw, 1])
        return _activate(act, y if bias is None else tf.nn.bias_add(y, bias))

    return Case(f"conv {shape} k{kh}x{kw} c{filter_c}x{groups}g->{out_c} s{sh}{sw} d{dh}{dw} "
                f"{padding} bias={bias is not None} {act}", shape, build,
                _input_range(rng)), code


def _depthwise_case(rng):
    tf = _tf()
    padding = str(rng.choice(["SAME", "VALID"]))
    stride, (dh, dw) = _stride_and_dilation(rng)
    stride = stride[0]  # TF's depthwise needs equal strides
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    multiplier = int(rng.choice([1, 1, 1, 2, 3, 4, 5, 8]))
    in_c = int(rng.choice(CHANNELS))
    if rng.random() < 0.4:  # MobileNet's: the packed 3x3 runs (dw_run9), their border pixels
        kh = kw = 3
        multiplier = 1
        in_c = int(rng.choice([c for c in CHANNELS if c >= 4]))
    shape = (1, _spatial(rng, kh, dh, padding), _spatial(rng, kw, dw, padding),
             in_c)
    weights = (rng.normal(size=(kh, kw, in_c, multiplier)) *
               _channel_scales(rng, in_c * multiplier).reshape(in_c, multiplier)
               ).astype(np.float32)
    bias = _bias(rng, in_c * multiplier)
    code, act = _activation(rng)

    def build(x):
        y = tf.nn.depthwise_conv2d(x, weights, strides=[1, stride, stride, 1], padding=padding,
                                   dilations=[dh, dw])
        return _activate(act, y if bias is None else tf.nn.bias_add(y, bias))

    return Case(f"depthwise {shape} k{kh}x{kw} x{multiplier} s{stride} d{dh}{dw} {padding} "
                f"bias={bias is not None} {act}", shape, build, _input_range(rng)), code


def _fully_connected_case(rng):
    tf = _tf()
    depth = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 31, 32, 33, 64, 75]))
    units = int(rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 16, 25]))
    # 3-D: batched rows (keep_num_dims). Depth 1 would become a MUL.
    rows = int(rng.integers(2, 6)) if depth > 1 and rng.random() < 0.35 else 0
    shape = (1, rows, depth) if rows else (1, depth)
    weights = (rng.normal(size=(depth, units)) * _channel_scales(rng, units)
               ).astype(np.float32)
    bias = _bias(rng, units)
    code, act = _activation(rng)

    def build(x):
        y = tf.matmul(x, weights)
        return _activate(act, y if bias is None else y + bias)

    return Case(f"fully_connected {shape} -> {units} bias={bias is not None} {act}", shape,
                build, _input_range(rng)), code


def _pool_case(rng, op):
    tf = _tf()
    padding = str(rng.choice(["SAME", "VALID"]))
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    shape = (1, _spatial(rng, kh, 1, padding), _spatial(rng, kw, 1, padding),
             int(rng.choice(CHANNELS)))
    pool = tf.nn.max_pool2d if op == "MAX_POOL_2D" else tf.nn.avg_pool2d
    return Case(f"{op} {shape} k{kh}x{kw} s{sh}{sw} {padding}", shape,
                lambda x: pool(x, ksize=[kh, kw], strides=[sh, sw], padding=padding),
                _input_range(rng)), None


def _network_case(rng):
    """conv -> pool -> reshape -> dense, sometimes with a depthwise stage first."""
    tf = _tf()
    size, in_c = int(rng.integers(6, 13)), int(rng.choice([1, 3, 4]))
    mid_c, units = int(rng.choice([4, 5, 8])), int(rng.choice([3, 10]))
    depthwise = rng.random() < 0.5
    pool = tf.nn.max_pool2d if rng.random() < 0.5 else tf.nn.avg_pool2d
    # VALID on an odd size leaves the convolution's last column unread (fusion trims it).
    pool_padding = str(rng.choice(["SAME", "VALID"]))
    dw_weights = rng.normal(size=(3, 3, in_c, 1)).astype(np.float32)
    conv_weights = (rng.normal(size=(3, 3, in_c, mid_c)) * 0.5).astype(np.float32)
    conv_bias = rng.normal(size=mid_c).astype(np.float32) * 0.1
    pooled = (size + 1) // 2 if pool_padding == "SAME" else size // 2
    dense = (rng.normal(size=(pooled * pooled * mid_c, units)) * 0.2).astype(np.float32)

    def build(x):
        if depthwise:
            x = tf.nn.relu6(tf.nn.depthwise_conv2d(x, dw_weights, [1, 1, 1, 1], "SAME"))
        x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, conv_weights, 1, "SAME"), conv_bias))
        x = pool(x, ksize=2, strides=2, padding=pool_padding)
        return tf.matmul(tf.reshape(x, [1, -1]), dense)

    return Case(f"network {size}x{size}x{in_c} dw={depthwise} conv->{mid_c} "
                f"{pool.__name__} {pool_padding} dense->{units}", (1, size, size, in_c), build,
                (0.0, 1.0)), None


# Each op under test: its case maker and the base of its random seeds.
OPS = {
    "CONV_2D": (_conv_case, 6000),
    "DEPTHWISE_CONV_2D": (_depthwise_case, 7000),
    "FULLY_CONNECTED": (_fully_connected_case, 8000),
    "MAX_POOL_2D": (lambda rng: _pool_case(rng, "MAX_POOL_2D"), 9000),
    "AVERAGE_POOL_2D": (lambda rng: _pool_case(rng, "AVERAGE_POOL_2D"), 9500),
}


def _converted(built, seed, op) -> list[TFLiteModel]:
    """Converts the cases (one conversion) and asserts that each model holds `op`, with the
    expected fused activation where one is given."""
    cases = [case for case, _ in built]
    models = [TFLiteModel(data, f"{op} seed {seed} case {i}")
              for i, data in enumerate(convert_cases(cases, seed))]
    missing = [c.description for c, m in zip(cases, models, strict=True) if op not in m.op_names()]
    assert not missing, f"no {op} in the models of {missing}"
    unfused = [f"{c.description}: last op {m.operators[-1].name} activation "
               f"{m.operators[-1].options.fusedActivationFunction}"
               for (c, code), m in zip(built, models, strict=True) if code is not None and
               (m.operators[-1].name != op or
                m.operators[-1].options.fusedActivationFunction != code)]
    assert not unfused, "activation not fused as expected:\n" + "\n".join(unfused)
    return models


def _compare_both_builds(models, descriptions, seed, samples=3):
    _prebuild(models)
    failures = [f"[{build}] {line}" for build, flags in BUILDS.items()
                for line in compare_models(models, descriptions, seed, samples, flags)]
    print("\n".join(failures))
    assert not failures, f"{len(failures)} mismatches:\n" + "\n".join(failures)


def _prebuild(models):
    """Compiles both runners at once (gcc dominates this file's time): compare_models then
    finds them in the content-hashed build cache. Same model names as compare_models uses; if
    those ever differ, this is only wasted work."""
    named = [(f"case{index}", model) for index, model in enumerate(models)]
    with ThreadPoolExecutor(len(BUILDS)) as pool:
        list(pool.map(lambda flags: build_runner(named, flags), BUILDS.values()))


@pytest.mark.parametrize("seed", range(BATCHES))
@pytest.mark.parametrize("op", OPS)
def test_models_match_tflm(op, seed):
    """PER_BATCH random single-op models (one conversion), both builds."""
    make_case, seed_base = OPS[op]
    rng = np.random.default_rng(seed_base + seed)
    built = [make_case(rng) for _ in range(PER_BATCH)]
    models = _converted(built, seed, op)
    _compare_both_builds(models, [case.description for case, _ in built], seed)


def _fc_layers(model: TFLiteModel) -> list[dict]:
    return [dict(layer.fields) for layer in compile_plan(model).layers
            if layer.op == "FULLY_CONNECTED"]


def test_fully_connected_int8_rows_match_tflm(monkeypatch):
    """The int8 rows a model past the flash budget keeps (the random models are packed):
    budget 0, so no layer is packed, both builds."""
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", 0)
    rng = np.random.default_rng(8100)
    built = [_fully_connected_case(rng) for _ in range(PER_BATCH)]
    models = _converted(built, 0, "FULLY_CONNECTED")
    fields = [f for model in models for f in _fc_layers(model)]
    assert all(isinstance(f["packed"], Null) and isinstance(f["filter"], Const) for f in fields)
    assert sum(isinstance(f["output_stage"], Const) for f in fields) > PER_BATCH // 2
    _compare_both_builds(models, [case.description for case, _ in built], 0)


def _conv_layers(model: TFLiteModel) -> list[dict]:
    return [dict(layer.fields) for layer in compile_plan(model).layers if layer.op == "CONV_2D"]


def test_conv_int8_filters_match_tflm(monkeypatch):
    """The int8 filters a model past the flash budget keeps (the random models' are small and
    widened): no budget and no small-filter rule, so no filter is widened, both builds."""
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", 0)
    monkeypatch.setattr(widening_budget, "ALWAYS_WIDENED_CONV_BYTES", 0)
    rng = np.random.default_rng(6100)
    built = [_conv_case(rng) for _ in range(PER_BATCH)]
    models = _converted(built, 0, "CONV_2D")
    fields = [f for model in models for f in _conv_layers(model)]
    assert all(isinstance(f["filter_wide"], Null) and isinstance(f["filter"], Const)
               for f in fields)
    _compare_both_builds(models, [case.description for case, _ in built], 0)


def test_conv_filters_widen_within_the_flash_budget(monkeypatch):
    """Past the small-filter rule, a CONV_2D's filter is widened exactly while the model's
    constants plus the growth stay within the budget."""
    monkeypatch.setattr(widening_budget, "ALWAYS_WIDENED_CONV_BYTES", 0)
    rng = np.random.default_rng(6200)
    model = _converted([_conv_case(rng)], 0, "CONV_2D")[0]
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", 0)
    [layer] = _conv_layers(model)
    growth = layer["filter"].values.size  # widening doubles the laid-out int8 filter
    constants = sum(int(np.prod(model.tensor(i).shape)) * np.dtype(model.tensor(i).dtype).itemsize
                    for i in range(model.tensor_count) if model.tensor(i).is_constant)
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", constants + growth)
    [wide] = _conv_layers(model)
    assert isinstance(wide["filter_wide"], Const) and isinstance(wide["filter"], Null)
    assert wide["filter_wide"].values.size == growth // 2
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", constants + growth - 1)
    [kept] = _conv_layers(model)
    assert isinstance(kept["filter_wide"], Null) and isinstance(kept["filter"], Const)


def test_fully_connected_packs_within_the_flash_budget(monkeypatch):
    rng = np.random.default_rng(8200)
    case, _ = _fully_connected_case(rng)
    while "bias=True" not in case.description or case.input_shape[-1] < fc_packed.MIN_DEPTH:
        case, _ = _fully_connected_case(rng)
    model = _converted([(case, None)], 0, "FULLY_CONNECTED")[0]
    op = next(op for op in model.operators if op.name == "FULLY_CONNECTED")
    units, depth = model.tensor(op.inputs[1]).shape
    constants = sum(int(np.prod(model.tensor(i).shape)) * np.dtype(model.tensor(i).dtype).itemsize
                    for i in range(model.tensor_count) if model.tensor(i).is_constant)
    budget = constants + 4 * fc_packed.packed_words(units, depth) - units * depth
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", budget)
    [packed] = _fc_layers(model)
    assert isinstance(packed["packed"], Const) and packed["packed"].label == "filter"
    assert isinstance(packed["filter"], Null) and isinstance(packed["output_stage"], Null)
    assert packed["packed"].values.size == fc_packed.packed_words(units, depth)
    monkeypatch.setattr(widening_budget, "BUDGET_BYTES", budget - 1)
    [kept] = _fc_layers(model)
    assert isinstance(kept["packed"], Null) and isinstance(kept["filter"], Const)
    assert isinstance(kept["output_stage"], Const)


def test_small_networks_match_tflm():
    rng = np.random.default_rng(9900)
    built = [_network_case(rng) for _ in range(12)]
    models = _converted(built, 0, "FULLY_CONNECTED")
    assert all("CONV_2D" in m.op_names() for m in models)
    _compare_both_builds(models, [case.description for case, _ in built], 0)


def _mobilenet_depthwise_case(rng, kernel, stride, channels, size, padding, act):
    tf = _tf()
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    weights = (rng.normal(size=(kh, kw, channels, 1)) *
               _channel_scales(rng, channels).reshape(channels, 1)).astype(np.float32)
    bias = rng.normal(size=channels).astype(np.float32) * 0.5

    def build(x):
        y = tf.nn.depthwise_conv2d(x, weights, strides=[1, stride, stride, 1], padding=padding)
        return _activate(act, tf.nn.bias_add(y, bias))

    return Case(f"depthwise {size}x{size}x{channels} k{kh}x{kw} s{stride} {padding} {act}",
                (1, size, size, channels), build, _input_range(rng))


def test_mobilenet_style_depthwise_layers_match_tflm():
    """The DSP kernel's packed path on the shapes it is for, which the random cases rarely
    draw: 3x3 (its unrolled group) and 5x5 windows, multiplier 1, channels in groups of 4 and
    with a tail, stride 1 and 2, SAME (border pixels read the zero-point row) and VALID; and
    9 taps not 3x3 (1x9, 9x1), which must not take the 3x3 runs' border lists."""
    rng = np.random.default_rng(9950)
    shapes = [(3, 1, 16, 9, "SAME", "relu6"), (3, 2, 18, 10, "SAME", "none"),
              (3, 1, 8, 7, "VALID", "relu"), (3, 2, 32, 7, "SAME", "relu6"),
              (5, 1, 12, 8, "SAME", "none"), (3, 1, 64, 5, "SAME", "relu"),
              (2, 1, 8, 6, "SAME", "none"), (3, 2, 7, 9, "VALID", "relu6"),
              ((1, 9), 1, 8, 10, "SAME", "none"), ((9, 1), 1, 12, 10, "SAME", "relu")]
    cases = [_mobilenet_depthwise_case(rng, *shape) for shape in shapes]
    models = [TFLiteModel(data, f"mobilenet depthwise case {i}")
              for i, data in enumerate(convert_cases(cases, 0))]
    assert all("DEPTHWISE_CONV_2D" in m.op_names() for m in models)
    _compare_both_builds(models, [case.description for case in cases], 0)


def _first_and_pointwise_conv_case(rng, kernel, stride, in_c, out_c, size, padding, act,
                                   batches=1):
    tf = _tf()
    weights = (rng.normal(size=(kernel, kernel, in_c, out_c)) *
               _channel_scales(rng, out_c)).astype(np.float32)
    bias = rng.normal(size=out_c).astype(np.float32) * 0.5

    def build(x):
        y = tf.nn.conv2d(x, weights, strides=[1, stride, stride, 1], padding=padding)
        return _activate(act, tf.nn.bias_add(y, bias))

    return Case(f"conv {batches}x{size}x{size}x{in_c} k{kernel} s{stride} ->{out_c} {padding} "
                f"{act}", (batches, size, size, in_c), build, _input_range(rng))


def test_rgb_first_layers_and_small_pointwise_convs_match_tflm():
    """The shapes of MobileNet's first layers, which the random cases rarely draw: 3x3 over 3
    channels (rows of 9 values assembled in place, column_nines), stride 2 with SAME padding
    (only the last row and column pass the image) and stride 1, and 1x1 over 8 channels
    (conv_pointwise8_asm on the M4: even output channel counts) or 16."""
    rng = np.random.default_rng(9970)
    shapes = [(3, 2, 3, 8, 12, "SAME", "relu6"), (3, 2, 3, 5, 11, "SAME", "none"),
              (3, 1, 3, 8, 9, "SAME", "relu"), (3, 2, 3, 16, 10, "VALID", "none"),
              (1, 1, 8, 16, 9, "VALID", "relu6"), (1, 1, 8, 6, 7, "SAME", "none"),
              (1, 1, 8, 7, 6, "SAME", "relu"), (1, 1, 16, 32, 6, "SAME", "relu6")]
    cases = [_first_and_pointwise_conv_case(rng, *shape) for shape in shapes]
    models = [TFLiteModel(data, f"first layer or pointwise case {i}")
              for i, data in enumerate(convert_cases(cases, 0))]
    assert all("CONV_2D" in m.op_names() for m in models)
    _compare_both_builds(models, [case.description for case in cases], 0)


def test_digits_model_matches_tflm_with_dsp_kernels():
    """The committed CNN (CONV_2D, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX) on the first
    2000 test images, both builds."""
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / "digits", limit=2000)
    inputs = test.inputs
    unsupported = sorted(set(model.op_names()) - set(supported_ops()))
    if unsupported:
        pytest.skip(f"the built-in runtime lacks {unsupported} so far")
    expected = run_all(TFLMRunner(model), inputs)
    for build, flags in BUILDS.items():
        builtin = run_builtin(build_runner([("digits", model)], flags), "digits", model, inputs)
        differing = np.flatnonzero((builtin.reshape(len(inputs), -1) !=
                                    expected.reshape(len(inputs), -1)).any(axis=1))
        assert differing.size == 0, f"[{build}] {differing.size} images differ: {differing[:10]}"


ARM_FLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2",
             "-std=c99", "-Wall", "-Wextra", "-Werror")
RUNTIME = REPO_ROOT / "firmware" / "lib" / "tinyml"

# Instructions each kernel's DSP path must contain on a Cortex-M4.
DSP_INSTRUCTIONS = {
    "op_conv2d": {"smlad", "sxtb16", "sxtab16"},
    "op_fully_connected": {"smlad", "sxtb16", "sxtab16"},
    "op_depthwise_conv2d": {"smlabb", "smlatt", "smlatb", "sxtb16", "sxtab16", "smlad", "pkhbt",
                            "pkhtb"},
    "op_pooling": {"ssub8", "sel", "sxtab16"},
}


def test_runtime_builds_for_cortex_m4_with_dsp_instructions(tmp_path):
    gcc, objdump = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-objdump")
    if gcc is None or objdump is None:
        pytest.skip("arm-none-eabi-gcc / arm-none-eabi-objdump are not installed")
    for source in sorted((RUNTIME / "src").glob("*.c")):
        result = subprocess.run([gcc, *ARM_FLAGS, *CORE_INCLUDES, "-c", str(source),
                                 "-o", str(tmp_path / f"{source.stem}.o")],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{source.name}:\n{result.stderr}"
    for stem, wanted in DSP_INSTRUCTIONS.items():
        listing = subprocess.run([objdump, "-d", str(tmp_path / f"{stem}.o")],
                                 capture_output=True, text=True, check=True).stdout
        mnemonics = {line.split("\t")[2].strip() for line in listing.splitlines()
                     if line.count("\t") >= 2}
        assert wanted <= mnemonics, f"{stem}.o lacks {sorted(wanted - mnemonics)}"


@pytest.fixture(scope="module")
def kernel_checks(tmp_path_factory):
    """Both checks from one CMake tree (firmware/CMakeLists.txt, TINYML_KERNEL_CHECK); a build
    failure is the FirmwareError `tinyml firmware build` raises, naming the log."""
    missing = m4_check.missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (the M4 kernel check cross-compiles "
                    "and runs on QEMU)")
    return m4_check.build(tmp_path_factory.mktemp("m4-kernel-check"))


@pytest.mark.parametrize("dsp_path", m4_check.DSP_PATHS)
def test_dsp_kernels_equal_portable_ones_on_a_cortex_m4_in_qemu(dsp_path, kernel_checks):
    """The real instructions, not the emulation: tests/support/m4/kernel_check.c runs each DSP
    kernel against the portable one (same source, -DTINYML_DISABLE_DSP, renamed ref_*) on random
    parameters on QEMU's Cortex-M4 board, on the QEMU port's start-up and linker script; once
    with the compiler's builtins, once with the inline assembly that GCC 7 (the board's
    PlatformIO toolchain) compiles instead."""
    result = m4_check.run(kernel_checks[dsp_path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all identical" in result.stdout + result.stderr  # semihosting writes to stderr


# ---- what the converter precomputes for the DSP kernels --------------------------------------


def test_conv_filter_layout_starts_runs_on_blocks_of_four():
    # (filter_h, filter_w, filter_c, input_c, input_w, dilation_h, dilation_w)
    # digits' first layer: rows of 3 contiguous values, each stored as 4.
    assert conv_filter_layout(3, 3, 1, 1, 28, 1, 1) == (12, 4, 1)
    # Rows of a multiple of 4 need no gaps.
    assert conv_filter_layout(3, 3, 8, 8, 13, 1, 1) == (72, 24, 8)
    # The whole patch one run (the filter spans the input's width): dense, the end padded.
    assert conv_filter_layout(5, 1, 6, 6, 1, 1, 1) == (32, 6, 6)
    assert conv_filter_layout(1, 3, 5, 5, 9, 1, 1) == (16, 15, 5)
    # Groups (filter_c < input_c) and dilation across break rows into taps.
    assert conv_filter_layout(3, 3, 4, 8, 10, 1, 1) == (36, 12, 4)
    assert conv_filter_layout(2, 2, 7, 7, 10, 1, 2) == (32, 16, 8)
    assert conv_filter_layout(2, 2, 3, 3, 10, 1, 2) == (12, 6, 3)  # taps of 4: a third more
    # Gaps adding more than a quarter: dense (3x3x3: rows of 12 would be 36 values for 27).
    assert conv_filter_layout(3, 3, 3, 3, 10, 1, 1) == (28, 9, 3)
    assert conv_filter_layout(3, 3, 1, 2, 10, 1, 1) == (12, 3, 1)


def test_conv_filter_values_places_taps_and_zeroes_the_gaps():
    weights = np.arange(1, 2 * 3 * 3 + 1, dtype=np.int8).reshape(2, 3, 3, 1)
    values = conv_filter_values(weights, 12, 4, 1)
    assert values.shape == (2, 12)
    assert values[0].tolist() == [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0]
    assert values[1].tolist() == [10, 11, 12, 0, 13, 14, 15, 0, 16, 17, 18, 0]


def test_conv_pointwise8_packed_interleaves_words_and_stage_rows():
    wide = np.arange(4 * 4, dtype=np.int32) - 8
    stage = np.array([[100 + c, -(1 << 31) + c, 1 << 4, 5 + c % 2] for c in range(4)],
                     dtype=np.int32).reshape(-1)
    words = conv_pointwise8_packed(wide, stage).reshape(4, 8)
    assert words.dtype == np.int32
    assert words[:, :4].tolist() == wide.reshape(4, 4).tolist()
    assert words[:3, 4:].tolist() == stage.reshape(4, 4)[:3].tolist()
    # The last shift word ends the kernel's loop: bit 8, above the byte ASR reads.
    assert words[3, 4:].tolist() == [103, -(1 << 31) + 3, 1 << 4, 6 | 1 << 8]


def test_conv_pointwise8_packed_is_emitted_for_1x1_over_8_channels_only():
    rng = np.random.default_rng(9210)
    shapes = [(1, 1, 8, 16, 5, "SAME", "none"), (1, 1, 8, 6, 5, "SAME", "none"),
              (1, 1, 16, 16, 5, "SAME", "none"), (1, 2, 8, 16, 5, "SAME", "none"),
              (1, 1, 8, 16, 5, "SAME", "relu6")]
    cases = [_first_and_pointwise_conv_case(rng, *shape) for shape in shapes]
    for case, data in zip(cases, convert_cases(cases, 0), strict=True):
        [layer] = [dict(layer.fields) for layer in
                   compile_plan(TFLiteModel(data, case.description)).layers
                   if layer.op == "CONV_2D"]
        wanted = case is cases[0] or (case is cases[4] and layer["act_max"] == 127 and
                                      layer["act_min"] == -128)
        assert isinstance(layer["packed"], Const if wanted else Null), case.description
        if wanted:
            assert layer["packed"].values.tolist() == conv_pointwise8_packed(
                layer["filter_wide"].values, layer["output_stage"].values).tolist()


def test_conv_filter_wide_pairs_each_block_as_sxtb16_would():
    rng = np.random.default_rng(9200)
    values = rng.integers(-128, 128, size=(3, 12), dtype=np.int8)
    words = conv_filter_wide(values)
    assert words.dtype == np.int32 and words.shape == (3 * 12 // 2,)
    lanes = [((int(w) & 0xFFFF) - ((int(w) & 0x8000) << 1), int(w) >> 16) for w in words]
    for oc in range(3):
        for block in range(3):
            w0, w1, w2, w3 = (int(v) for v in values[oc, 4 * block:4 * block + 4])
            first = (oc * 12 + 4 * block) // 2
            assert lanes[first] == (w0, w2) and lanes[first + 1] == (w1, w3)


def _general_requantization(acc: int, multiplier: int, shift: int, output_offset: int) -> int:
    """gemmlowp's MultiplyByQuantizedMultiplier (TFLM's double rounding) plus the offset,
    unclamped, in Python integers; acc fits int32 and shift < 0 here."""
    product = acc * multiplier
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    high = _trunc_div(product + nudge, 1 << 31)  # C's division truncates toward zero
    right = -shift
    mask = (1 << right) - 1
    remainder, threshold = high & mask, (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0) + output_offset


def _trunc_div(a: int, b: int) -> int:
    quotient = abs(a) // b
    return quotient if a >= 0 else -quotient


def _fast_requantization(acc: int, stage) -> int:
    """tinyml_output_stage_fast (op_conv.h) with the instructions' semantics: SMMLAR's 64-bit sum
    wraps, its high word is taken; the C's int32 sums are checked not to overflow."""
    _, multiplier2, rounding, right = (int(v) for v in stage)
    total = ((acc << 32) + acc * multiplier2 + (1 << 31)) % (1 << 64)
    high = (total >> 32) - ((1 << 32) if total >> 63 else 0)
    value = high + rounding - (1 if high < 0 else 0)
    assert -(1 << 31) <= high + rounding and value < (1 << 31), "the converter's bound is wrong"
    return value >> right


def test_output_stage_table_gives_the_general_requantization():
    rng = np.random.default_rng(5)
    for _ in range(300):
        channels, values = int(rng.integers(1, 5)), int(rng.integers(1, 40))
        weights = rng.integers(-127, 128, size=(channels, values))
        bias = rng.integers(-2**24, 2**24, size=channels)
        multipliers = rng.integers(1 << 30, 1 << 31, size=channels)
        shifts = rng.integers(-31, 0, size=channels)
        output_offset = int(rng.integers(-128, 128))
        table = output_stage_table(weights, bias, multipliers, shifts, output_offset)
        if table is None:
            continue
        table = table.reshape(channels, 4)
        for channel in range(channels):
            bound = abs(int(bias[channel])) + 255 * int(np.abs(weights[channel]).sum())
            for acc in [bound, -bound, 0, 1, -1, *rng.integers(-bound, bound + 1, size=20)]:
                acc = int(acc)
                assert _fast_requantization(acc, table[channel]) == _general_requantization(
                    acc, int(multipliers[channel]), int(shifts[channel]), output_offset)
        assert table[:, 0].tolist() == bias.tolist()


def test_output_stage_table_ties_round_away_from_zero():
    # multiplier 2^30 (scale 2^-1 * 2^shift): every odd accumulator is a tie of the first rounding.
    table = output_stage_table(np.ones((1, 1)), None, [1 << 30], [-1], 0).reshape(4)
    for acc in range(-20, 21):
        assert _fast_requantization(acc, table) == _general_requantization(acc, 1 << 30, -1, 0)


def test_output_stage_table_is_left_out_where_it_would_not_be_exact():
    weights = np.ones((1, 4))
    assert output_stage_table(weights, None, [1 << 30], [-3], 5) is not None
    assert output_stage_table(weights, None, [1 << 30], [0], 5) is None  # no right shift
    assert output_stage_table(weights, None, [1 << 30], [1], 5) is None
    assert output_stage_table(weights, None, [0], [-3], 5) is None  # a zero scale
    assert output_stage_table(weights, [2**31 - 100], [1 << 30], [-3], 5) is None  # may wrap
    # The rounding constant with the offset folded in, 2^30 + 5 * 2^31, does not fit.
    assert output_stage_table(weights, None, [1 << 30], [-31], 5) is None
    assert output_stage_table(weights, None, [1 << 30], [-31], 0) is not None


def test_output_stage_table_folds_the_input_offset_for_fully_connected():
    weights = np.array([[1, -2, 3], [4, 5, -6]])
    table = output_stage_table(weights, [10, 20], [1 << 30] * 2, [-2] * 2, -7,
                               folded_input_offset=3).reshape(2, 4)
    assert table[:, 0].tolist() == [10 + 3 * 2, 20 + 3 * 3]
    assert table[:, 1].tolist() == [-(1 << 31)] * 2  # 2 * 2^30 - 2^32
    assert table[:, 2].tolist() == [2 - 7 * 4] * 2
    assert table[:, 3].tolist() == [2, 2]


def test_depthwise_packed_filter_pairs_taps_per_group_of_four():
    # 3 taps (a 1x3 window), 5 channels: one group of 4, the fifth channel left to the kernel's
    # general path. Weights w[t][c] = 10 * t + c + 1, negated on odd channels. Everything the
    # accumulators sum is doubled.
    weights = np.array([[[(10 * t + c + 1) * (-1) ** c for c in range(5)] for t in range(3)]],
                       dtype=np.int64)
    # Stand-in rows {start, 2M - 2^32, r, s}.
    stage = np.array([[100 + c, 2 * ((1 << 30) + c) - (1 << 32), 7 * c, 3 + c]
                      for c in range(5)], dtype=np.int64).reshape(-1)
    packed = depthwise_packed_filter(weights, [1000, 2000, 3000, 4000, 5000], 3, stage)
    sums = weights.reshape(3, 5).sum(axis=0)
    assert packed[:4].tolist() == [2 * (1000 + 3 * sums[0]), 2 * (2000 + 3 * sums[1]),
                                   2 * (3000 + 3 * sums[2]), 2 * (4000 + 3 * sums[3])]

    def half(value):
        return value & 0xFFFF

    # Taps 0 and 1 paired per channel: the low half tap 0's, the high half tap 1's.
    pairs = [(half(2 * weights[0, 0, c]) | (2 * int(weights[0, 1, c]) << 16)) for c in range(4)]
    assert (packed[4:8].astype(np.int64) & 0xFFFFFFFF).tolist() == \
        [p & 0xFFFFFFFF for p in pairs]
    # The odd last tap as (c0, c2), (c1, c3).
    last = 2 * weights[0, 2]
    assert (packed[8:10].astype(np.int64) & 0xFFFFFFFF).tolist() == [
        (half(last[0]) | (int(last[2]) << 16)) & 0xFFFFFFFF,
        (half(last[1]) | (int(last[3]) << 16)) & 0xFFFFFFFF]
    # Then each channel's output stage row without its start, the multiplier itself.
    assert packed[10:].tolist() == [value for c in range(4)
                                    for value in ((1 << 30) + c, 7 * c, 3 + c)]


def test_depthwise_packed_filter_3x3_holds_the_tap_offsets_and_the_end_mark():
    """3x3 windows: each pair's input offsets (and the last tap's) in front of its weights,
    the group's first channel added, and bit 31 of the last group's last s set (dw_run9)."""
    rng = np.random.default_rng(1)
    weights = rng.integers(-127, 128, size=(3, 3, 9))
    stage = np.array([[c, 2 * ((1 << 30) + c) - (1 << 32), c, 1 + c] for c in range(9)],
                     dtype=np.int64).reshape(-1)
    offsets = [100 * t for t in range(9)]
    plain = depthwise_packed_filter(weights, None, 5, stage)
    packed = depthwise_packed_filter(weights, None, 5, stage, offsets)
    group = 4 + 4 * 6 + 3 + 12
    assert len(packed) == 2 * group and len(plain) == 2 * (group - 9)
    for g in range(2):
        words, old = packed[g * group:(g + 1) * group], plain[g * (group - 9):]
        assert words[:4].tolist() == old[:4].tolist()  # the starts
        for pair in range(4):
            at = 4 + 6 * pair
            assert words[at:at + 2].tolist() == [offsets[2 * pair] + 4 * g,
                                                 offsets[2 * pair + 1] + 4 * g]
            assert words[at + 2:at + 6].tolist() == old[4 + 4 * pair:8 + 4 * pair].tolist()
        assert words[28:31].tolist() == [offsets[8] + 4 * g, *old[20:22].tolist()]
        rows = old[22:34].tolist()
        if g == 1:
            rows[-1] -= 1 << 31  # bit 31 set: ASR reads the bottom byte, s itself
        assert words[31:].tolist() == rows
    assert packed[-1] < 0 and packed[-1] & 0xFF == 1 + 7 and packed[group - 1] == 1 + 3
    with pytest.raises(ValueError):
        depthwise_packed_filter(weights, None, 5, stage, offsets[:8])


def test_depthwise_packed_filter_start_values_wrap_as_the_kernel_sums():
    weights = np.full((1, 2, 4), 127, dtype=np.int64)
    packed = depthwise_packed_filter(weights, [2**30 - 1] * 4, 128, np.zeros(16, np.int64))
    expected = (2 * (2**30 - 1 + 128 * 254) + 2**31) % 2**32 - 2**31
    assert packed.dtype == np.int32 and packed[:4].tolist() == [expected] * 4


def test_depthwise_packed_filter_only_where_the_doubled_sums_fit():
    """The kernel's accumulators hold 2 * acc: the converter packs only where that cannot
    overflow for any input, 2 * (|bias| + 255 * sum |w|) < 2^31."""
    weights = np.full((3, 3, 4), -127, dtype=np.int64)
    edge = (1 << 30) - 1 - 255 * 127 * 9
    assert depthwise_packed_doubles(weights, [edge] * 4)
    assert not depthwise_packed_doubles(weights, [edge, edge + 1, 0, 0])
    assert not depthwise_packed_doubles(weights, [-edge - 1, 0, 0, 0])
    assert depthwise_packed_doubles(weights, None)


def test_fully_connected_rows_below_a_block_stay_int8():
    """Rows of 1 to 3 values would run packed in C, dearer than their int8 rows; the budget
    does not count them. The random models draw such depths."""
    rng = np.random.default_rng(8000)
    built = [_fully_connected_case(rng) for _ in range(PER_BATCH)]
    models = _converted(built, 0, "FULLY_CONNECTED")
    layers = [f for model in models for f in _fc_layers(model)]
    shallow = [f for f in layers if f["accum_depth"] < fc_packed.MIN_DEPTH]
    assert shallow and all(isinstance(f["packed"], Null) for f in shallow)
    # The rest all packed (every one of these draws has the fast output stage).
    assert all(isinstance(f["packed"], Const) for f in layers
               if f["accum_depth"] >= fc_packed.MIN_DEPTH)


def test_fully_connected_packed_interleaves_four_rows_per_group():
    # 6 rows of depth 6: two groups (the second completed with 2 zero rows), two blocks (the
    # second completed with 2 zero weights). Weights w[r][k] = 10 * r + k + 1, odd rows negated.
    weights = np.array([[(10 * r + k + 1) * (-1) ** r for k in range(6)] for r in range(6)])
    stage = np.arange(6 * 4) + 100  # stand-in rows {start, m, r, s}
    words = fc_packed.fully_connected_packed(weights, stage)
    assert words.dtype == np.int32
    assert words.size == fc_packed.packed_words(6, 6) == 2 * (16 + 8 * 2)
    lanes = [((int(w) & 0xFFFF) - ((int(w) & 0x8000) << 1), int(w) >> 16) for w in words]
    padded = np.zeros((8, 8), np.int64)
    padded[:6, :6] = weights
    stage = np.vstack([stage.reshape(6, 4), np.zeros((2, 4), np.int64)])
    for group in range(2):
        base = group * 32
        rows = range(4 * group, 4 * group + 4)
        assert words[base:base + 4].tolist() == [stage[r, 0] for r in rows]
        for block in range(2):
            for lane, r in enumerate(rows):
                w0, w1, w2, w3 = padded[r, 4 * block:4 * block + 4]
                at = base + 4 + 8 * block + 2 * lane
                assert lanes[at] == (w0, w2) and lanes[at + 1] == (w1, w3)
        assert words[base + 20:base + 32].tolist() == stage[list(rows), 1:].reshape(-1).tolist()


def test_fully_connected_packed_start_values_wrap_to_int32():
    stage = np.array([2**31 - 1 + 5, -(1 << 31), 7, 3], np.int64)
    words = fc_packed.fully_connected_packed(np.full((1, 4), -128), stage)
    assert words[0] == -(1 << 31) + 4 and words[1:4].tolist() == [0, 0, 0]
    assert words.size == 24 and words[4:6].tolist() == [-128 & 0xFFFF | -128 << 16] * 2
    assert words[12:15].tolist() == [-(1 << 31), 7, 3] and words[15:].tolist() == [0] * 9
