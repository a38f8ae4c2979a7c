"""Model architectures, built with tf_keras (Keras 2) so that tensorflow-model-optimization's
quantization-aware training can wrap them.

Each builder takes the input shape and class count and returns an uncompiled model.
"""

from __future__ import annotations


def _layers():
    import tf_keras

    return tf_keras, tf_keras.layers


def linear(input_shape=(1,), classes=None):
    """The seed slides' single neuron: Dense(1) fitting y = 2x - 1."""
    keras, layers = _layers()
    inputs = layers.Input(input_shape, name="x")
    outputs = layers.Dense(1, name="neuron")(inputs)
    return keras.Model(inputs, outputs, name="linear")


def _mlp(input_shape, classes, hidden_units, activation, name):
    keras, layers = _layers()
    inputs = layers.Input(input_shape, name="image")
    hidden = layers.Flatten()(inputs)
    hidden = layers.Dense(hidden_units, activation=activation)(hidden)
    outputs = layers.Dense(classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs, name=name)


def digits_mlp(input_shape=(28, 28, 1), classes=10):
    """The seed's MLP: Flatten -> Dense(20, relu) -> Dense(10, softmax)."""
    return _mlp(input_shape, classes, 20, "relu", "digits_mlp")


def digits_mlp_sigmoid(input_shape=(28, 28, 1), classes=10):
    """The slides' second MLP: 784 -> Dense(64, sigmoid) -> Dense(10, softmax)."""
    return _mlp(input_shape, classes, 64, "sigmoid", "digits_mlp_sigmoid")


def _conv_block(layers, tensor, filters, kernel, **options):
    # Batch normalization trains faster; the TFLite converter folds it into the convolution,
    # so it costs nothing on the board.
    tensor = layers.Conv2D(filters, kernel, use_bias=False, **options)(tensor)
    tensor = layers.BatchNormalization()(tensor)
    return layers.ReLU()(tensor)


def digits_cnn(input_shape=(28, 28, 1), classes=10):
    """Three 3x3 convolutions with 'valid' padding, two 2x2 max-pools, a small dense head.

    Sized for a 64 MHz Cortex-M4: under 0.4 M multiply-accumulates, so an inference costs a few
    milliseconds on the board and the 10,000 MNIST test images validate quickly under QEMU.
    Filters grow as the feature maps shrink, which is where capacity is cheap; valid padding
    keeps every convolution free of padding work.
    """
    keras, layers = _layers()
    inputs = layers.Input(input_shape, name="image")
    hidden = _conv_block(layers, inputs, 8, 3)          # 26x26x8
    hidden = layers.MaxPool2D()(hidden)                 # 13x13x8
    hidden = _conv_block(layers, hidden, 24, 3)         # 11x11x24
    hidden = layers.MaxPool2D()(hidden)                 # 5x5x24
    hidden = _conv_block(layers, hidden, 48, 3)         # 3x3x48
    hidden = layers.Flatten()(hidden)
    hidden = layers.Dropout(0.3)(hidden)
    hidden = layers.Dense(64, activation="relu")(hidden)
    hidden = layers.Dropout(0.3)(hidden)
    outputs = layers.Dense(classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs, name="digits_cnn")


def activity_cnn(input_shape=(100, 6), classes=4):
    """A small 1-D convolutional network over [time, channel] IMU windows.

    The convolutions are Conv2D with (k, 1) kernels over a [time, 1, channel] view: the TFLite
    converter lowers Conv1D to exactly that CONV_2D anyway, and tensorflow-model-optimization's
    quantization-aware training supports Conv2D but not Conv1D. Two strided convolutions shorten
    the 100-sample window cheaply; an average over the whole window makes the score independent
    of where in the window the motion happens. That average is an AveragePooling2D as large as
    the feature map rather than GlobalAveragePooling2D: the same float result, but it converts
    to AVERAGE_POOL_2D instead of MEAN, whose int8 rounding differs in the board's TFLM.
    """
    keras, layers = _layers()
    inputs = layers.Input(input_shape, name="imu")
    hidden = layers.Reshape((input_shape[0], 1, input_shape[1]))(inputs)
    hidden = _conv_block(layers, hidden, 16, (5, 1), strides=(2, 1))   # 48 steps
    hidden = _conv_block(layers, hidden, 32, (5, 1), strides=(2, 1))   # 22 steps
    hidden = layers.AveragePooling2D(pool_size=tuple(hidden.shape[1:3]))(hidden)
    hidden = layers.Flatten()(hidden)
    hidden = layers.Dropout(0.2)(hidden)
    outputs = layers.Dense(classes, activation="softmax")(hidden)
    return keras.Model(inputs, outputs, name="activity_cnn")


BUILDERS = {
    "linear": linear,
    "mlp": digits_mlp,
    "mlp-sigmoid": digits_mlp_sigmoid,
    "cnn": digits_cnn,
    "conv1d": activity_cnn,
}
