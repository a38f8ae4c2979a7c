"""Public tinyML model shapes, built here with seeded random weights and converted to int8 with
the TFLite converter, for `make bench` (benchmarks/bench_suite.py).

The shapes follow MLPerf Tiny's reference models (mlcommons/tiny, benchmark/training):
  kws_dscnn       keyword spotting, DS-CNN: 49x10 MFCC input, a 10x4 stride-2 convolution, four
                  depthwise-separable blocks of 64 channels, average pooling, 12 classes
  resnet8         image classification on 32x32x3: a 3x3 convolution and three residual stacks
                  (16, 32, 64 channels; 1x1 stride-2 shortcuts where the shape changes), each
                  two convolutions and an ADD, average pooling, 10 classes
  ad_autoencoder  anomaly detection: a fully connected autoencoder on 640 inputs,
                  640-128-128-128-8-128-128-128-640 with batch normalization and ReLU
  vww_mobilenet   visual wake words, MobileNetV1 with depth multiplier 0.25 on 96x96x3: a 3x3
                  stride-2 convolution to 8 channels, 13 depthwise-separable blocks (3x3
                  depthwise, 1x1 pointwise, 16 to 256 channels, five of them stride 2), global
                  average pooling, 2 classes, softmax; ReLU as in the MLPerf reference

The weights are random (seeded), so the models are good for cost, flash and RAM, not accuracy:
a trained model of the same shape costs the same instructions, give or take saturation
branches. Batch normalization gets random statistics so that the converter folds something
real into the weights. Calibration uses a seeded random representative data set.

    .venv/bin/python benchmarks/public_models.py --out build/bench/public
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO_ROOT))

CALIBRATION_SAMPLES = 32


@dataclass(frozen=True)
class PublicModel:
    name: str
    description: str
    build: object  # (keras, layers) -> keras.Model
    calibration: str  # "normal" or "uniform": the representative data's distribution


def _ds_cnn(keras, layers):
    inputs = keras.Input((49, 10, 1), batch_size=1)
    x = layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(4):
        x = layers.DepthwiseConv2D((3, 3), padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(64, (1, 1), use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]))(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(12)(x))
    return keras.Model(inputs, outputs, name="kws_dscnn")


def _resnet8(keras, layers):
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(16, 3, padding="same")(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same")(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same")(y))
        shortcut = x if stride == 1 else layers.Conv2D(filters, 1, strides=stride)(x)
        x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.AveragePooling2D(pool_size=x.shape[1])(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(10)(x))
    return keras.Model(inputs, outputs, name="resnet8")


def _autoencoder(keras, layers):
    inputs = keras.Input((640,), batch_size=1)
    x = inputs
    for units in (128, 128, 128, 8, 128, 128, 128):
        x = layers.ReLU()(layers.BatchNormalization()(layers.Dense(units)(x)))
    outputs = layers.Dense(640)(x)
    return keras.Model(inputs, outputs, name="ad_autoencoder")


# MobileNetV1's depthwise-separable blocks at alpha 1 (pointwise filters, depthwise stride);
# alpha 0.25 divides the filters by 4.
_MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                        (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _vww_mobilenet(keras, layers, alpha: float = 0.25):
    inputs = keras.Input((96, 96, 3), batch_size=1)
    x = layers.Conv2D(int(32 * alpha), 3, strides=2, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for filters, stride in _MOBILENET_V1_BLOCKS:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(int(filters * alpha), 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]))(x)
    x = layers.Flatten()(x)
    outputs = layers.Softmax()(layers.Dense(2)(x))
    return keras.Model(inputs, outputs, name="vww_mobilenet")


MODELS = (
    PublicModel("kws_dscnn", "keyword spotting, DS-CNN (MLPerf Tiny KWS shape), 49x10x1 MFCCs, "
                "12 classes", _ds_cnn, "normal"),
    PublicModel("resnet8", "image classification, ResNet-8 (MLPerf Tiny IC shape), 32x32x3, "
                "3 residual stacks with ADD, 10 classes", _resnet8, "uniform"),
    PublicModel("ad_autoencoder", "anomaly detection, fully connected autoencoder (MLPerf Tiny "
                "AD shape), 640-128-128-128-8-128-128-128-640", _autoencoder, "normal"),
    PublicModel("vww_mobilenet", "visual wake words, MobileNetV1 alpha 0.25 (MLPerf Tiny VWW "
                "shape), 96x96x3, 13 depthwise-separable blocks, 2 classes", _vww_mobilenet,
                "uniform"),
)


def _randomize_batch_norm(model, rng: np.random.Generator) -> None:
    """Random gamma, beta and moving statistics: folded into the weights by the converter."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                               rng.normal(0.0, 0.1, beta.shape).astype(np.float32),
                               rng.normal(0.0, 0.1, mean.shape).astype(np.float32),
                               rng.uniform(0.5, 1.5, variance.shape).astype(np.float32)])


def build_tflite(spec: PublicModel, seed: int) -> bytes:
    """The int8 .tflite of one public shape: weights from Keras's initializers under `seed`,
    calibration on CALIBRATION_SAMPLES seeded random inputs."""
    # TensorFlow's start-up chatter (oneDNN, CUDA probes) would bury the bench's progress.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    from tinyml_pipeline.tools.reference import native_stderr_silenced

    with native_stderr_silenced():  # absl logs to fd 2 at import, whatever the variables say
        import tf_keras
    from tinyml_pipeline.training.quantize import to_int8_tflite

    tf_keras.utils.set_random_seed(seed)
    model = spec.build(tf_keras, tf_keras.layers)
    rng = np.random.default_rng(seed)
    _randomize_batch_norm(model, rng)
    shape = (CALIBRATION_SAMPLES, *model.input_shape[1:])
    calibration = (rng.normal(0.0, 1.0, shape) if spec.calibration == "normal"
                   else rng.uniform(0.0, 1.0, shape)).astype(np.float32)
    return to_int8_tflite(model, calibration)


def write_models(out_dir: Path, seed: int = 1, names: list[str] | None = None,
                 progress=None) -> dict[str, Path]:
    """Builds and writes <out_dir>/<name>.tflite for each public shape (all, or `names`);
    returns name -> path. A shape the converter rejects raises its error."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for spec in MODELS:
        if names and spec.name not in names:
            continue
        if progress:
            progress(f"building {spec.name} with the TFLite converter (seed {seed})")
        path = out_dir / f"{spec.name}.tflite"
        data = build_tflite(spec, seed)
        if not path.is_file() or path.read_bytes() != data:  # keep the mtime of equal bytes
            path.write_bytes(data)
        written[spec.name] = path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench" / "public")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("names", nargs="*", help="only these (default: all)")
    args = parser.parse_args(argv)
    for name, path in write_models(args.out, args.seed, args.names,
                                   lambda m: print(m, file=sys.stderr)).items():
        print(f"{name}: {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
