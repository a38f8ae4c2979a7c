"""The desktop reference: an int8 model run by LiteRT and by TFLite Micro's host interpreter.

Both runners take one sample at a time (batch 1, as on the board) and can keep every
intermediate tensor, which is how `compare` finds the operator where two runtimes part.

Each invoke starts from the model's initial state: both interpreters keep variable tensors (an
LSTM's cell and hidden state) from one invoke to the next, so the runners reset them first, as
the built-in runtime and the firmware's TFLM backend do (one sample, one answer).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.console import native_stderr_silenced
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

ARENA_SEARCH_LIMIT = 64 << 20  # no model this project deploys needs more than 64 MiB


class LiteRTRunner:
    """The LiteRT interpreter (`ai_edge_litert`), batch 1.

    `kernels="reference"` selects TFLite's reference kernels, the ones TFLM's are derived from;
    `"optimized"` LiteRT's default builtin kernels, which is what desktop users run.
    """

    name = "litert"

    def __init__(self, model: TFLiteModel, preserve_all_tensors: bool = False,
                 kernels: str = "optimized"):
        from ai_edge_litert import interpreter as litert

        resolver = {"optimized": litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                    "reference": litert.OpResolverType.BUILTIN_REF}[kernels]
        try:
            self._interpreter = litert.Interpreter(
                model_content=model.data, experimental_op_resolver_type=resolver,
                experimental_preserve_all_tensors=preserve_all_tensors, num_threads=1)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise InputError(f"{model.source}: LiteRT cannot load the model: "
                             f"{_first_line(error)}") from error
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._stateful = model.has_variable_tensors

    def invoke(self, sample: np.ndarray) -> np.ndarray:
        if self._stateful:
            self._interpreter.reset_all_variables()  # int8 ones to their zero points
        self._interpreter.set_tensor(self._input, sample[np.newaxis])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)[0]

    def tensor(self, index: int) -> np.ndarray:
        return self._interpreter.get_tensor(index)


class TFLMRunner:
    """TFLite Micro's host interpreter (`tflite_micro`), the runtime the board runs."""

    name = "tflm"

    def __init__(self, model: TFLiteModel, preserve_all_tensors: bool = False,
                 arena_size: int | str | None = None):
        from tflite_micro.python.tflite_micro import runtime

        config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
                  else runtime.InterpreterConfig.kAllocationRecording)
        if arena_size in (None, "generous"):
            # Room for every activation twice over, unmeasured: the outputs do not depend on
            # the arena's size, and probing sizes in this process can crash it (TFLM aborts on
            # some models below their size; measure_tflm_arena isolates that).
            arena_size = 16384 + 2 * sum(_nbytes(model.tensor(i)) for i in
                                         range(model.tensor_count)
                                         if not model.tensor(i).is_constant)
        try:
            with native_stderr_silenced():
                self._interpreter = runtime.Interpreter.from_bytes(
                    model.data, arena_size=arena_size, intrepreter_config=config)
        except RuntimeError as error:
            raise InputError(f"{model.source}: TFLM cannot load the model: "
                             f"{_first_line(error)}") from error
        self._stateful = model.has_variable_tensors

    def invoke(self, sample: np.ndarray) -> np.ndarray:
        return self.invoke_tensor(sample[np.newaxis])[0]

    def invoke_tensor(self, tensor: np.ndarray) -> np.ndarray:
        """The whole input tensor, batch axis included, to the whole output tensor."""
        if self._stateful:
            self._interpreter.reset()  # variable tensors back to their zero points
        self._interpreter.set_input(tensor, 0)
        self._interpreter.invoke()
        return self._interpreter.get_output(0)

    def tensor(self, index: int) -> np.ndarray:
        found = self._interpreter.GetTensor(index, 0)  # {"dtype", "shape", "tensor_data"}
        return np.asarray(found["tensor_data"], dtype=found["dtype"]).reshape(found["shape"])


