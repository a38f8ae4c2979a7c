"""UNIDIRECTIONAL_SEQUENCE_LSTM (int8): randomized single-op models must give TFLM's bytes through
the built-in runtime.

The models are built directly with the .tflite schema: this TensorFlow's calibrator crashes
(SIGSEGV in calibration::MinMax::Update, from calibrator._feed_tensors) on any model holding a
Keras LSTM, so converter-built cases are not available. Each model gets random units, input size
and time steps (batch 1, a fifth of them batch 2 or 3), random int8 weights and int32 biases,
random input and hidden-state quantizations and a power-of-two cell-state scale, so gates
saturate in some models and stay linear in others; a quarter get a cell clip. Each model runs 40
random inputs. Each invocation starts from the reset state (cell 0, hidden state at its zero
point) in the built-in runtime, and in TFLMRunner, which resets TFLM's variable tensors."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.support.modelgen import pack
from tinyml_pipeline.tools.compiler.convert import convert_model, registry_files
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.host import (
    CORE_INCLUDES,
    build_runner,
    run_builtin,
    runtime_sources,
)
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.console import native_stderr_silenced
from tinyml_pipeline.tools.reference import TFLMRunner
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 40
SAMPLES = 40
STANDIN = Path(__file__).parent / "support" / "tflm_standin"


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _tensor(schema, model, graph, name, shape, type_name, scale, zero_point, data=None,
            variable=False) -> int:
    tensor = schema.TensorT()
    tensor.name = name.encode()
    tensor.shape = list(shape)
    tensor.type = getattr(schema.TensorType, type_name)
    quant = schema.QuantizationParametersT()
    quant.scale, quant.zeroPoint = [float(scale)], [int(zero_point)]
    tensor.quantization = quant
    tensor.isVariable = variable
    buffer = schema.BufferT()
    if data is not None:
        buffer.data = np.ascontiguousarray(data).view(np.uint8).reshape(-1).tolist()
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def lstm_model(rng, units: int, input_size: int, steps: int, options: dict | None = None,
               batches: int = 1,
               drop: tuple[int, ...] = (), extra: dict | None = None, variables: bool = True,
               cell_scale: float | None = None, intermediates: bool = False) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM op; `drop` leaves inputs out (-1), `extra`
    adds inputs (position -> int8 [units] constant), `variables` False leaves the state tensors
    unflagged and `cell_scale` overrides the random power of two: variants the op refuses.
    `intermediates` adds the five intermediate tensors the TFLite converter writes (four empty
    float gate ones and the effective hidden scale), which LiteRT's kernel requires and TFLM's
    ignores."""
    schema = _schema()
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT()]
    graph = schema.SubGraphT()
    graph.tensors = []
    input_scale = float(np.exp(rng.uniform(np.log(0.002), np.log(0.5))))
    hidden_scale = float(np.exp(rng.uniform(np.log(0.002), np.log(0.05))))
    hidden_zero = int(rng.integers(-40, 41))
    random_cell_scale = 2.0 ** -int(rng.integers(8, 16))
    cell_scale = random_cell_scale if cell_scale is None else cell_scale
    source = _tensor(schema, model, graph, "input", (batches, steps, input_size), "INT8",
                     input_scale, int(rng.integers(-128, 128)))
    inputs = [source] + [-1] * 23
    for position in range(1, 9):
        columns = input_size if position <= 4 else units
        weight_scale = float(np.exp(rng.uniform(np.log(0.001), np.log(0.05))))
        values = rng.integers(-127, 128, size=(units, columns), dtype=np.int8)
        inputs[position] = _tensor(schema, model, graph, f"w{position}", (units, columns),
                                   "INT8", weight_scale, 0, values)
    for position in range(12, 16):
        bias_scale = input_scale * 0.01
        values = rng.integers(-(1 << int(rng.integers(4, 16))), 1 << int(rng.integers(4, 16)),
                              size=units).astype(np.int32)
        inputs[position] = _tensor(schema, model, graph, f"b{position}", (units,), "INT32",
                                   bias_scale, 0, values)
    inputs[18] = _tensor(schema, model, graph, "hidden", (batches, units), "INT8", hidden_scale,
                         hidden_zero, variable=variables)
    inputs[19] = _tensor(schema, model, graph, "cell", (batches, units), "INT16", cell_scale, 0,
                         variable=variables)
    for position, values in (extra or {}).items():
        inputs[position] = _tensor(schema, model, graph, f"x{position}", (units,), "INT8", 0.01,
                                   0, values)
    for position in drop:
        inputs[position] = -1
    output = _tensor(schema, model, graph, "output", (batches, steps, units), "INT8", hidden_scale,
                     hidden_zero)
    middle = []
    if intermediates:
        middle = [_tensor(schema, model, graph, f"gate{gate}", (0,), "FLOAT32", 1.0, 0)
                  for gate in range(4)]
        for index in middle:  # unquantized, as the converter writes them
            graph.tensors[index].quantization = None
        middle.append(_tensor(schema, model, graph, "effective_hidden", (0,), "INT8",
                              hidden_scale, hidden_zero))
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    code.version = 1
    model.operatorCodes = [code]
    lstm_options = schema.UnidirectionalSequenceLSTMOptionsT()
    lstm_options.fusedActivationFunction = schema.ActivationFunctionType.TANH
    lstm_options.cellClip = 0.0
    lstm_options.timeMajor = False
    for key, value in (options or {}).items():
        setattr(lstm_options, key, value)
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs, op.outputs = inputs, [output]
    op.intermediates = middle
    op.builtinOptionsType = schema.BuiltinOptions.UnidirectionalSequenceLSTMOptions
    op.builtinOptions = lstm_options
    graph.operators = [op]
    graph.inputs, graph.outputs = [source], [output]
    graph.name = b"main"
    model.subgraphs = [graph]
    return pack(model)


