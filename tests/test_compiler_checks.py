"""The compiler's per-op checks: a model whose shapes, options or quantization do not add up the
way TFLM's Prepare computes them is refused with one CompileError naming the op (index and
name), the field and the value; nothing is lowered from it.

Models are built here directly with the schema's object API (one op, int8 tensors) or are the
committed models with one field changed, so every case runs in milliseconds."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tests.support.modelgen import _schema, pack
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.compiler.emit.plan_c import check_representable
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.layers import Layer, Offset
from tinyml_pipeline.tools.compiler.ops import pooling
from tinyml_pipeline.tools.compiler.planner import Plan, check_inside_arena, compile_plan
from tinyml_pipeline.tools.errors import ModelError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

SOURCE = "case.tflite"


@dataclass
class T:
    """One tensor of a built model: int8 with one scale unless said otherwise."""

    shape: list[int]
    scale: float | list[float] | None = 0.05
    zero_point: int | list[int] = 0
    data: np.ndarray | None = None
    type: str = "INT8"
    name: str = ""
    quantized_dimension: int = 0


@dataclass
class Case:
    op: str
    tensors: list[T]
    inputs: list[int]
    outputs: list[int]
    options: object = None
    extra_ops: list = field(default_factory=list)


def build(case: Case) -> TFLiteModel:
    schema = _schema()
    model = schema.ModelT()
    model.version = 3
    model.description = b"opcheck case"
    model.buffers = [schema.BufferT()]
    graph = schema.SubGraphT()
    graph.tensors = []
    for index, spec in enumerate(case.tensors):
        tensor = schema.TensorT()
        tensor.name = (spec.name or f"t{index}").encode()
        tensor.shape = list(spec.shape)
        tensor.type = getattr(schema.TensorType, spec.type)
        if spec.scale is not None:
            quant = schema.QuantizationParametersT()
            scales = spec.scale if isinstance(spec.scale, list) else [spec.scale]
            zeros = (spec.zero_point if isinstance(spec.zero_point, list)
                     else [spec.zero_point] * len(scales))
            quant.scale, quant.zeroPoint = scales, zeros
            quant.quantizedDimension = spec.quantized_dimension
            tensor.quantization = quant
        tensor.buffer = 0
        if spec.data is not None:
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(spec.data).tobytes(), np.uint8)
            model.buffers.append(buffer)
            tensor.buffer = len(model.buffers) - 1
        graph.tensors.append(tensor)
    code = schema.OperatorCodeT()
    code.builtinCode = getattr(schema.BuiltinOperator, case.op)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
    code.version = 1
    model.operatorCodes = [code]
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs, op.outputs = list(case.inputs), list(case.outputs)
    if case.options is not None:
        op.builtinOptionsType = getattr(schema.BuiltinOptions,
                                        type(case.options).__name__[:-1])
        op.builtinOptions = case.options
    graph.operators = [op]
    graph.inputs = [case.inputs[0]]
    graph.outputs = list(case.outputs)
    model.subgraphs = [graph]
    # The reader's structural checks would refuse most of these first: unchecked, the
    # compiler's own checks behind them are what is tested.
    return TFLiteModel(pack(model), SOURCE, check=False)


def options(name: str, **values):
    instance = getattr(_schema(), name)()
    for key, value in values.items():
        setattr(instance, key, value)
    return instance


def refusal(model: TFLiteModel) -> str:
    with pytest.raises(CompileError) as caught:
        compile_plan(model)
    message = str(caught.value)
    assert "\n" not in message
    return message


def assert_refused(model: TFLiteModel, where: str, *parts: str) -> None:
    """Refused, the message naming the op and every part (field, value, problem)."""
    message = refusal(model)
    assert message.startswith(f"{model.source}: {where}"), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- single-op cases, each first shown valid ----------------------------------------------


def conv_case(out_shape=(1, 4, 4, 3), stride=1, padding=1, bias=None, filter_shape=(3, 3, 3, 2),
              in_shape=(1, 6, 6, 2), **option_values) -> Case:
    weights = np.ones(filter_shape, np.int8)
    bias = np.zeros(filter_shape[0], np.int32) if bias is None else bias
    return Case("CONV_2D",
                [T(list(in_shape)), T(list(filter_shape), 0.01, data=weights),
                 T([len(bias)], 0.0005, type="INT32", data=bias), T(list(out_shape), 0.1)],
                [0, 1, 2], [3],
                options("Conv2DOptionsT", **{"strideH": stride, "strideW": stride,
                                             "padding": padding, "dilationHFactor": 1,
                                             "dilationWFactor": 1, **option_values}))


def depthwise_case(out_shape=(1, 4, 4, 4), multiplier=2) -> Case:
    return Case("DEPTHWISE_CONV_2D",
                [T([1, 6, 6, 2]), T([1, 3, 3, 4], 0.01, data=np.ones((1, 3, 3, 4), np.int8),
                                    quantized_dimension=3),
                 T([4], 0.0005, type="INT32", data=np.zeros(4, np.int32)), T(list(out_shape), 0.1)],
                [0, 1, 2], [3],
                options("DepthwiseConv2DOptionsT", strideH=1, strideW=1, padding=1,
                        depthMultiplier=multiplier, dilationHFactor=1, dilationWFactor=1))


def fc_case(in_shape=(2, 8), out_shape=(2, 3), out_scale=0.1, **option_values) -> Case:
    return Case("FULLY_CONNECTED",
                [T(list(in_shape)), T([3, 8], 0.01, data=np.ones((3, 8), np.int8)),
                 T([3], 0.0005, type="INT32", data=np.zeros(3, np.int32)),
                 T(list(out_shape), out_scale)],
                [0, 1, 2], [3], options("FullyConnectedOptionsT", **option_values))


def pool_case(op="MAX_POOL_2D", out_shape=(1, 3, 3, 2), size=2, stride=2, out_scale=0.05) -> Case:
    return Case(op, [T([1, 6, 6, 2]), T(list(out_shape), out_scale)], [0], [1],
                options("Pool2DOptionsT", padding=1, strideH=stride, strideW=stride,
                        filterHeight=size, filterWidth=size))


def unary_case(op, out_shape=(1, 10), out_scale=0.05, out_zero_point=0, in_scale=0.05,
               opts=None) -> Case:
    return Case(op, [T([1, 10], in_scale), T(list(out_shape), out_scale, out_zero_point)], [0],
                [1], opts)


def softmax_case(beta=1.0, out_scale=1 / 256, out_zero_point=-128) -> Case:
    return unary_case("SOFTMAX", out_scale=out_scale, out_zero_point=out_zero_point,
                      opts=options("SoftmaxOptionsT", beta=beta))


def binary_case(op, shape2=(1, 4), out_shape=(2, 4), out_scale=0.1) -> Case:
    # The second operand is a constant: the model has one input.
    return Case(op, [T([2, 4]), T(list(shape2), data=np.ones(shape2, np.int8)),
                     T(list(out_shape), out_scale)], [0, 1], [2],
                options(f"{op.capitalize()}OptionsT"))


def pad_case(out_shape=(1, 4, 4, 1), out_zero_point=0) -> Case:
    paddings = np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)
    return Case("PAD", [T([1, 2, 2, 1]), T([4, 2], None, type="INT32", data=paddings),
                        T(list(out_shape), 0.05, out_zero_point)], [0, 1], [2],
                options("PadOptionsT"))


def concat_case(axis=1, out_shape=(1, 5), second_scale=0.05) -> Case:
    return Case("CONCATENATION", [T([1, 2]), T([1, 3], second_scale,
                                               data=np.ones((1, 3), np.int8)),
                                  T(list(out_shape))],
                [0, 1], [2], options("ConcatenationOptionsT", axis=axis))


def mean_case(in_shape=(1, 4, 4, 3), out_shape=(1, 1, 1, 3), axes=(1, 2)) -> Case:
    return Case("MEAN", [T(list(in_shape)), T([len(axes)], None, type="INT32",
                                              data=np.array(axes, np.int32)),
                         T(list(out_shape), 0.05)], [0, 1], [2],
                options("ReducerOptionsT", keepDims=True))


def reshape_case(out_shape=(2, 6)) -> Case:
    return Case("RESHAPE", [T([1, 12]), T(list(out_shape))], [0], [1])


VALID = {
    "conv": conv_case(), "depthwise": depthwise_case(), "fc": fc_case(),
    "max_pool": pool_case(), "average_pool": pool_case("AVERAGE_POOL_2D"),
    "softmax": softmax_case(), "logistic": unary_case("LOGISTIC", out_scale=1 / 256,
                                                      out_zero_point=-128),
    "tanh": unary_case("TANH", out_scale=1 / 128), "relu": unary_case("RELU"),
    "relu6": unary_case("RELU6"), "quantize": unary_case("QUANTIZE", out_scale=0.1),
    "add": binary_case("ADD"), "mul": binary_case("MUL"), "pad": pad_case(),
    "concatenation": concat_case(), "mean": mean_case(), "reshape": reshape_case(),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_valid_form_of_every_case_compiles(name):
    plan = compile_plan(build(VALID[name]))
    assert plan.arena_bytes > 0


# --- shapes: what the inputs and options imply, batch included -----------------------------


def test_conv_output_batch_must_be_the_input_batch():
    assert_refused(build(conv_case(out_shape=(2, 4, 4, 3))), "op #0 CONV_2D (output 't3')",
                   "output batch 2 is not the input batch 1")


def test_conv_output_height_must_follow_from_the_window():
    assert_refused(build(conv_case(out_shape=(1, 5, 4, 3))), "op #0 CONV_2D",
                   "output height 5", "input height 6", "expected 4")


def test_conv_stride_must_be_positive():
    assert_refused(build(conv_case(stride=0)), "op #0 CONV_2D", "stride height 0",
                   "not an integer >= 1")


def test_a_dilation_the_kernels_int32_coordinates_cannot_hold_is_refused():
    # 2 * (2^31 - 1) overflowed the kernel's int32 tap step (UBSan) with a 1-wide filter.
    case = conv_case(filter_shape=(3, 3, 1, 2), out_shape=(1, 6, 6, 3), padding=0,
                     dilationWFactor=(1 << 31) - 1)
    case.tensors[1].data = np.ones((3, 3, 1, 2), np.int8)
    assert_refused(build(case), "op #0 CONV_2D", "dilation width 2147483647",
                   "filter width 1", "beyond the kernels' int32")
    assert_refused(build(conv_case(padding=0, out_shape=(1, 6, 6, 3),
                                   dilationHFactor=1 << 30)),
                   "op #0 CONV_2D", "dilation height 1073741824 with a filter height 3")


def test_a_dilation_beyond_the_input_with_same_padding_is_legal():
    # TFLite accepts it (only padding is reached); the check is for overflow, not for taste.
    compile_plan(build(conv_case(padding=0, out_shape=(1, 6, 6, 3), dilationWFactor=9)))


def test_an_element_count_beyond_int32_is_refused():
    assert_refused(build(reshape_case(out_shape=(1 << 16, 1 << 15))), "op #0 RESHAPE",
                   "output element count 2147483648", "int32 indexing")


def test_conv_padding_must_be_known():
    assert_refused(build(conv_case(padding=7)), "op #0 CONV_2D", "padding 7 is unknown")


def test_conv_filter_channels_must_match_the_output():
    assert_refused(build(conv_case(out_shape=(1, 4, 4, 5))), "op #0 CONV_2D",
                   "filter output channels 3", "not the output's 5")
    case = conv_case(filter_shape=(3, 3, 3, 4))
    assert_refused(build(case), "op #0 CONV_2D", "input channels 2",
                   "groups of the filter's 4")


def test_conv_bias_size_must_be_the_output_channels():
    assert_refused(build(conv_case(bias=np.zeros(5, np.int32))), "op #0 CONV_2D",
                   "bias size 5 is not the 3 output channels")


def test_conv_bias_that_can_overflow_the_accumulator_is_refused():
    bias = np.array([0, -(1 << 31), 0], np.int32)
    assert_refused(build(conv_case(bias=bias)), "op #0 CONV_2D", "bias -2147483648",
                   "channel 1", "overflow the int32 accumulator")


def test_conv_options_must_be_present_and_of_the_conv_class():
    case = conv_case()
    case.options = None
    assert_refused(build(case), "op #0 CONV_2D", "options are missing",
                   "expected Conv2DOptionsT")
    case.options = options("Pool2DOptionsT")
    assert_refused(build(case), "op #0 CONV_2D", "options Pool2DOptionsT",
                   "not the Conv2DOptionsT")


def test_conv_dimensions_must_be_positive():
    assert_refused(build(conv_case(in_shape=(0, 6, 6, 2))), "op #0 CONV_2D",
                   "input dim[0] 0 is not positive")
    assert_refused(build(conv_case(out_shape=(-1, 4, 4, 3))), "op #0 CONV_2D",
                   "output dim[0] -1 is not positive")


def test_conv_input_rank_must_be_4():
    assert_refused(build(conv_case(in_shape=(6, 6, 2))), "op #0 CONV_2D",
                   "input rank 3", "is not 4")


def test_depthwise_output_batch_and_channels():
    assert_refused(build(depthwise_case(out_shape=(3, 4, 4, 4))), "op #0 DEPTHWISE_CONV_2D",
                   "output batch 3 is not the input batch 1")
    assert_refused(build(depthwise_case(multiplier=3)), "op #0 DEPTHWISE_CONV_2D",
                   "depth_multiplier 3")


def test_fully_connected_output_shape_is_rows_by_units():
    assert_refused(build(fc_case(out_shape=(4, 3))), "op #0 FULLY_CONNECTED",
                   "output shape [4, 3] is not [2, 3]")
    assert_refused(build(fc_case(in_shape=(3, 5))), "op #0 FULLY_CONNECTED",
                   "input size 15", "filter depth 8")


def test_fully_connected_keep_num_dims_keeps_the_input_dims():
    compile_plan(build(fc_case(in_shape=(1, 2, 8), out_shape=(1, 2, 3), keepNumDims=True)))
    assert_refused(build(fc_case(in_shape=(1, 2, 8), out_shape=(2, 3), keepNumDims=True)),
                   "op #0 FULLY_CONNECTED", "output shape [2, 3] is not [1, 2, 3]")


def test_fully_connected_options_of_another_op_are_refused():
    case = fc_case()
    case.options = options("ConcatenationOptionsT")
    assert_refused(build(case), "op #0 FULLY_CONNECTED", "options ConcatenationOptionsT")
    assert_refused(build(fc_case(weightsFormat=1)), "op #0 FULLY_CONNECTED",
                   "weights format 1")


def test_pooling_output_batch_window_and_quantization():
    assert_refused(build(pool_case(out_shape=(2, 3, 3, 2))), "op #0 MAX_POOL_2D",
                   "output batch 2 is not the input batch 1")
    assert_refused(build(pool_case(size=0)), "op #0 MAX_POOL_2D", "filter height 0")
    assert_refused(build(pool_case(out_shape=(1, 4, 3, 2))), "op #0 MAX_POOL_2D",
                   "output height 4", "expected 3")
    assert_refused(build(pool_case("AVERAGE_POOL_2D", out_scale=0.07)), "op #0 AVERAGE_POOL_2D",
                   "input scale 0.05", "output scale 0.07")


def test_elementwise_output_shape_must_be_the_input_shape():
    for op in ("RELU", "RELU6", "LOGISTIC", "TANH", "QUANTIZE"):
        assert_refused(build(unary_case(op, out_shape=(2, 5))), f"op #0 {op}",
                       "output shape [2, 5] is not the input shape [1, 10]")


def test_reshape_keeps_the_element_count_and_positive_dims():
    assert_refused(build(reshape_case(out_shape=(2, 7))), "op #0 RESHAPE",
                   "output element count 14", "input's 12")
    assert_refused(build(reshape_case(out_shape=(-2, -6))), "op #0 RESHAPE",
                   "output dim[0] -2 is not positive")


def test_binary_output_is_the_broadcast_shape():
    assert_refused(build(binary_case("ADD", out_shape=(3, 4))), "op #0 ADD",
                   "output shape [3, 4] is not the broadcast shape [2, 4]")
    assert_refused(build(binary_case("MUL", shape2=(3, 4), out_shape=(3, 4))), "op #0 MUL",
                   "do not broadcast")


def test_pad_output_and_quantization():
    assert_refused(build(pad_case(out_shape=(1, 5, 4, 1))), "op #0 PAD",
                   "output shape [1, 5, 4, 1] is not the padded input shape [1, 4, 4, 1]")
    assert_refused(build(pad_case(out_zero_point=3)), "op #0 PAD",
                   "input zero point 0 differs from the output zero point 3")


def test_concatenation_axis_sizes_and_quantization():
    assert_refused(build(concat_case(axis=2)), "op #0 CONCATENATION", "axis 2 is out of range")
    assert_refused(build(concat_case(out_shape=(1, 6))), "op #0 CONCATENATION",
                   "do not add up to 6")
    assert_refused(build(concat_case(second_scale=0.5)), "op #0 CONCATENATION",
                   "input 1 scale 0.5 differs from the output scale 0.05")


def test_mean_output_shape_and_sum_bound():
    assert_refused(build(mean_case(out_shape=(1, 1, 3))), "op #0 MEAN",
                   "output shape [1, 1, 3] is not [1, 1, 1, 3]")
    huge = mean_case(in_shape=(1, 4096, 4096, 1), out_shape=(1, 1, 1, 1))
    assert_refused(build(huge), "op #0 MEAN", "reduced element count 16777216",
                   "overflow the int32 sum")


# --- quantization as TFLM accepts it, and what the kernels and the C can hold ---------------


def test_a_zero_point_outside_int8_is_refused_before_it_reaches_the_c():
    case = fc_case()
    case.tensors[3].zero_point = 1 << 40
    assert_refused(build(case), "op #0 FULLY_CONNECTED",
                   "output zero point 1099511627776 is outside int8")


@pytest.mark.parametrize("scale", [0.0, -0.5, float("inf"), float("nan")])
def test_an_activation_scale_must_be_finite_and_positive(scale):
    case = fc_case()
    case.tensors[0].scale = scale
    assert_refused(build(case), "op #0 FULLY_CONNECTED", f"input scale {scale}",
                   "not a finite positive number")


def test_a_filter_scale_must_be_finite_and_positive():
    case = conv_case()
    case.tensors[1].scale = [0.01, float("inf"), 0.01]
    assert_refused(build(case), "op #0 CONV_2D", "filter scale inf")


def test_a_requantization_shift_beyond_the_kernels_is_refused():
    # input 0.05 * filter 0.01 / output 2^-130: a ratio of about 2^121.
    assert_refused(build(fc_case(out_scale=2.0 ** -130)), "op #0 FULLY_CONNECTED",
                   "requantization", "shift 1", "is outside the -31 to 30")
    case = binary_case("MUL", out_scale=2.0 ** -120)
    assert_refused(build(case), "op #0 MUL", "requantization shift", "outside the -31 to 30")
    case = unary_case("RELU", in_scale=1e15, out_scale=1e-15)  # 2^99.7
    assert_refused(build(case), "op #0 RELU", "requantization shift")


def test_softmax_logistic_and_tanh_output_quantization_is_fixed():
    assert_refused(build(softmax_case(out_zero_point=0)), "op #0 SOFTMAX",
                   "output zero point 0 is not the -128")
    assert_refused(build(softmax_case(out_scale=0.015625)), "op #0 SOFTMAX",
                   "output scale 0.015625 is not the 1/256")
    assert_refused(build(unary_case("LOGISTIC", out_scale=0.015625, out_zero_point=-128)),
                   "op #0 LOGISTIC", "output scale 0.015625 is not the 1/256")
    assert_refused(build(unary_case("TANH", out_scale=1 / 128, out_zero_point=5)),
                   "op #0 TANH", "output zero point 5 is not the 0")


@pytest.mark.parametrize("beta", [float("inf"), float("nan"), 0.0, -1.0])
def test_softmax_beta_must_be_finite_and_positive(beta):
    assert_refused(build(softmax_case(beta=beta)), "op #0 SOFTMAX", f"beta {beta}")


def test_relu6_at_a_scale_too_small_for_6_is_refused():
    # 6 / 1e-45 is infinite in float32: found by a structure-aware mutation of the models.
    case = unary_case("RELU6", in_scale=1e-45, out_scale=1e-45)
    assert_refused(build(case), "op #0 RELU6", "input scale 1.4012", "too small for 6.0")


def test_a_fused_activation_bound_outside_int32_is_refused():
    # RELU6 at a scale of 1e-38 puts 6.0 at 6e38 steps: TFLM's int32 cast is undefined there.
    case = conv_case(fusedActivationFunction=3)
    case.tensors[3].scale = 1e-38
    case.tensors[1].scale = 1e-30  # keeps the requantization itself in range
    case.tensors[0].scale = 1e-10
    assert_refused(build(case), "op #0 CONV_2D", "fused activation RELU6", "outside int32")


# --- the graph itself -----------------------------------------------------------------------


def test_an_input_index_past_the_tensors_is_refused():
    case = fc_case()
    case.inputs = [0, 9, 2]
    model = build(case)
    assert_refused(model, "op #0 FULLY_CONNECTED", "tensor index 9 is out of range (4 tensors)")


def test_an_op_without_output_is_refused():
    case = fc_case()
    case.outputs = []
    with pytest.raises(CompileError, match="op #0 FULLY_CONNECTED: output 0 is missing"):
        from tinyml_pipeline.tools.compiler.planner import lower
        lower(build(case))


# --- the committed models with one field changed (the reproducers' kinds) --------------------


def mutate(model_name: str, edit) -> TFLiteModel:
    schema = _schema()
    data = (MODELS_DIR / model_name / "model.tflite").read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    edit(model.subgraphs[0], model)
    return TFLiteModel(pack(model), f"{model_name}-mutant.tflite", check=False)


def test_an_intermediate_batch_changed_in_activity_is_refused_at_the_conv():
    def edit(graph, _model):
        graph.tensors[9].shape = [2, 48, 1, 16]  # op #1's output, op #2's input

    assert_refused(mutate("activity", edit), "op #1 CONV_2D",
                   "output batch 2 is not the input batch 1")


def test_a_negative_batch_in_digits_is_refused():
    def edit(graph, _model):
        graph.tensors[13].shape = [-1, 13, 13, 8]  # op #1 MAX_POOL_2D's output

    assert_refused(mutate("digits", edit), "op #1 MAX_POOL_2D",
                   "output dim[0] -1 is not positive")


def test_a_zero_model_input_batch_is_refused():
    def edit(graph, _model):
        graph.tensors[0].shape = [0, 28, 28, 1]

    message = refusal(mutate("digits", edit))
    assert "dim[0] 0 is not positive" in message or "not positive" in message


def test_convert_refuses_a_mutant_in_one_line_with_exit_2_and_writes_nothing(tmp_path, capsys):
    def edit(graph, _model):
        graph.tensors[3].quantization.zeroPoint = [1 << 40]

    mutant = tmp_path / "mutant.tflite"
    mutant.write_bytes(mutate("linear", edit).data)
    out = tmp_path / "out"
    assert main(["convert", str(mutant), "--out", str(out), "--name", "mutant"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "zero point 1099511627776" in error and "internal error" not in error
    assert not out.exists() or not any(out.iterdir())


# --- the planner's and the emitter's last checks ----------------------------------------------


def test_the_memory_planner_refuses_a_non_positive_size():
    from tinyml_pipeline.tools.compiler.memory import Buffer, place

    with pytest.raises(ValueError, match="non-positive size -4"):
        place([Buffer("a", 16, 0, 1), Buffer("b", -4, 1, 2)])


def test_every_layer_must_lie_inside_the_arena():
    plan = compile_plan(build(fc_case()))
    check_inside_arena(plan)
    shrunk = Plan(plan.model, plan.layers, plan.tensor_offsets, plan.scratch_offsets,
                  plan.arena_bytes - 16, plan.input_tensor, plan.output_tensor, plan.in_place)
    with pytest.raises(CompileError, match=r"op #0 FULLY_CONNECTED: tensor \d+ at offset \d+ of "
                                           r"\d+ bytes is outside the \d+-byte arena"):
        check_inside_arena(shrunk)


def test_a_constant_that_does_not_fit_its_c_type_is_refused_before_emitting():
    plan = compile_plan(build(fc_case()))
    check_representable(plan)
    layer = plan.layers[0]
    bad = Layer(layer.op, layer.op_index, layer.kernel, layer.params_type,
                [("input", Offset(layer.reads[0])), ("output_offset", 1 << 40)],
                layer.reads, layer.writes)
    broken = Plan(plan.model, [bad], plan.tensor_offsets, plan.scratch_offsets,
                  plan.arena_bytes, plan.input_tensor, plan.output_tensor, plan.in_place)
    with pytest.raises(CompileError, match="op #0 FULLY_CONNECTED: output_offset "
                                           "1099511627776 is outside int32_t"):
        check_representable(broken)


# --- the pooling in-place rule: the closed form equals the per-pixel check --------------------


def in_place_by_pixels(batches, in_hw, out_hw, strides, pads) -> bool:
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    for b, y, x in itertools.product(range(batches), range(out_h), range(out_w)):
        lowest_y = max(0, y * strides[0] - pads[0])
        lowest_x = max(0, x * strides[1] - pads[1])
        if (b * in_h + lowest_y) * in_w + lowest_x < (b * out_h + y) * out_w + x:
            return False
    return True


def test_pooling_in_place_closed_form_matches_every_pixel():
    rng = random.Random(15)
    for _ in range(3000):
        config = (rng.randint(1, 3), (rng.randint(1, 9), rng.randint(1, 9)),
                  (rng.randint(1, 9), rng.randint(1, 9)),
                  (rng.randint(1, 3), rng.randint(1, 3)), (rng.randint(0, 3), rng.randint(0, 3)))
        assert pooling.in_place_safe(*config) == in_place_by_pixels(*config), config


def test_pooling_in_place_check_allocates_nothing_per_pixel():
    # The shape a fuzzed model gave (2^31 - 1 pixels): answered at once.
    assert pooling.in_place_safe(1, ((1 << 31) - 1, 1), ((1 << 31) - 1, 1), (1, 1), (0, 0))


def test_committed_models_still_compile():
    for name in ("linear", "activity", "digits"):
        compile_plan(TFLiteModel.from_file(Path(MODELS_DIR / name / "model.tflite")))


# --- a seeded structure-aware mutation sweep over the committed models ------------------------

INTERESTING_INTS = [0, 1, 2, 3, -1, -2, 127, 128, -128, -129, 255, 256, (1 << 31) - 1,
                    -(1 << 31), 1 << 15, 7, 64, 1 << 40]
INTERESTING_FLOATS = [0.0, -1.0, float("inf"), float("nan"), 1e-38, 1e38, 1e-45, 2.0 ** -30,
                      2.0 ** 30, 0.5, 1.0, 1 / 256, 3.0]
LOWERED_OPS = ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
               "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6",
               "QUANTIZE", "DEQUANTIZE", "ADD", "MUL", "PAD", "PADV2", "CONCATENATION", "MEAN",
               "SQUEEZE", "EXPAND_DIMS"]
OPTION_CLASSES = ["Conv2DOptionsT", "DepthwiseConv2DOptionsT", "FullyConnectedOptionsT",
                  "Pool2DOptionsT", "SoftmaxOptionsT", "ConcatenationOptionsT", "AddOptionsT",
                  "MulOptionsT", "ReducerOptionsT", "ReshapeOptionsT", "PadOptionsT"]


def _mutation(rng: random.Random, schema, model) -> str:
    """One field of the model changed to an interesting value; returns what was done. Constant
    tensors keep their shapes and types (their buffers are the model reader's to check)."""
    graph = model.subgraphs[0]
    activations = [t for t in graph.tensors if model.buffers[t.buffer].data is None]
    tensor = rng.choice(activations)
    kind = rng.randrange(8)
    if kind == 0 and len(tensor.shape):
        axis = rng.randrange(len(tensor.shape))
        tensor.shape = list(tensor.shape)
        tensor.shape[axis] = rng.choice(INTERESTING_INTS + [rng.randint(1, 100)])
        return f"shape of {tensor.name} -> {tensor.shape}"
    if kind == 1:
        tensor.shape = list(tensor.shape)
        tensor.shape.insert(rng.randrange(len(tensor.shape) + 1), rng.choice([1, 2, 3]))
        return f"shape of {tensor.name} -> {tensor.shape}"
    quant = rng.choice(graph.tensors).quantization
    if kind == 2 and quant is not None and quant.scale is not None and len(quant.scale):
        quant.scale = list(quant.scale)
        quant.scale[rng.randrange(len(quant.scale))] = rng.choice(INTERESTING_FLOATS)
        return f"scales -> {quant.scale}"
    if kind == 3 and quant is not None and quant.zeroPoint is not None and len(quant.zeroPoint):
        quant.zeroPoint = list(quant.zeroPoint)
        quant.zeroPoint[rng.randrange(len(quant.zeroPoint))] = rng.choice(INTERESTING_INTS)
        return f"zero points -> {quant.zeroPoint}"
    op = rng.choice(graph.operators)
    if kind == 4 and op.builtinOptions is not None:
        numeric = [k for k, v in vars(op.builtinOptions).items() if isinstance(v, (int, float))]
        if numeric:
            key = rng.choice(numeric)
            value = (rng.choice(INTERESTING_INTS) if isinstance(getattr(op.builtinOptions, key),
                                                                 int)
                     else rng.choice(INTERESTING_FLOATS))
            setattr(op.builtinOptions, key, value)
            return f"option {key} -> {value}"
    if kind == 5:
        code = schema.OperatorCodeT()
        code.builtinCode = getattr(schema.BuiltinOperator, rng.choice(LOWERED_OPS))
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
        op.opcodeIndex = len(model.operatorCodes) - 1
        return f"opcode -> {code.builtinCode}"
    if kind == 6:
        name = rng.choice(OPTION_CLASSES + [None])
        op.builtinOptions = getattr(schema, name)() if name else None
        op.builtinOptionsType = getattr(schema.BuiltinOptions, name[:-1]) if name else 0
        return f"options -> {name}"
    if kind == 7 and len(op.inputs):
        op.inputs = list(op.inputs)
        op.inputs[rng.randrange(len(op.inputs))] = rng.choice([-1, rng.randrange(
            len(graph.tensors))])
        return f"inputs -> {op.inputs}"
    return "nothing"


def test_mutated_models_are_compiled_or_refused_never_crash():
    schema = _schema()
    rng = random.Random(1500)
    originals = {name: (MODELS_DIR / name / "model.tflite").read_bytes()
                 for name in ("linear", "activity", "digits")}
    outcomes = {"accepted": 0, "refused": 0}
    for index in range(1000):
        name = rng.choice(sorted(originals))
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(originals[name], 0))
        done = [_mutation(rng, schema, model) for _ in range(rng.randint(1, 3))]
        try:
            data = pack(model)
        except Exception:  # noqa: BLE001 - a value the flatbuffer field cannot hold: no model
            continue
        try:  # the reader's checks, then the compiler's: either may refuse
            plan = compile_plan(TFLiteModel(data, f"{name}-mutant-{index}"))
            check_representable(plan)
        except ModelError:
            outcomes["refused"] += 1
        except Exception as error:  # noqa: BLE001 - any other exception is the finding
            pytest.fail(f"mutant {index} of {name} ({'; '.join(done)}) raised "
                        f"{type(error).__name__}: {error}")
        else:
            outcomes["accepted"] += 1
    # Both outcomes occur, so the sweep exercises the checks and the lowering alike.
    assert outcomes["accepted"] > 20 and outcomes["refused"] > 100, outcomes
