"""Full-integer int8 export: int8 input and output tensors, per-channel convolution weights,
per-tensor dense weights, calibrated on a fixed subset of the training data whose indices are
recorded in card.json."""

from __future__ import annotations

import numpy as np

CALIBRATION_COUNT = 256


def calibration_indices(sample_count: int, seed: int, count: int = CALIBRATION_COUNT) -> list[int]:
    """A fixed, sorted choice of training samples for calibration (all of them if few)."""
    if sample_count <= count:
        return list(range(sample_count))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(sample_count, size=count, replace=False))


# How the export quantizes weights; recorded in every card.
WEIGHT_QUANTIZATION = {
    "convolutions": "per-channel",
    "dense": "per-tensor",
    "why": "the board's TFLite Micro scales per-channel FULLY_CONNECTED weights with the first "
           "channel's scale (docs/compiler.md, 'The board's TFLite Micro')",
}


def to_int8_tflite(model, calibration_inputs: np.ndarray, per_tensor_dense: bool = True) -> bytes:
    """Convert a trained tf_keras model (plain or QAT-wrapped) to an int8 .tflite.

    The converter quantizes CONV_2D and DEPTHWISE_CONV_2D weights per channel. It would do
    FULLY_CONNECTED per channel too; `per_tensor_dense` (the default) asks for one scale per
    dense layer instead, which every TFLM computes exactly, the board's pinned one included.
    Activation ranges come from the calibration inputs, fed one at a time as the board will
    see them.
    """
    return convert_int8(batch_one_converter(model), calibration_inputs, per_tensor_dense)


def convert_int8(converter, calibration_inputs: np.ndarray, per_tensor_dense: bool) -> bytes:
    """Run a TFLite converter for full-integer int8 (int8 input and output), calibrated on
    `calibration_inputs` one sample at a time."""
    import tensorflow as tf

    def representative_data():
        for sample in calibration_inputs:
            yield [sample[np.newaxis].astype(np.float32)]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor_dense
    return run_converter(converter)


def run_converter(converter) -> bytes:
    import warnings

    from tinyml_pipeline.tools.console import native_stderr_silenced

    # Calibration supplies the input statistics; the converter warns before it reads them, and
    # its native code prints a settings line. Failures still raise, with their message.
    with warnings.catch_warnings(), native_stderr_silenced():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(converter.convert())


def batch_one_converter(model):
    import tensorflow as tf

    # Batch 1, as on the board: every shape is static, so reshapes fold to one RESHAPE with a
    # constant shape instead of SHAPE / STRIDED_SLICE / PACK arithmetic at run time.
    signature = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)
    function = tf.function(lambda x: model(x, training=False))
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function(signature)], model)


def to_float_tflite(model) -> bytes:
    """The same model in float32, the reference a validation compares the device's
    dequantized outputs with (how much quantization costs, tensor by tensor)."""
    return run_converter(batch_one_converter(model))


def quantize_inputs(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """Float model inputs to the int8 (or int16, for a 16x8 model) input tensor: round half to
    even (np.round), then saturate."""
    limits = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, limits.min, limits.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - zero_point) * scale


def quantization_aware(model):
    """Wrap a trained tf_keras model for quantization-aware fine-tuning."""
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_model(model)
