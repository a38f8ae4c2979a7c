"""Each committed card.json agrees with its model.tflite: size, sha256, ops, MACs, arena, and
the int8 test scores re-measured now. The card type's one reader and one writer: a committed
card read and written again is the same bytes, and a broken card is one clear error."""

import json

import pytest

from tests.conftest import COMMITTED_MODELS, MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools.card import CARD_FILE, load_card, read_card, write_card
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.reference import measure_tflm_arena
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.training import datasets
from tinyml_pipeline.training.evaluation import Normalization
from tinyml_pipeline.training.pipeline import int8_metrics
from tinyml_pipeline.training.tasks import get_task


def _card(name):
    return json.loads((MODELS_DIR / name / "card.json").read_text())


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_card_describes_its_model_file(name):
    card = _card(name)
    model = TFLiteModel.from_file(MODELS_DIR / name / "model.tflite")
    assert card["model"]["bytes"] == model.size
    assert card["model"]["sha256"] == model.sha256
    assert card["model"]["ops"] == model.op_names()
    assert card["model"]["op_sequence"] == [op.name for op in model.operators]
    assert card["macs"] == model.macs()
    assert card["input"]["shape"] == list(model.inputs[0].shape)
    assert card["input"]["scale"] == model.inputs[0].scale
    assert card["input"]["zero_point"] == model.inputs[0].zero_point
    assert card["output"]["dtype"] == "int8" and card["input"]["dtype"] == "int8"
    assert card["tflm_arena_bytes"] == measure_tflm_arena(model)
    for file in card["dataset"]["files"]:
        assert file["sha256"] == sha256_of(MODELS_DIR.parent / file["path"])
    for plot in ("training.png", "prediction.png" if name == "linear" else "confusion.png"):
        assert (MODELS_DIR / name / plot).stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_card_int8_scores_are_re_measured(name):
    card = _card(name)
    model = TFLiteModel.from_file(MODELS_DIR / name / "model.tflite")
    data = datasets.load(card["dataset"]["name"], WORKSPACE, card["training"]["seed"])
    normalization = Normalization.from_card(load_card(MODELS_DIR / name))
    metrics, _ = int8_metrics(model, get_task(name), data, normalization)
    recorded = dict(card["test"]["int8"])
    recorded.pop("confusion_matrix", None)
    assert metrics == pytest.approx(recorded)


def test_committed_models_meet_their_targets():
    digits, activity, linear = _card("digits"), _card("activity"), _card("linear")
    assert digits["architecture"] == "cnn"
    assert digits["test"]["int8"]["accuracy"] >= 0.992
    assert digits["model"]["bytes"] <= 64 * 1024
    assert digits["training"]["seconds"] <= 300
    assert activity["test"]["int8"]["correct"] >= 38
    assert abs(linear["test"]["int8"]["f(10)"] - 19) <= 0.25


@pytest.mark.parametrize("name", COMMITTED_MODELS)
def test_reading_and_writing_a_card_gives_its_bytes_back(name, tmp_path):
    card = load_card(MODELS_DIR / name)
    assert card.name == name and card.model_file == "model.tflite"
    write_card(tmp_path, card)
    assert (tmp_path / CARD_FILE).read_bytes() == (MODELS_DIR / name / CARD_FILE).read_bytes()


@pytest.mark.parametrize("damage, message", [
    (lambda card: card | {"card_version": 9}, "card_version 9; this tinyml-pipeline reads"),
    (lambda card: {k: v for k, v in card.items() if k != "macs"}, "the card lacks macs"),
    (lambda card: card | {"model": {"bytes": 1}}, "model lacks file, sha256"),
    (lambda card: card | {"input": []}, "input is not an object"),
    (lambda card: [card], "a card is a JSON object"),
], ids=["version", "field", "section-field", "section-type", "not-object"])
def test_a_broken_card_is_one_clear_error(damage, message, tmp_path):
    (tmp_path / CARD_FILE).write_text(json.dumps(damage(_card("linear"))))
    with pytest.raises(InputError, match=message):
        read_card(tmp_path / CARD_FILE)


def test_a_card_that_is_not_json_names_the_line(tmp_path):
    (tmp_path / CARD_FILE).write_text('{\n  "name": \n')
    with pytest.raises(InputError, match=r"card.json: not valid JSON \(.* at line 3\)"):
        read_card(tmp_path / CARD_FILE)
    with pytest.raises(InputError,
                       match="no card.json in .*tinyml train .*tinyml quantize .*tinyml card"):
        load_card(tmp_path / "elsewhere")
