"""A user's own model, as the tests and the README's "Your own model" section make one: a small
1-D CNN trained for a few seconds on generated signals (sine, square, noise), saved as a Keras
file with its calibration and test sets as .npz. Run as a script:
`python -m tests.support.own_model DIR` writes model.keras, train.npz, test.npz, labels.txt."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

CLASSES = ("sine", "square", "noise")
STEPS = 64


def signals(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[count, STEPS, 1] float32 signals of random frequency, phase and amplitude, and their
    class indices."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), count)
    t = np.arange(STEPS, dtype=np.float32)
    x = np.empty((count, STEPS, 1), np.float32)
    for row, label in enumerate(labels):
        frequency = rng.uniform(0.03, 0.2)
        phase = rng.uniform(0, 2 * np.pi)
        amplitude = rng.uniform(0.5, 1.5)
        wave = np.sin(2 * np.pi * frequency * t + phase)
        if label == 1:
            wave = np.sign(wave)
        elif label == 2:
            wave = rng.normal(0, 0.7, STEPS)
        x[row, :, 0] = amplitude * wave + rng.normal(0, 0.05, STEPS)
    return x, labels.astype(np.int64)


def build(directory: Path, epochs: int = 4, seed: int = 0) -> Path:
    import tf_keras as keras

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    x_train, y_train = signals(1500, seed)
    x_test, y_test = signals(300, seed + 1)
    model = keras.Sequential([
        keras.layers.Input((STEPS, 1)),
        keras.layers.Conv1D(8, 5, activation="relu"),
        keras.layers.MaxPooling1D(2),
        keras.layers.Conv1D(16, 3, activation="relu"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(len(CLASSES), activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    path = directory / "model.keras"
    model.save(path)
    np.savez(directory / "train.npz", x=x_train, y=y_train)
    np.savez(directory / "test.npz", x=x_test, y=y_test)
    (directory / "labels.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(build(Path(sys.argv[1])))
