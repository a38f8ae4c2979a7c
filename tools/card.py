"""The model card (card.json): what a model is, what it was trained and tested on, and how its
input is made from data. One type, one reader and one writer; every command that needs a card
reads it through `load_card` (a model directory's) or `card_beside` (a .tflite's, if any).

The sections are kept as the JSON objects they are (`dataset`, `input`, `output`, `test`,
`model`, `training`, `calibration`, `versions`), with the fields the commands rely on checked on
load and offered as properties; docs/models.md describes them all.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.errors import InputError

CARD_FILE = "card.json"
CARD_VERSION = 1
# Each section's fields that a reader relies on.
_REQUIRED = {"dataset": ("name",), "input": ("shape", "dtype", "scale", "zero_point"),
             "output": ("shape", "dtype", "scale", "zero_point"), "model": ("file", "sha256"),
             "training": ("seed",), "test": ()}


@dataclasses.dataclass(frozen=True)
class ModelCard:
    name: str
    description: str
    architecture: str
    dataset: dict
    labels: list[str] | None
    input: dict
    output: dict
    parameters: int
    macs: int
    test: dict  # {"float": scores, "int8": scores} on the test set
    model: dict  # file, bytes, sha256, ops, op_sequence, weight_quantization
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
    def normalization(self) -> dict | None:
        """Per-channel mean and std applied before quantization, if the model takes them."""
        return self.input.get("normalization")

    @property
    def sample_rate_hz(self) -> float | None:
        return self.dataset.get("sample_rate_hz")

    @property
    def seed(self) -> int:
        return self.training["seed"]

    def as_dict(self) -> dict:
        fields = dataclasses.asdict(self)
        # card_version first, as cards have always been written.
        return {"card_version": fields.pop("card_version"), **fields}


def card_from_dict(entry: dict, source: str) -> ModelCard:
    """A card from its JSON object; InputError naming `source` and the first problem."""
    if not isinstance(entry, dict):
        raise InputError(f"{source}: a card is a JSON object")
    version = entry.get("card_version")
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
        raise InputError(f"no {CARD_FILE} in {model_dir} (train the model first: "
                         f"tinyml train <name> --out {model_dir})")
    return read_card(path)


def card_beside(model_path: Path) -> ModelCard | None:
    """The card next to a .tflite, or None when there is none; a broken one is an error."""
    path = Path(model_path).parent / CARD_FILE
    return read_card(path) if path.is_file() else None


def write_card(directory: Path, card: ModelCard) -> Path:
    path = Path(directory) / CARD_FILE
    atomic_write_text(path, json.dumps(card.as_dict(), indent=2) + "\n")
    return path
