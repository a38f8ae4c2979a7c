"""Reading .tflite files: operators, tensors, MACs and the errors for bad files."""

import pytest

from tests.conftest import MODELS_DIR
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel


def test_not_a_tflite_file(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(InputError, match="not a .tflite model"):
        TFLiteModel.from_file(path)


def test_truncated_model_is_reported_as_corrupt():
    data = (MODELS_DIR / "digits" / "model.tflite").read_bytes()
    with pytest.raises(InputError, match="corrupt .tflite"):
        TFLiteModel(data[:200], "truncated.tflite")


def test_missing_model_file(tmp_path):
    with pytest.raises(InputError, match="model not found"):
        TFLiteModel.from_file(tmp_path / "absent.tflite")


def test_digits_model_structure_and_macs():
    model = TFLiteModel.from_file(MODELS_DIR / "digits" / "model.tflite")
    assert [t.type_name for t in model.inputs + model.outputs] == ["INT8", "INT8"]
    assert model.inputs[0].shape == (1, 28, 28, 1) and model.outputs[0].shape == (1, 10)
    assert model.op_names()[0] == "CONV_2D" and model.op_names()[-1] == "SOFTMAX"
    # Hand count of the cnn: three valid 3x3 convolutions and two dense layers.
    expected = (26 * 26 * 8 * 9 + 11 * 11 * 24 * 8 * 9 + 3 * 3 * 48 * 24 * 9
                + 432 * 64 + 64 * 10)
    assert model.macs() == expected


def test_require_int8_io_names_the_tensor(tmp_path):
    import numpy as np
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.layers.Input((4,))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    float_model = TFLiteModel(converter.convert(), "float.tflite")
    with pytest.raises(InputError, match=r"float.tflite: input tensor '.*' is float32"):
        float_model.require_int8_io()
    assert np.isclose(float_model.macs(), 8)
