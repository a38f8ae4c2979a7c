"""Two int8 models whose tensors exceed one frame, built with the TFLite converter: a 96x96x1
input with a 48x48x4 output (both chunked), and a 32x32x3 input (ResNet-8's, chunked) with a
10-value output (one frame). Converted into a models folder of their own, as `tinyml convert`
writes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.support.modelgen import Case, convert_cases
from tinyml_pipeline.tools.atomic import sync_directory
from tinyml_pipeline.tools.compiler.convert import convert_file, registry_files

NAMES = ("person96", "cifar32")  # model index order: the registry sorts by name
SEED = 14


def _cases(rng: np.random.Generator) -> list[Case]:
    import tensorflow as tf

    person_weights = rng.normal(size=(3, 3, 1, 4)).astype(np.float32)
    cifar_conv = (rng.normal(size=(3, 3, 3, 8)) * 0.5).astype(np.float32)
    cifar_dense = (rng.normal(size=(8 * 8 * 8, 10)) * 0.2).astype(np.float32)

    def person(x):
        return tf.nn.relu(tf.nn.conv2d(x, person_weights, 2, "SAME"))

    def cifar(x):
        x = tf.nn.relu(tf.nn.conv2d(x, cifar_conv, 2, "SAME"))
        x = tf.nn.avg_pool2d(x, ksize=2, strides=2, padding="SAME")
        return tf.matmul(tf.reshape(x, [1, -1]), cifar_dense)

    return [Case("person 96x96x1 conv->48x48x4", (1, 96, 96, 1), person, (0.0, 1.0)),
            Case("cifar 32x32x3 conv pool dense->10", (1, 32, 32, 3), cifar, (0.0, 1.0))]


def build_models(directory: Path) -> tuple[Path, dict[str, Path]]:
    """The models' .tflite files in `directory` and their C sources in directory/models."""
    tflites = convert_cases(_cases(np.random.default_rng(SEED)), seed=SEED)
    paths, entries, files = {}, [], {}
    for name, data in zip(NAMES, tflites, strict=True):
        paths[name] = directory / f"{name}.tflite"
        paths[name].write_bytes(data)
        converted = convert_file(paths[name], directory / "models", name, measure_arena=False)
        entries.append(converted.entry)
        files.update(converted.files)
    files.update(registry_files(entries))
    sync_directory(directory / "models", files)
    return directory / "models", paths
