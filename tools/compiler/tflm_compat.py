"""What the board's pinned TFLite Micro computes differently from the TFLM we validate against.

The board builds TFLM from the TFLM Arduino library at the commit platformio.ini pins
(tflite-micro-arduino-examples 7948b85, synced from tflite-micro in December 2023). The desktop
reference, and so `tinyml validate`, is today's TFLM. Four int8 cases of that library's kernels
give other bytes or stop the board, found by running its TFLM on QEMU's Cortex-M4 (the committed
models on their test sets, 606 randomized models of every op the converter accepts) and reading
its sources:

- FULLY_CONNECTED with per-channel weights: its Prepare derives one multiplier from the filter's
  first scale (`filter->params.scale`) and applies it to every output channel. Per-channel dense
  weights came with upstream TFLM in 2024; the TFLite converter writes them by default.
- int8 MEAN: it averages through float32 and TfLiteRound when the input and output
  quantization differ, and by truncating integer division when they are equal; today's TFLM
  uses one integer multiplier path. The two differ by an LSB on ordinary inputs.
- Grouped CONV_2D (filter depth below the input depth): its CMSIS-NN CONV_2D has no groups and
  takes the filter's depth for the input's (MatchingDim's check is compiled out for Arduino), so
  it convolves the wrong bytes.
- ADD and MUL that broadcast with a tensor of rank 5: the CMSIS-NN kernels hand them to the 4-D
  broadcasting reference kernel, whose shape check calls abort().

Three more with int16 activations (16x8), found the same way (that library built beside the
repository for QEMU's Cortex-M4, 340 randomized and converter-built 16x8 models against today's
TFLM; see docs/compiler.md):

- CONV_2D and DEPTHWISE_CONV_2D without a bias: their Prepare leaves a temporary tensor
  allocated, and AllocateTensors fails.
- CONV_2D and FULLY_CONNECTED with an int32 bias: the CMSIS-NN 16x8 kernels read every bias as
  int64, so they add the wrong values.
- SOFTMAX over a last dimension of 1: the CMSIS-NN int16 softmax gives -32768 where the answer
  is 32767 (1.0).

A model with any of them cannot be run exactly by the TFLM firmware, so its generated sources
refuse to compile there (an #error under TINYML_BACKEND_TFLM) and `tinyml convert` warns; the
built-in runtime runs it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyml_pipeline.tools.tflite_model import TFLiteModel

PINNED_TFLM = "the pinned TFLite Micro (tflite-micro-arduino-examples 7948b85)"
BUILTIN_FIX = "or build a nano33ble_builtin environment"


@dataclass(frozen=True)
class TflmIncompatibility:
    op_index: int
    op_name: str
    reason: str
    fix: str

    def message(self, model_name: str) -> str:
        return (f"model '{model_name}' op #{self.op_index} {self.op_name}: {self.reason} in "
                f"{PINNED_TFLM}; {self.fix}, {BUILTIN_FIX}")


def _per_channel_dense(model: TFLiteModel, inputs: tuple[int, ...]) -> bool:
    if len(inputs) < 2 or inputs[1] < 0:
        return False
    filter_tensor = model.tensor(inputs[1])
    return filter_tensor.type_name == "INT8" and len(set(filter_tensor.scales)) > 1


def _grouped_conv(model: TFLiteModel, inputs: tuple[int, ...]) -> bool:
    input_shape, filter_shape = model.tensor(inputs[0]).shape, model.tensor(inputs[1]).shape
    return len(input_shape) == 4 and len(filter_shape) == 4 and filter_shape[3] != input_shape[3]


def _rank5_broadcast(model: TFLiteModel, inputs: tuple[int, ...]) -> bool:
    shapes = [model.tensor(index).shape for index in inputs[:2]]
    sizes = {int(np.prod(shape, dtype=np.int64)) for shape in shapes}
    return max(len(shape) for shape in shapes) > 4 and len(sizes) > 1


def _int16_input(model: TFLiteModel, inputs: tuple[int, ...]) -> bool:
    return bool(inputs) and inputs[0] >= 0 and model.tensor(inputs[0]).type_name == "INT16"


def _bias_type(model: TFLiteModel, inputs: tuple[int, ...]) -> str | None:
    """The bias tensor's type, None when the op has none."""
    return model.tensor(inputs[2]).type_name if len(inputs) > 2 and inputs[2] >= 0 else None


def _int16_problem(model: TFLiteModel, op) -> tuple[str, str] | None:
    """(reason, fix) where the pinned library's 16x8 kernels go wrong, else None."""
    if not _int16_input(model, op.inputs):
        return None
    bias = _bias_type(model, op.inputs)
    if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and bias is None:
        return ("a 16x8 convolution without a bias fails in AllocateTensors",
                "give the layer a bias (use_bias=True)")
    if op.name in ("CONV_2D", "FULLY_CONNECTED") and bias == "INT32":
        return ("an int32 bias of a 16x8 layer is read as int64",
                "store the bias as int64 (the TFLite converter's 16x8 mode does)")
    if op.name == "SOFTMAX" and model.tensor(op.inputs[0]).shape[-1:] == (1,):
        return ("an int16 softmax over one value gives -32768 instead of 32767",
                "drop the softmax (over one value it is always 1)")
    return None


def pinned_tflm_incompatibilities(model: TFLiteModel) -> list[TflmIncompatibility]:
    """The ops of `model` that the board's TFLM would compute with other bytes than TFLM's, or
    not at all."""
    found = []
    for op in model.operators:
        if op.name == "FULLY_CONNECTED" and _per_channel_dense(model, op.inputs):
            found.append(TflmIncompatibility(
                op.index, op.name,
                "per-channel weights are scaled with the first channel's scale",
                "export dense layers per-tensor (tinyml train does; the TFLite converter's "
                "_experimental_disable_per_channel_quantization_for_dense_layers = True)"))
        elif op.name == "MEAN" and model.tensor(op.inputs[0]).type_name == "INT8":
            found.append(TflmIncompatibility(
                op.index, op.name,
                "int8 MEAN rounds through float32",
                "average with AveragePooling2D over the whole feature map instead of "
                "GlobalAveragePooling2D (it converts to AVERAGE_POOL_2D)"))
        elif op.name == "CONV_2D" and _grouped_conv(model, op.inputs):
            found.append(TflmIncompatibility(
                op.index, op.name,
                "a grouped convolution is computed as an ungrouped one over the wrong bytes",
                "use groups=1 (or a DEPTHWISE_CONV_2D where each group is one channel)"))
        elif op.name in ("ADD", "MUL") and _rank5_broadcast(model, op.inputs):
            found.append(TflmIncompatibility(
                op.index, op.name,
                "broadcasting with a rank-5 tensor aborts at run time",
                "keep the operands at rank 4 or below, or give both the same shape"))
        elif (problem := _int16_problem(model, op)) is not None:
            found.append(TflmIncompatibility(op.index, op.name, *problem))
    return found


def tflm_refusal_c(model_name: str, problems: list[TflmIncompatibility]) -> str:
    """C lines that stop a TFLM build of this model with the reason, the op and the fix."""
    if not problems:
        return ""
    lines = "".join(f'#error "{_c_string(p.message(model_name))}"\n' for p in problems)
    return (f"/* The board's TFLM would compute this model with other bytes than TFLite Micro's\n"
            f" * reference, or stop (tools/compiler/tflm_compat.py): refuse that build. */\n"
            f"#if defined(TINYML_BACKEND_TFLM)\n{lines}#endif\n\n")


def _c_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
