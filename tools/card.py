"""The model card (card.json): what a model is, what it was trained and tested on, and how its
input is made from data. One type, one reader and one writer; every command that needs a card
reads it through `load_card` (a model directory's) or `card_beside` (a .tflite's, if any).

The sections are kept as the JSON objects they are (`task`, `dataset`, `test_set`, `input`,
`output`, `test`, `model`, `training`, `calibration`, `versions`), with the fields the commands
rely on checked on load and offered as properties; docs/models.md describes them all. Trained,
quantized and described models (`tinyml train`, `quantize`, `card`) write the same format.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from importlib import metadata
from pathlib import Path

from tinyml_pipeline.tools import file_limits as limits
from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.errors import InputError

CARD_FILE = "card.json"
# A card is kilobytes (a confusion matrix of many classes included).
MAX_CARD_BYTES = 4 << 20
# The protocol's limits on what the firmware is built with (docs/protocol.md): u16 label count,
# u8-length strings; and a tensor a board's RAM could hold many times over.
MAX_LABELS = 65_535
MAX_TENSOR_ELEMENTS = 1 << 28
# 2: the test set and the task kind are part of the card (version 1 named a bundled data set).
CARD_VERSION = 2
TASK_KINDS = ("classification", "regression", "tensors")
# Each section's fields that a reader relies on.
_REQUIRED = {"task": ("kind", "metric"), "dataset": ("name",),
             "test_set": ("x", "y", "count", "transform"),
             "input": ("shape", "dtype", "scale", "zero_point"),
             "output": ("shape", "dtype", "scale", "zero_point"), "model": ("file", "sha256"),
             "training": (), "test": ()}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    name: str
    description: str
    architecture: str
    task: dict  # kind (TASK_KINDS) and metric
    dataset: dict
    test_set: dict  # x and y files (path, key, sha256), count, transform (divide_by)
    labels: list[str] | None
    input: dict
    output: dict
    parameters: int
    macs: int
    test: dict  # {"float": scores, "int8": scores} on the test set
    model: dict  # file, bytes, sha256, ops, op_sequence, weight_quantization, float_file
    tflm_arena_bytes: int
    tflm_arena_note: str
    training: dict
    calibration: dict
    versions: dict
    card_version: int = CARD_VERSION

    @property
    def model_file(self) -> str:
        return self.model["file"]

    @property
    def float_model_file(self) -> str | None:
        """The float .tflite the int8 one was made from, when the directory keeps it."""
        return self.model.get("float_file")

    @property
    def kind(self) -> str:
        return self.task["kind"]

    @property
    def is_classification(self) -> bool:
        return self.kind == "classification"

    @property
    def normalization(self) -> dict | None:
        """Per-channel mean and std applied before quantization, if the model takes them."""
        return self.input.get("normalization")

    @property
    def sample_rate_hz(self) -> float | None:
        return self.dataset.get("sample_rate_hz")

    @property
    def seed(self) -> int:
        return self.training.get("seed", 0)

    def as_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        # card_version first, as cards have always been written.
        return {"card_version": fields.pop("card_version"), **fields}


# The packages that shape a model's bytes, recorded in every card's "versions".
RECORDED_PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "ai-edge-litert",
                     "tflite-micro", "numpy")


def package_versions() -> dict:
    found = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def card_from_dict(entry: dict, source: str) -> ModelCard:
    """A card from its JSON object; InputError naming `source` and the first problem."""
    if not isinstance(entry, dict):
        raise InputError(f"{source}: a card is a JSON object")
    version = entry.get("card_version")
    if version == 1:
        raise InputError(f"{source}: card_version 1 has no test set; write a new card with "
                         "`tinyml card MODEL.tflite --test FILE --out DIR` (or train again)")
    if version != CARD_VERSION:
        raise InputError(f"{source}: card_version {version!r}; this tinyml-pipeline reads "
                         f"version {CARD_VERSION}")
    names = [field.name for field in dataclasses.fields(ModelCard)]
    missing = [name for name in names if name not in entry]
    if missing:
        raise InputError(f"{source}: the card lacks {', '.join(missing)}")
    for section, required in _REQUIRED.items():
        if not isinstance(entry[section], dict):
            raise InputError(f"{source}: {section} is not an object")
        absent = [key for key in required if key not in entry[section]]
        if absent:
            raise InputError(f"{source}: {section} lacks {', '.join(absent)}")
    if entry["task"]["kind"] not in TASK_KINDS:
        raise InputError(f"{source}: task kind {entry['task']['kind']!r}; one of "
                         f"{', '.join(TASK_KINDS)}")
    if entry["task"]["kind"] == "classification" and not entry["labels"]:
        raise InputError(f"{source}: a classification card lists its labels")
    _check_types(entry, source)
    return ModelCard(**{name: entry[name] for name in names})


def _check_types(entry: dict, source: str) -> None:
    """The fields the commands index, allocate or compute with, by type and range, so that a
    mistyped card is refused here rather than failing inside a command."""
    for name in ("name", "description", "architecture"):
        limits.need_str(entry[name], source, name)
    for name in ("parameters", "macs", "tflm_arena_bytes"):
        limits.need_int(entry[name], source, name)
    labels = entry["labels"]
    if labels is not None and (not isinstance(labels, list) or len(labels) > MAX_LABELS
                               or not all(isinstance(label, str) and _fits_u8(label)
                                          for label in labels)):
        raise InputError(f"{source}: labels is not a list of at most {MAX_LABELS:,} strings of "
                         "at most 255 UTF-8 bytes (what the protocol carries)")
    for section in ("task", "dataset", "test", "training", "calibration", "versions"):
        if not isinstance(entry[section], dict):
            raise InputError(f"{source}: {section} is not an object")
    for section in ("input", "output"):
        tensor = entry[section]
        limits.need_shape(tensor["shape"], source, f"{section}.shape", MAX_TENSOR_ELEMENTS)
        limits.need_number(tensor["scale"], source, f"{section}.scale", positive=True)
        limits.need_int(tensor["zero_point"], source, f"{section}.zero_point", -128, 127)
        limits.need_str(tensor["dtype"], source, f"{section}.dtype")
    normalization = entry["input"].get("normalization")
    if normalization is not None:
        _check_normalization(normalization, source)
    rate = entry["dataset"].get("sample_rate_hz")
    if rate is not None:
        limits.need_number(rate, source, "dataset.sample_rate_hz")
    for name in ("file", "sha256"):
        limits.need_str(entry["model"][name], source, f"model.{name}")
    for name in ("file", "float_file"):
        value = entry["model"].get(name)
        if value is not None and (not isinstance(value, str) or "/" in value or "\\" in value
                                  or value in ("", ".", "..")):
            raise InputError(f"{source}: model.{name} is {value!r}; expected a file name in the "
                             "model directory")
    _check_test_set(entry["test_set"], source)
    seed = entry["training"].get("seed")
    if seed is not None:
        limits.need_int(seed, source, "training.seed")


def _fits_u8(text: str) -> bool:
    try:
        return len(text.encode("utf-8")) <= 255
    except UnicodeEncodeError:  # a lone surrogate, which JSON can spell
        return False


def _check_normalization(normalization, source: str) -> None:
    if not isinstance(normalization, dict):
        raise InputError(f"{source}: input.normalization is not an object")
    mean, std = normalization.get("mean"), normalization.get("std")
    if (not isinstance(mean, list) or not isinstance(std, list) or len(mean) != len(std)
            or not 1 <= len(mean) <= 255 or not all(map(limits.is_number, mean + std))
            or not all(value > 0 for value in std)):
        raise InputError(f"{source}: input.normalization needs mean and std: lists of 1 to 255 "
                         "finite numbers of one length, each std positive")


def _check_test_set(test_set: dict, source: str) -> None:
    limits.need_int(test_set["count"], source, "test_set.count")
    transform = test_set["transform"]
    if not isinstance(transform, dict):
        raise InputError(f"{source}: test_set.transform is not an object")
    if transform.get("divide_by") is not None:
        limits.need_number(transform["divide_by"], source, "test_set.transform.divide_by",
                           positive=True)
    for name in ("x", "y"):
        described = test_set[name]
        if described is None:
            continue
        if not isinstance(described, dict):
            raise InputError(f"{source}: test_set.{name} is not an object")
        limits.need_str(described.get("path"), source, f"test_set.{name}.path")
        for field in ("key", "sha256", "base"):
            if described.get(field) is not None:
                limits.need_str(described[field], source, f"test_set.{name}.{field}")


def read_card(path: Path) -> ModelCard:
    path = Path(path)
    entry = limits.read_json(path, "a card", MAX_CARD_BYTES)
    return card_from_dict(entry, str(path))


def load_card(model_dir: Path) -> ModelCard:
    """A model directory's card; a missing one says how to make it."""
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        raise InputError(f"no {CARD_FILE} in {model_dir}: make one with tinyml train (a "
                         "built-in model), tinyml quantize (your float model) or tinyml card "
                         "(an int8 .tflite)")
    return read_card(path)


def card_beside(model_path: Path) -> ModelCard | None:
    """The card next to a .tflite, or None when there is none; a broken one is an error."""
    path = Path(model_path).parent / CARD_FILE
    return read_card(path) if path.is_file() else None


def write_card(directory: Path, card: ModelCard) -> Path:
    path = Path(directory) / CARD_FILE
    atomic_write_text(path, json.dumps(card.as_dict(), indent=2) + "\n")
    return path
