"""Data sets of the three models, loaded from a workspace's `data/` with their sha256 checked.

Each loader returns a `Dataset` with fixed train / validation / test splits, so every model is
trained and scored on the same samples whatever the machine.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.workspace import Workspace, shown

MNIST_FILE = "mnist/mnist.npz"
MNIST_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"
BASIC_MOTIONS_FILES = {
    "train": ("basic_motions/BasicMotions_TRAIN.ts",
              "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6"),
    "test": ("basic_motions/BasicMotions_TEST.ts",
             "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc"),
}
FASHION_MNIST_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".keras" / "datasets" / "fashion-mnist",
)
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

DIGIT_LABELS = [str(d) for d in range(10)]
FASHION_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_VALIDATION_COUNT = 6000
BASIC_MOTIONS_VALIDATION_PER_CLASS = 2

# The seed slides' single neuron: six points of y = 2x - 1.
LINEAR_TRAIN_X = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=np.float32)
# The int8 model is meant for inputs in [-10, 10] (it must answer f(10)); this grid is both the
# calibration set (the range the quantizer must cover) and the test set for the error figures.
LINEAR_DOMAIN = (-10.0, 10.0)
LINEAR_GRID_POINTS = 81


@dataclass
class Dataset:
    """Arrays of one data set, already split. `x_*` are float32 as the model takes them."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list[str] | None  # None for regression
    files: list[dict] = field(default_factory=list)  # [{"path", "sha256"}] of the sources
    notes: dict = field(default_factory=dict)
    # Where int8 calibration samples are drawn from (None: the training split). It must span
    # the inputs the deployed model will see, or the quantized input range will clip them.
    calibration_pool: np.ndarray | None = None
    calibration_source: str = "training split"
    # Where the test split already sits, as is, in a workspace file: {"path", "x_key", "y_key",
    # "divide_by"}. A trained model's card then points there instead of a copy.
    stored_test: dict | None = None

    @property
    def calibration_inputs(self) -> np.ndarray:
        return self.x_train if self.calibration_pool is None else self.calibration_pool

    @property
    def is_classification(self) -> bool:
        return self.labels is not None

    def describe(self) -> dict:
        """The card.json entry for this data set."""
        return {
            "name": self.name,
            "files": self.files,
            "split": {"train": int(len(self.x_train)), "validation": int(len(self.x_val)),
                      "test": int(len(self.x_test))},
            **self.notes,
        }


def checked_file(relative: str, expected_sha256: str, data_dir: Path) -> Path:
    """Return the path of a bundled file after checking that it exists and is unaltered."""
    path = Path(data_dir) / relative
    if not path.is_file():
        raise InputError(f"data file missing: put {relative} into {shown(data_dir)}/ (the "
                         "repository's data/ holds it; its data/README.md says where it comes "
                         "from)")
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise InputError(f"data file altered: {path} has sha256 {actual}, "
                         f"expected {expected_sha256}")
    return path


def _described(path: Path, sha256: str, workspace: Workspace | None) -> dict:
    """A file as cards record it: relative to the workspace when inside it."""
    return {"path": workspace.relative(path) if workspace else str(path), "sha256": sha256}


def load_mnist(workspace: Workspace) -> Dataset:
    """MNIST from the workspace's data/ (sha256-checked); the Keras cache or a download only if
    it is absent."""
    bundled = workspace.data / MNIST_FILE
    if bundled.exists():
        path = checked_file(MNIST_FILE, MNIST_SHA256, workspace.data)
        with np.load(path, allow_pickle=False) as arrays:
            x_train, y_train = arrays["x_train"], arrays["y_train"]
            x_test, y_test = arrays["x_test"], arrays["y_test"]
        files = [_described(path, MNIST_SHA256, workspace)]
        stored = {"path": path, "x_key": "x_test", "y_key": "y_test", "divide_by": 255.0}
    else:
        (x_train, y_train), (x_test, y_test), files = _keras_download("mnist")
        stored = None
    data = _image_dataset("mnist", x_train, y_train, x_test, y_test, DIGIT_LABELS, files)
    data.stored_test = stored
    return data


def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST from Debian's dataset-fashion-mnist or Keras' cache, else Keras' download."""
    for directory in FASHION_MNIST_DIRS:
        paths = {key: directory / name for key, name in FASHION_MNIST_FILES.items()}
        if all(p.is_file() for p in paths.values()):
            arrays = {key: _read_idx(p) for key, p in paths.items()}
            files = [_described(p, sha256_of(p), None) for p in paths.values()]
            return _image_dataset("fashion-mnist", arrays["x_train"], arrays["y_train"],
                                  arrays["x_test"], arrays["y_test"], FASHION_LABELS, files)
    (x_train, y_train), (x_test, y_test), files = _keras_download("fashion_mnist")
    return _image_dataset("fashion-mnist", x_train, y_train, x_test, y_test, FASHION_LABELS,
                          files)


def _keras_download(name: str):
    try:
        import tf_keras
        loader = getattr(tf_keras.datasets, name)
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    except Exception as error:  # any network or cache failure: one clear message
        raise InputError(f"{name} is not in data/ nor in the Keras cache, and downloading it "
                         f"failed ({type(error).__name__}: {error})") from error
    return (x_train, y_train), (x_test, y_test), [{"path": f"keras.datasets.{name}",
                                                   "sha256": None}]


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST distribution format), gzip-compressed."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{path}: not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    if data.size != int(np.prod(shape)):
        raise InputError(f"{path}: truncated IDX file")
    return data.reshape(shape)


