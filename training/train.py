"""Fitting a model: seeds, optimizer, augmentation, and per-epoch progress on stderr."""

from __future__ import annotations

import sys
import time

import numpy as np

from tinyml_pipeline.training.datasets import Dataset
from tinyml_pipeline.training.tasks import Task

# Activity windows are shifted in time by up to this many samples while training, so the model
# does not learn where in the window a stride happens to fall.
ACTIVITY_MAX_SHIFT = 20
# Digit images are shifted by up to this fraction of their size (2 pixels of 28): handwriting is
# not always centred, and the small CNN generalizes better for seeing it.
IMAGE_MAX_SHIFT = 0.08


def set_seeds(seed: int) -> None:
    """Fix every random source TensorFlow training draws from, for a reproducible run."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _progress_logger(total_epochs: int, label: str, stream):
    import tf_keras

    every = max(1, total_epochs // 20)  # at most about 20 lines, whatever the epoch count

    class EpochLogger(tf_keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            done = epoch + 1
            if done % every and done != total_epochs:
                return
            figures = "  ".join(f"{key} {value:.4f}" for key, value in (logs or {}).items()
                                if key != "learning_rate")
            elapsed = time.monotonic() - self.started
            print(f"[{label}] epoch {done}/{total_epochs}  {figures}  ({elapsed:.0f} s)",
                  file=stream, flush=True)

    return EpochLogger()


def _augment_activity(seed: int):
    import tensorflow as tf

    def shift_and_scale(window, label):
        shift = tf.random.uniform([], -ACTIVITY_MAX_SHIFT, ACTIVITY_MAX_SHIFT + 1, tf.int32,
                                  seed=seed)
        gain = tf.random.uniform([], 0.9, 1.1, seed=seed + 1)
        return tf.roll(window, shift, axis=0) * gain, label

    return shift_and_scale


def _augment_images(seed: int):
    import tf_keras

    shift = tf_keras.layers.RandomTranslation(IMAGE_MAX_SHIFT, IMAGE_MAX_SHIFT,
                                              fill_mode="constant", seed=seed)

    def translate(images, labels):
        return shift(images, training=True), labels

    return translate


def compile_for(model, task: Task, steps_per_epoch: int, epochs: int, learning_rate: float):
    import tf_keras

    if task.optimizer == "sgd":
        optimizer = tf_keras.optimizers.SGD(learning_rate)
    else:
        schedule = tf_keras.optimizers.schedules.CosineDecay(
            learning_rate, decay_steps=max(1, steps_per_epoch * epochs))
        optimizer = tf_keras.optimizers.Adam(schedule)
    if task.is_regression:
        model.compile(optimizer, loss="mean_squared_error", metrics=["mae"])
    else:
        model.compile(optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def fit(model, task: Task, data: Dataset, epochs: int, seed: int, augment: bool = False,
        learning_rate: float | None = None, label: str = "train", stream=None) -> dict:
    """Train in place; returns the Keras history (per-epoch lists) as a plain dict."""
    import tensorflow as tf

    stream = stream or sys.stderr
    learning_rate = learning_rate or task.learning_rate
    steps = int(np.ceil(len(data.x_train) / task.batch_size))
    compile_for(model, task, steps, epochs, learning_rate)
    train = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
    train = train.shuffle(len(data.x_train), seed=seed, reshuffle_each_iteration=True)
    if augment and data.x_train.ndim == 3:  # [n, time, channel] windows
        train = train.map(_augment_activity(seed)).batch(task.batch_size)
    elif augment:  # [n, height, width, channel] images, shifted a batch at a time
        train = train.batch(task.batch_size).map(_augment_images(seed))
    else:
        train = train.batch(task.batch_size)
    train = train.prefetch(2)
    history = model.fit(train, epochs=epochs, validation_data=(data.x_val, data.y_val),
                        verbose=0, callbacks=[_progress_logger(epochs, label, stream)])
    return {key: [float(v) for v in values] for key, values in history.history.items()}
