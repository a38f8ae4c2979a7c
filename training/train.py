"""Fitting a model: seeds, optimizer, augmentation, and per-epoch progress on stderr."""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.training.datasets import Dataset
from tinyml_pipeline.training.tasks import Task

# Activity windows are shifted in time by up to this many samples while training, so the model
# does not learn where in the window a stride happens to fall.
ACTIVITY_MAX_SHIFT = 20
# Digit images are shifted by up to this fraction of their size (2 pixels of 28): handwriting is
# not always centred, and the small CNN generalizes better for seeing it.
IMAGE_MAX_SHIFT = 0.08


# TensorFlow's intra-op and inter-op thread counts for training. Fixed rather than left to
# TensorFlow (which picks the number of usable cores), because the count is part of the result:
# how an op splits its work decides the order in which floats are summed, and on the development
# machine digits trained with 1 or with 4 threads came out with other weights than with 2
# (docs/models.md, Reproducibility). 2 is what the committed models were trained with:
# TensorFlow's own choice on that 2-core machine.
TRAIN_THREADS = 2
# Overrides TRAIN_THREADS (a positive whole number), to measure what the count changes; a count
# asked for here that cannot be applied is an error.
THREADS_ENV = "TINYML_TRAIN_THREADS"


def set_seeds(seed: int) -> dict:
    """Make training as deterministic as TensorFlow allows: fixed thread counts (first, before
    anything starts TensorFlow's runtime), every random source seeded, op determinism on.

    Returns the settings in effect (see determinism_settings). Same machine, same packages and
    same settings give the same bytes; another CPU can still round differently."""
    import tensorflow as tf
    import tf_keras

    threads, explicit = train_threads()
    fix_thread_counts(threads, explicit)
    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return determinism_settings()


def train_threads() -> tuple[int, bool]:
    """The thread count to train with, and whether THREADS_ENV asked for it."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return TRAIN_THREADS, False
    if not value.isdigit() or int(value) < 1:
        raise TinyMLError(f"{THREADS_ENV} must be a positive whole number, not {value!r}")
    return int(value), True


def fix_thread_counts(threads: int, explicit: bool = False) -> None:
    """Set TensorFlow's intra-op and inter-op thread counts and start its runtime with them.

    TensorFlow reads them once, when its runtime starts, and refuses to change them later. If
    the runtime already runs with other counts (a process that used TensorFlow before training,
    as the test suite does), that is an error when THREADS_ENV asked for the count and a warning
    otherwise: the training still runs, deterministically, but with those other counts."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # "... cannot be modified after initialization": checked just below
        pass
    # Start the runtime now, so nothing later in training can start it with other counts.
    tf.config.list_logical_devices("CPU")
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    if intra == inter == threads:
        return
    message = (f"TensorFlow's runtime was started earlier in this process with "
               f"{_threads_text(intra, inter)}, and cannot change them to the {threads} "
               f"training asks for; train in a fresh process (`tinyml train` is one) for the "
               f"reproducible setting")
    if explicit:
        raise TinyMLError(f"{THREADS_ENV}={threads}: {message}")
    print(f"warning: {message}; this run may not reproduce the committed models' bytes",
          file=sys.stderr, flush=True)


def _threads_text(intra: int, inter: int) -> str:
    """'2 intra-op and 2 inter-op threads'; TensorFlow's getters say 0 for its own choice."""
    if intra == inter == 0:
        return "TensorFlow's default intra-op and inter-op thread counts"
    def count(value: int) -> str:
        return "the default number of" if value == 0 else str(value)
    return f"{count(intra)} intra-op and {count(inter)} inter-op threads"


def determinism_settings() -> dict:
    """What the reproducibility of a training run depends on inside TensorFlow: op determinism,
    the thread counts and the oneDNN switch (tools/cli.py sets TF_ENABLE_ONEDNN_OPTS=0). Not
    in it: the CPU's instruction set, which oneDNN's matrix kernels are chosen by at run time."""
    import tensorflow as tf

    # Not in TensorFlow's public API (enable_op_determinism is), hence the module's own path.
    from tensorflow.python.framework.config import is_op_determinism_enabled

    return {
        "op_determinism": bool(is_op_determinism_enabled()),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }


def describe_determinism(settings: dict) -> str:
    threads = _threads_text(settings["intra_op_threads"], settings["inter_op_threads"])
    onednn = settings["TF_ENABLE_ONEDNN_OPTS"]
    return (f"op determinism {'on' if settings['op_determinism'] else 'OFF'}, {threads}, "
            f"TF_ENABLE_ONEDNN_OPTS={onednn if onednn is not None else 'unset'}")


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
    print(f"[{label}] TensorFlow: {describe_determinism(determinism_settings())}", file=stream,
          flush=True)
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
