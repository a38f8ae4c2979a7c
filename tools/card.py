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

from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.errors import InputError

CARD_FILE = "card.json"
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
    return ModelCard(**{name: entry[name] for name in names})


def read_card(path: Path) -> ModelCard:
    path = Path(path)
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: unreadable ({error})") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
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
