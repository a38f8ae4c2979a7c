"""Test sets as cards record them and users hand them over: the formats, the checks made before
any array is allocated, and the metrics a validation computes from them."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, WORKSPACE
from tinyml_pipeline.tools import metrics, testset
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.workspace import Workspace


def _npy_with_header(shape: tuple, dtype: str = "<f4") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def test_an_npz_with_x_and_y_and_an_npy_pair_are_read(tmp_path):
    x, y = np.arange(12, dtype=np.float32).reshape(3, 4), np.array([0, 1, 2])
    np.savez(tmp_path / "set.npz", x=x, y=y)
    np.save(tmp_path / "set_x.npy", x)
    np.save(tmp_path / "set_y.npy", y)
    workspace = Workspace(tmp_path)
    for name in ("set.npz", "set_x.npy"):
        entry = testset.describe(tmp_path / name, workspace, tmp_path / "model")
        loaded = testset.load(entry, workspace, tmp_path / "model")
        assert np.array_equal(loaded.x, x) and np.array_equal(loaded.y, y)
        assert entry["count"] == 3 and entry["x"]["base"] == "workspace"


def test_a_file_outside_the_workspace_is_copied_into_the_model_directory(tmp_path):
    np.savez(tmp_path / "outside.npz", x=np.zeros((2, 3), np.float32))
    workspace, model_dir = Workspace(tmp_path / "ws"), tmp_path / "ws" / "models" / "m"
    entry = testset.describe(tmp_path / "outside.npz", workspace, model_dir)
    assert entry["x"]["base"] == "model" and (model_dir / entry["x"]["path"]).is_file()
    assert entry["y"] is None
    assert testset.load(entry, workspace, model_dir).x.shape == (2, 3)


def test_a_changed_test_file_is_refused_by_its_sha256(tmp_path):
    np.savez(tmp_path / "set.npz", x=np.zeros((2, 3), np.float32))
    workspace = Workspace(tmp_path)
    entry = testset.describe(tmp_path / "set.npz", workspace, tmp_path)
    np.savez(tmp_path / "set.npz", x=np.ones((2, 3), np.float32))
    with pytest.raises(InputError, match="differs from the one the card records"):
        testset.load(entry, workspace, tmp_path)


@pytest.mark.parametrize("content, message", [
    (_npy_with_header((2**40, 1000)), "samples; at most"),
    (_npy_with_header((1000, 2**31)), "bytes of data; at most"),
    (_npy_with_header((3,), "|O"), "are not tensors"),
    (_npy_with_header((4, 4)) + b"\0" * 10, "truncated"),
    (b"not an array", "not a readable .npy array"),
])
def test_bad_arrays_are_refused_in_one_line_before_allocation(tmp_path, content, message):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        testset.read_array(path)


def test_an_npz_without_x_names_what_it_has(tmp_path):
    np.savez(tmp_path / "set.npz", inputs=np.zeros(3))
    with pytest.raises(InputError, match="has no array 'x' .*inputs"):
        testset.locate(tmp_path / "set.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InputError, match="not a .npz archive"):
        testset.locate(tmp_path / "broken.npz")


def test_a_huge_member_of_an_npz_is_refused_from_its_header(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", _npy_with_header((2**20, 2**20)))
    (tmp_path / "set.npz").write_bytes(buffer.getvalue())
    with pytest.raises(InputError, match=r"set.npz\[x\].*bytes of data"):
        testset.read_array(tmp_path / "set.npz", "x")


def test_samples_that_do_not_fit_the_input_are_refused():
    assert testset.shaped_for(np.zeros((5, 28, 28)), (1, 28, 28, 1), "t").shape == (5, 28, 28, 1)
    with pytest.raises(InputError, match=r"samples of shape \(27, 28\) do not fit"):
        testset.shaped_for(np.zeros((5, 27, 28)), (1, 28, 28, 1), "t")


def test_the_committed_test_files_are_what_the_data_sets_give(tmp_path):
    """models/*/test_[xy].npy are generated: the pipeline writes them from the bundled data
    (before any normalization); they must be byte for byte what it writes now."""
    import json

    from tinyml_pipeline.training import datasets, pipeline

    for name in ("linear", "activity"):
        card = json.loads((MODELS_DIR / name / "card.json").read_text())
        data = datasets.load(card["dataset"]["name"], WORKSPACE, card["training"]["seed"])
        regenerated = pipeline.write_test_set(tmp_path / name, data, (data.x_test,
                                                                      data.y_test), WORKSPACE)
        assert regenerated == card["test_set"], name  # the same names, sizes and sha256


def test_tensor_metrics_of_known_vectors():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    b = np.array([[1.0, 0.0], [0.0, 1.0]])
    found = metrics.tensor_metrics(a, b)
    assert found["rmse"] == pytest.approx(0.5)  # one difference of 1 over four values
    assert found["mean_abs_error"] == pytest.approx(0.25)
    assert found["cosine_similarity"] == pytest.approx(1.0)  # same directions
    assert found["relative_l2_error"] == pytest.approx(1 / np.sqrt(2))
    opposite = metrics.tensor_metrics(-b, b)
    assert opposite["cosine_similarity"] == pytest.approx(-1.0)


def test_classification_metrics_give_per_class_accuracy_and_confusion():
    scores = np.array([[5, 1], [1, 5], [5, 1], [5, 1]])
    found = metrics.classification(scores, np.array([0, 1, 1, 0]), ["a", "b"])
    assert found["accuracy"] == 0.75
    assert found["per_class"]["b"] == {"accuracy": 0.5, "correct": 1, "total": 2}
    assert found["confusion_matrix"] == [[2, 0], [1, 1]]