def _nbytes(tensor) -> int:
    itemsize = np.dtype(tensor.dtype).itemsize if tensor.dtype is not None else 8
    return int(np.prod(tensor.shape, dtype=np.int64)) * itemsize + 16  # + alignment


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _tflm_runs_with(model: TFLiteModel, arena_size: int) -> bool:
    from tflite_micro.python.tflite_micro import runtime

    try:
        with native_stderr_silenced():
            interpreter = runtime.Interpreter.from_bytes(model.data, arena_size=arena_size)
            details = interpreter.get_input_details(0)
            interpreter.set_input(np.zeros(details["shape"], dtype=details["dtype"]), 0)
            interpreter.invoke()
        return True
    except RuntimeError:
        return False


class _IsolatedProbe:
    """_tflm_runs_with in a worker process (tools/tflm_probe.py): a probe that crashes counts as
    "does not run", and a fresh worker takes the next one."""

    worker_module = "tinyml_pipeline.tools.tflm_probe"

    def __init__(self, model: TFLiteModel, directory: str):
        self.path = os.path.join(directory, "model.tflite")
        with open(self.path, "wb") as stream:
            stream.write(model.data)
        self.process = None

    def __call__(self, arena_size: int) -> bool:
        import subprocess

        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.worker_module, self.path], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        try:
            self.process.stdin.write(f"{arena_size}\n")
            self.process.stdin.flush()
            answer = self.process.stdout.readline().strip()
        except OSError:  # the worker died: a broken pipe
            answer = ""
        if answer in ("0", "1"):
            return answer == "1"
        self.close()  # it crashed on this size: TFLM cannot run the model with it
        return False

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None


def measure_tflm_arena(model: TFLiteModel, isolated: bool = False) -> int:
    """The smallest tensor arena, in bytes, with which TFLM's host interpreter loads and runs the
    model. Measured on this 64-bit host: a 32-bit target needs somewhat less (smaller pointers in
    TFLM's bookkeeping), so the figure is an upper bound for the board.

    `isolated` probes in a worker process, for models nobody has measured before: TFLM's
    interpreter can crash on a too-small arena instead of failing (tools/tflm_probe.py).
    """
    if not isolated:
        return _search_arena(model, lambda size: _tflm_runs_with(model, size))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tflm-arena-") as directory:
        probe = _IsolatedProbe(model, directory)
        try:
            return _search_arena(model, probe)
        finally:
            probe.close()


def _search_arena(model: TFLiteModel, runs_with) -> int:
    low, high = 0, 1024
    while not runs_with(high):
        low, high = high, high * 2
        if high > ARENA_SEARCH_LIMIT:
            raise InputError(f"{model.source}: TFLM cannot run the model with any arena up to "
                             f"{ARENA_SEARCH_LIMIT >> 20} MiB")
    while high - low > 16:  # TFLM aligns arena allocations to 16 bytes
        middle = (low + high) // 2
        if runs_with(middle):
            high = middle
        else:
            low = middle
    return high


@dataclass
class OpDifference:
    """The first operator whose output tensor differs between two runtimes on one sample."""

    sample: int
    op_index: int
    op_name: str
    tensor_name: str
    max_lsb: int


def first_differing_op(model: TFLiteModel, sample: np.ndarray, sample_index: int,
                       first, second) -> OpDifference | None:
    """Run one sample through two runners that keep all tensors and return the first operator
    (in execution order) whose output differs between them, or None if none does."""
    first.invoke(sample)
    second.invoke(sample)
    for op in model.operators:
        for tensor_index in op.outputs:
            ours, theirs = first.tensor(tensor_index), second.tensor(tensor_index)
            if ours.shape != theirs.shape:
                return OpDifference(sample_index, op.index, op.name,
                                    model.tensor(tensor_index).name, -1)
            if not np.array_equal(ours, theirs):
                gap = int(np.max(np.abs(ours.astype(np.int64) - theirs.astype(np.int64))))
                return OpDifference(sample_index, op.index, op.name,
                                    model.tensor(tensor_index).name, gap)
    return None


def run_all(runner, samples: np.ndarray, progress=None) -> np.ndarray:
    """Invoke a runner on each sample; returns the stacked outputs."""
    outputs = []
    for sample in samples:
        outputs.append(np.array(runner.invoke(sample), copy=True))
        if progress is not None:
            progress.update(1)
    return np.stack(outputs)
