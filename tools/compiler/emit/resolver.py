"""TFLM op resolvers: a MicroMutableOpResolver<N> registering exactly the model's ops."""

from __future__ import annotations

from tinyml_pipeline.tools.compiler.emit.cformat import include_guard

# MicroMutableOpResolver's method per builtin op (tensorflow/lite/micro/
# micro_mutable_op_resolver.h).
RESOLVER_METHODS = {
    "ADD": "AddAdd", "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D", "DEQUANTIZE": "AddDequantize",
    "EXPAND_DIMS": "AddExpandDims", "FULLY_CONNECTED": "AddFullyConnected",
    "LOGISTIC": "AddLogistic", "MAX_POOL_2D": "AddMaxPool2D", "MEAN": "AddMean",
    "MUL": "AddMul", "PAD": "AddPad", "PADV2": "AddPadV2", "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape", "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze", "TANH": "AddTanh", "SUB": "AddSub", "MAXIMUM": "AddMaximum",
    "MINIMUM": "AddMinimum", "LEAKY_RELU": "AddLeakyRelu", "HARD_SWISH": "AddHardSwish",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "STRIDED_SLICE": "AddStridedSlice",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
}


def resolver_header(function: str, ops: list[str], banner: str, file_name: str) -> str:
    """A C++ header defining `<function>_ops` (the resolver type) and `<function>(resolver)`."""
    guard = include_guard(file_name)
    calls = "".join(f"  if (resolver.{RESOLVER_METHODS[op]}() != kTfLiteOk) return kTfLiteError;"
                    f"  // {op}\n" for op in ops)
    return (f"{banner}#ifndef {guard}\n#define {guard}\n\n"
            f"#ifdef __cplusplus\n\n"
            f'#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n\n'
            f"constexpr int {function}_count = {len(ops)};\n"
            f"using {function}_resolver = tflite::MicroMutableOpResolver<{len(ops)}>;\n\n"
            f"inline TfLiteStatus {function}({function}_resolver& resolver) {{\n"
            f"{calls}  return kTfLiteOk;\n}}\n\n"
            f"#endif  // __cplusplus\n\n#endif  // {guard}\n")
