"""The built-in models the pipeline trains, and the settings each is trained with: the one list
of them that validate, bench, the tests and the Makefile
(`python -m tinyml_pipeline.training.tasks`) read."""

from __future__ import annotations

from dataclasses import dataclass

from tinyml_pipeline.tools.errors import InputError

CLASSIFICATION, REGRESSION = "classification", "regression"


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    kind: str  # CLASSIFICATION (labels, accuracy) or REGRESSION (values, absolute error)
    datasets: tuple[str, ...]  # the first is the default
    architectures: tuple[str, ...]  # the first is the default
    epochs: dict  # default epochs per architecture
    batch_size: int
    optimizer: str  # "sgd" or "adam"
    learning_rate: float
    normalize_inputs: bool = False
    augmented: tuple[str, ...] = ()  # architectures trained with augmentation
    # IMU tasks: the rate and window the model is trained at, which recorded data
    # (`tinyml capture`, `train --captures`) must match. None for the other tasks.
    sample_rate_hz: float | None = None
    window_steps: int | None = None

    def augments(self, architecture: str) -> bool:
        return architecture in self.augmented

    @property
    def is_regression(self) -> bool:
        return self.kind == REGRESSION

    def default_epochs(self, architecture: str) -> int:
        return self.epochs[architecture]

    @property
    def trains_on_captures(self) -> bool:
        return self.sample_rate_hz is not None and self.window_steps is not None


TASKS = {
    "linear": Task(
        name="linear", description="single neuron fitting y = 2x - 1 (the seed slides)",
        kind=REGRESSION,
        datasets=("linear",), architectures=("linear",), epochs={"linear": 500},
        batch_size=6, optimizer="sgd", learning_rate=0.01),
    "digits": Task(
        name="digits", description="handwritten digit classifier (28x28 grey images)",
        kind=CLASSIFICATION,
        datasets=("mnist", "fashion-mnist"), architectures=("cnn", "mlp", "mlp-sigmoid"),
        epochs={"cnn": 12, "mlp": 15, "mlp-sigmoid": 15},
        batch_size=128, optimizer="adam", learning_rate=3e-3, augmented=("cnn",)),
    "activity": Task(
        name="activity", description="human activity from a 6-axis IMU window (100 x 6)",
        kind=CLASSIFICATION,
        datasets=("basic_motions",), architectures=("conv1d",), epochs={"conv1d": 150},
        batch_size=8, optimizer="adam", learning_rate=3e-3, normalize_inputs=True,
        augmented=("conv1d",), sample_rate_hz=10.0, window_steps=100),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(TASKS)}")
    return TASKS[name]


if __name__ == "__main__":
    print(*TASKS)
