"""The structural checks every .tflite passes when it is read (tools/model_check.py): each
problem is one ModelError naming the model, where (op or tensor) and the field and value."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, REPO_ROOT
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.errors import InputError, ModelError
from tinyml_pipeline.tools.model_check import MAX_MODEL_ELEMENTS, MAX_TENSOR_ELEMENTS
from tinyml_pipeline.tools.tflite_model import TFLiteModel

LINEAR = (MODELS_DIR / "linear" / "model.tflite").read_bytes()
# models/linear: tensor 0 the int8 input, 1 the int32 bias, 2 the int8 weights, 3 the output;
# one FULLY_CONNECTED reading (0, 2, 1) and writing 3.
INPUT, BIAS, WEIGHTS, OUTPUT = range(4)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def edited(edit) -> bytes:
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(LINEAR, 0))
    edit(model, schema)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def graph(model):
    return model.subgraphs[0]


def tensor(index):
    return lambda model: graph(model).tensors[index]


def op(model):
    return graph(model).operators[0]


def set_attr(get, name, value):
    def edit(model, schema):
        setattr(get(model), name, value(schema) if callable(value) else value)
    return edit


def set_quant(index, name, value):
    def edit(model, schema):
        setattr(graph(model).tensors[index].quantization, name, value)
    return edit


def set_options(name, value):
    def edit(model, schema):
        setattr(op(model).builtinOptions, name, value)
    return edit


def options_of(type_name):
    def edit(model, schema):
        op(model).builtinOptionsType = getattr(schema.BuiltinOptions, type_name)
        op(model).builtinOptions = getattr(schema, f"{type_name}T")()
    return edit


def many_big_tensors(model, schema):
    count = MAX_MODEL_ELEMENTS // MAX_TENSOR_ELEMENTS + 1
    for index in range(count):
        extra = schema.TensorT()
        extra.shape, extra.type, extra.buffer = [MAX_TENSOR_ELEMENTS], schema.TensorType.INT32, 0
        extra.name = f"big{index}".encode()
        graph(model).tensors.append(extra)


def constant_output(model, schema):
    graph(model).tensors[OUTPUT].buffer = graph(model).tensors[WEIGHTS].buffer


def short_buffer(model, schema):
    model.buffers[graph(model).tensors[BIAS].buffer].data = np.zeros(3, np.uint8)


CASES = [
    ("op input index", set_attr(op, "inputs", [INPUT, 9, BIAS]),
     "op #0 FULLY_CONNECTED: input 1: tensor index 9 is out of range (the subgraph has 4"),
    ("required input -1", set_attr(op, "inputs", [-1, WEIGHTS, BIAS]),
     "op #0 FULLY_CONNECTED: input 0: tensor index -1 is out of range"),
    ("op output -1", set_attr(op, "outputs", [-1]),
     "op #0 FULLY_CONNECTED: output 0: tensor index -1 is out of range"),
    ("op without outputs", set_attr(op, "outputs", []), "op #0 FULLY_CONNECTED: the op has no "
     "outputs"),
    ("subgraph input", set_attr(graph, "inputs", [7]), "subgraph input 0: tensor index 7"),
    ("subgraph output -1", set_attr(graph, "outputs", [-1]), "subgraph output 0: tensor index -1"),
    ("opcode index", set_attr(op, "opcodeIndex", 5), "op #0: opcode index 5 is out of range "
     "(the model has 1 operator codes)"),
    ("buffer index", set_attr(tensor(WEIGHTS), "buffer", 40), "buffer index 40 is out of range"),
    ("tensor type", set_attr(tensor(INPUT), "type", 99), "type 99 is not a TFLite tensor type"),
    ("zero dimension", set_attr(tensor(INPUT), "shape", [0, 1]),
     "tensor #0 'serving_default_x:0': dimension 0 is 0 (shape [0, 1]); every dimension must be "
     "at least 1"),
    ("negative dimension", set_attr(tensor(OUTPUT), "shape", [1, -1]), "dimension 1 is -1"),
    ("huge dimension", set_attr(tensor(OUTPUT), "shape", [2**31 - 1, 2**31 - 1]),
     f"shape [2147483647, 2147483647] has more than {MAX_TENSOR_ELEMENTS} elements"),
    ("model ceiling", many_big_tensors, f"more than {MAX_MODEL_ELEMENTS} elements in all"),
    ("rank", set_attr(tensor(INPUT), "shape", [1] * 9), "rank 9 is above 8"),
    ("buffer size", short_buffer, "buffer #"),
    ("constant output", constant_output, "output 0: tensor #3 'StatefulPartitionedCall:0' is a "
     "constant"),
    ("infinite scale", set_quant(OUTPUT, "scale", [np.inf]),
     "tensor #3 'StatefulPartitionedCall:0': scale inf is not finite and positive"),
    ("nan scale", set_quant(INPUT, "scale", [np.nan]), "scale nan is not finite and positive"),
    ("zero scale", set_quant(WEIGHTS, "scale", [0.0]), "scale 0.0 is not finite and positive"),
    ("negative scale", set_quant(WEIGHTS, "scale", [-0.5]), "scale -0.5 is not"),
    ("zero point 2^40", set_quant(OUTPUT, "zeroPoint", [2**40]),
     "zero point 1099511627776 is outside int8's range [-128, 127]"),
    ("int32 zero point", set_quant(BIAS, "zeroPoint", [2**31]), "outside int32's range"),
    ("count mismatch", set_quant(OUTPUT, "zeroPoint", [0, 0]), "1 scales but 2 zero points"),
    ("quantized dimension", set_quant(WEIGHTS, "quantizedDimension", 2),
     "quantized_dimension 2 is not an axis of shape [1, 1]"),
    ("per-channel count", lambda m, s: (set_quant(WEIGHTS, "scale", [0.1, 0.1])(m, s),
                                        set_quant(WEIGHTS, "zeroPoint", [0, 0])(m, s)),
     "2 scales for quantized_dimension 0 of shape [1, 1]"),
    ("int8 without quantization", set_attr(tensor(OUTPUT), "quantization", None),
     "int8 tensor without a scale and zero point"),
    ("options of another op", options_of("ConcatenationOptions"),
     "options are ConcatenationOptions, FULLY_CONNECTED expects FullyConnectedOptions"),
    ("options missing", lambda m, s: (set_attr(op, "builtinOptionsType", 0)(m, s),
                                      set_attr(op, "builtinOptions", None)(m, s)),
     "the FullyConnectedOptions table is missing"),
    ("activation enum", set_options("fusedActivationFunction", 9),
     "fusedActivationFunction 9 is not a ActivationFunctionType value"),
    ("weights format enum", set_options("weightsFormat", 4), "weightsFormat 4"),
]


@pytest.mark.parametrize("edit, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_one_model_error_naming_it(edit, expected):
    with pytest.raises(ModelError) as caught:
        TFLiteModel(edited(edit), "edited.tflite")
    message = str(caught.value)
    assert message.startswith("edited.tflite: ") and expected in message, message
    assert "\n" not in message


def test_stride_and_padding_of_a_conv_are_checked():
    schema = _schema()
    data = (MODELS_DIR / "digits" / "model.tflite").read_bytes()
    for field, value, expected in (("strideH", 0, "strideH is 0; it must be at least 1"),
                                   ("dilationWFactor", -1, "dilationWFactor is -1"),
                                   ("padding", 5, "padding 5 is not a Padding value")):
        import flatbuffers

        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
        conv = graph(model).operators[0]
        assert isinstance(conv.builtinOptions, schema.Conv2DOptionsT)
        setattr(conv.builtinOptions, field, value)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        with pytest.raises(ModelError, match=f"op #0 CONV_2D: {expected}"):
            TFLiteModel(bytes(builder.Output()), "digits")


def test_an_omitted_optional_input_is_fine():
    model = TFLiteModel(edited(set_attr(op, "inputs", [INPUT, WEIGHTS, -1])))
    assert model.operators[0].inputs == (INPUT, WEIGHTS, -1)


def test_an_empty_tensor_is_fine_only_as_an_intermediate():
    """The converter gives an int8 LSTM's gate scales placeholder tensors of shape [0], listed as
    the op's intermediates; no kernel reads or writes them."""
    def add_placeholder(model, schema, use_as_input: bool):
        placeholder = schema.TensorT()
        placeholder.name, placeholder.shape, placeholder.buffer = b"gate_scale", [0], 0
        placeholder.type = schema.TensorType.INT16
        placeholder.quantization = schema.QuantizationParametersT()
        placeholder.quantization.scale, placeholder.quantization.zeroPoint = [2.0 ** -12], [0]
        graph(model).tensors.append(placeholder)
        index = len(graph(model).tensors) - 1
        first = graph(model).operators[0]
        if use_as_input:
            first.inputs = [INPUT, WEIGHTS, index]
        else:
            first.intermediates = [index]

    TFLiteModel(edited(lambda model, schema: add_placeholder(model, schema, False)))
    with pytest.raises(ModelError, match=r"tensor #4 'gate_scale': dimension 0 is 0"):
        TFLiteModel(edited(lambda model, schema: add_placeholder(model, schema, True)))


def test_a_name_that_is_not_utf8_is_read_with_replacement():
    model = TFLiteModel(edited(set_attr(tensor(WEIGHTS), "name", b"w\xf2ight")))
    assert model.tensor(WEIGHTS).name == "w\ufffdight"


def test_a_huge_shape_is_refused_before_anything_is_allocated():
    data = edited(set_attr(tensor(OUTPUT), "shape", [2**31 - 1] * 4))
    start = time.monotonic()
    with pytest.raises(ModelError, match="elements"):
        TFLiteModel(data)
    assert time.monotonic() - start < 1.0


def test_error_types_and_exit_code():
    assert issubclass(ModelError, InputError) and ModelError.exit_code == 2
    assert issubclass(CompileError, ModelError)


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*/model.tflite"))
                         + sorted((REPO_ROOT / "fuzz" / "corpus" / "models").glob("*.tflite")),
                         ids=lambda p: p.parent.name if p.stem == "model" else p.stem)
def test_the_committed_and_corpus_models_pass(path):
    model = TFLiteModel.from_file(path)
    assert model.operators and model.tensor_count