def _image_dataset(name, x_train, y_train, x_test, y_test, labels, files) -> Dataset:
    def as_float(images):
        return (images.astype(np.float32) / 255.0)[..., np.newaxis]

    split = len(x_train) - MNIST_VALIDATION_COUNT
    return Dataset(
        name=name,
        x_train=as_float(x_train[:split]), y_train=y_train[:split].astype(np.int64),
        x_val=as_float(x_train[split:]), y_val=y_train[split:].astype(np.int64),
        x_test=as_float(x_test), y_test=y_test.astype(np.int64),
        labels=labels, files=files,
        notes={"input_scaling": "pixel / 255", "validation": "last 6,000 training images"},
    )


def parse_ts(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Parse a UEA/UCR `.ts` file into (series [n, length, channels], labels, class names)."""
    class_names: list[str] = []
    series, labels = [], []
    in_data = False
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                lowered = line.lower()
                if lowered.startswith("@classlabel"):
                    class_names = line.split()[2:]
                elif lowered.startswith("@data"):
                    in_data = True
                continue
            *channels, label = line.split(":")
            try:
                values = [np.array(c.split(","), dtype=np.float32) for c in channels]
                series.append(np.stack(values, axis=-1))
            except ValueError as error:
                raise InputError(f"{path}:{number}: malformed series ({error})") from error
            labels.append(label)
    if not series:
        raise InputError(f"{path}: no series after @data")
    lengths = {s.shape for s in series}
    if len(lengths) != 1:
        raise InputError(f"{path}: series of unequal shapes {sorted(lengths)}")
    return np.stack(series), labels, class_names


def load_basic_motions(workspace: Workspace, seed: int = 0) -> Dataset:
    """BasicMotions: [n, 100 samples, 6 channels] raw IMU values and 4 classes."""
    parsed = {}
    for split, (relative, sha) in BASIC_MOTIONS_FILES.items():
        path = checked_file(relative, sha, workspace.data)
        parsed[split] = (path, sha, *parse_ts(path))
    _, _, x_all, names_all, class_names = parsed["train"]
    _, _, x_test, names_test, _ = parsed["test"]
    index = {name: i for i, name in enumerate(class_names)}
    y_all = np.array([index[n] for n in names_all], dtype=np.int64)
    y_test = np.array([index[n] for n in names_test], dtype=np.int64)

    # Stratified hold-out: a fixed number of series per class, chosen with the run's seed.
    rng = np.random.default_rng(seed)
    val_idx = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(y_all == c), BASIC_MOTIONS_VALIDATION_PER_CLASS, replace=False)
        for c in range(len(class_names))]))
    train_idx = np.setdiff1d(np.arange(len(y_all)), val_idx)
    return Dataset(
        name="basic_motions",
        x_train=x_all[train_idx], y_train=y_all[train_idx],
        x_val=x_all[val_idx], y_val=y_all[val_idx],
        x_test=x_test, y_test=y_test,
        labels=class_names,
        files=[_described(path, sha, workspace) for path, sha, *_ in parsed.values()],
        notes={"layout": "[time, channel]: acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z",
               "sample_rate_hz": 10, "validation_indices": val_idx.tolist()},
    )


def load_linear() -> Dataset:
    """y = 2x - 1: the slides' six training points; a grid over the model's domain to test."""
    x_grid = np.linspace(*LINEAR_DOMAIN, LINEAR_GRID_POINTS, dtype=np.float32)
    x_val = LINEAR_TRAIN_X[:-1] + 0.5  # half-way points: on the line, never trained on

    def column(x):
        return x.reshape(-1, 1)

    return Dataset(
        name="linear",
        x_train=column(LINEAR_TRAIN_X), y_train=column(2 * LINEAR_TRAIN_X - 1),
        x_val=column(x_val), y_val=column(2 * x_val - 1),
        x_test=column(x_grid), y_test=column(2 * x_grid - 1),
        labels=None,
        calibration_pool=column(x_grid),
        calibration_source=f"{LINEAR_GRID_POINTS} points evenly spaced over {list(LINEAR_DOMAIN)}",
        notes={"function": "y = 2x - 1", "train_x": LINEAR_TRAIN_X.tolist(),
               "validation_x": x_val.tolist(),
               "test": f"{LINEAR_GRID_POINTS} points evenly spaced over {list(LINEAR_DOMAIN)}"},
    )


LOADERS = {
    "mnist": lambda workspace, seed: load_mnist(workspace),
    "fashion-mnist": lambda workspace, seed: load_fashion_mnist(),
    "basic_motions": lambda workspace, seed: load_basic_motions(workspace, seed),
    "linear": lambda workspace, seed: load_linear(),
}


def load(name: str, workspace: Workspace, seed: int = 0) -> Dataset:
    """Load a data set by the name recorded in card.json, from `workspace`'s data/."""
    if name not in LOADERS:
        raise InputError(f"unknown data set {name!r}; known: {', '.join(LOADERS)}")
    return LOADERS[name](workspace, seed)