def _random_case(rng) -> tuple[str, bytes]:
    units, input_size, steps = (int(rng.integers(1, 25)), int(rng.integers(1, 17)),
                                int(rng.integers(1, 9)))
    options = {}
    if rng.random() < 0.25:
        options["cellClip"] = float(np.exp(rng.uniform(np.log(0.01), np.log(8.0))))
    # Mostly batch 1, as deployed; some batches of 2 or 3, each with its own state.
    batches = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
    description = (f"batches {batches}, units {units}, input {input_size}, steps {steps}, "
                   f"options {options}")
    return description, lstm_model(rng, units, input_size, steps, options, batches)


def _tflm_outputs(model: TFLiteModel, inputs: np.ndarray) -> np.ndarray:
    with native_stderr_silenced():
        runner = TFLMRunner(model, arena_size="generous")
    # The whole input tensor, batch axis included (batches of 2 and 3 among the cases).
    return np.stack([runner.invoke_tensor(sample).reshape(model.outputs[0].shape)
                     for sample in inputs])


@pytest.mark.parametrize("batch", range(BATCHES))
def test_lstm_matches_tflm(batch):
    seed = 1600 + batch
    rng = np.random.default_rng(seed)
    cases = [_random_case(rng) for _ in range(PER_BATCH)]
    models = [TFLiteModel(data, f"seed {seed} case {index}")
              for index, (_, data) in enumerate(cases)]
    runner = build_runner([(f"case{index}", model) for index, model in enumerate(models)])
    failures = []
    for index, ((description, _), model) in enumerate(zip(cases, models, strict=True)):
        inputs = rng.integers(-128, 128, size=(SAMPLES, *model.inputs[0].shape), dtype=np.int8)
        builtin = run_builtin(runner, f"case{index}", model, inputs)
        expected = _tflm_outputs(model, inputs)
        if not np.array_equal(builtin, expected):
            differ = int(np.count_nonzero(builtin != expected))
            failures.append(f"case {index} ({description}): {differ} of {expected.size} bytes "
                            f"differ")
    assert not failures, "\n".join(failures)


def test_state_does_not_leak_between_samples():
    """The same input twice gives the same bytes: the state restarts at zero."""
    rng = np.random.default_rng(7)
    model = TFLiteModel(lstm_model(rng, 6, 3, 4), "repeat")
    runner = build_runner([("repeat", model)])
    sample = rng.integers(-128, 128, size=(1, *model.inputs[0].shape), dtype=np.int8)
    outputs = run_builtin(runner, "repeat", model, np.concatenate([sample, sample]))
    assert np.array_equal(outputs[0], outputs[1])
    assert np.array_equal(outputs, _tflm_outputs(model, np.concatenate([sample, sample])))


@pytest.mark.parametrize("change, message", [
    ({"options": {"timeMajor": True}}, "time-major"),
    ({"options": {"fusedActivationFunction": 1}}, "cell activation"),
    ({"extra": {10: np.ones(4, np.int8)}}, "peephole"),
    ({"extra": {20: np.ones(4, np.int8)}}, "layer-norm"),
    ({"drop": (19,)}, "cell state tensor is missing"),
    ({"variables": False}, "is not a variable tensor"),
    ({"cell_scale": 0.0003}, "not a power of two"),
    ({"cell_scale": 2.0 ** 4}, "too large for the int16 tanh"),
])
def test_unsupported_lstms_are_refused(change, message):
    rng = np.random.default_rng(3)
    model = TFLiteModel(lstm_model(rng, 4, 3, 2, **change), "variant")
    with pytest.raises(CompileError, match=message):
        compile_plan(model)


def test_generated_c_compiles_and_the_resolver_registers_lstm(tmp_path):
    """The plan's C compiles as C99 with -Werror for both backends, op_lstm.c too, and the
    generated TFLM resolver registers the op (against the TFLM API stand-in)."""
    rng = np.random.default_rng(11)
    converted = convert_model(TFLiteModel(lstm_model(rng, 7, 5, 3), "lstm.tflite"), "lstm",
                              None, "test", measure_arena=False)
    for name, text in {**converted.files, **registry_files([converted.entry])}.items():
        (tmp_path / name).write_text(text)
    include = [*CORE_INCLUDES, f"-I{tmp_path}"]
    sources = [str(p) for p in runtime_sources() if p.name == "op_lstm.c"]
    assert sources, "op_lstm.c is not among the runtime's sources"
    for source in [*sources, str(tmp_path / "lstm_plan.c")]:
        for flags in ([], ["-DTINYML_BACKEND_TFLM"]):
            result = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags,
                                     *include, "-c", source, "-o", str(tmp_path / "unit.o")],
                                    capture_output=True, text=True)
            assert result.returncode == 0, result.stderr
    main_source = tmp_path / "resolver.cc"
    main_source.write_text('#include "lstm_op_resolver.h"\nint main() {\n'
                           "  lstm_register_ops_resolver r;\n"
                           "  return lstm_register_ops(r) != kTfLiteOk || "
                           "r.registered() != lstm_register_ops_count;\n}\n")
    result = subprocess.run(["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", *include,
                             f"-I{STANDIN}", str(main_source), "-o", str(tmp_path / "resolver")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert subprocess.run([str(tmp_path / "resolver")]).returncode == 0
