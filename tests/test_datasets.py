"""Loaders: shapes, dtypes, splits, and the clear errors for missing or altered files."""

import gzip
import shutil

import numpy as np
import pytest

from tests.conftest import WORKSPACE
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.workspace import Workspace
from tinyml_pipeline.training import datasets


def test_mnist_shapes_and_splits():
    data = datasets.load_mnist(WORKSPACE)
    assert data.x_train.shape == (54000, 28, 28, 1) and data.x_val.shape == (6000, 28, 28, 1)
    assert data.x_test.shape == (10000, 28, 28, 1)
    assert data.x_train.dtype == np.float32 and 0.0 <= data.x_train.min() <= data.x_train.max() <= 1
    assert data.y_test.dtype == np.int64
    # The genuine test set begins 7 2 1 0 4 1 4 9 5 9.
    assert data.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert data.labels == [str(d) for d in range(10)]
    assert data.files[0]["sha256"] == datasets.MNIST_SHA256


def test_basic_motions_shapes_classes_and_stratified_validation():
    data = datasets.load_basic_motions(WORKSPACE, seed=3)
    assert data.x_train.shape == (32, 100, 6) and data.x_val.shape == (8, 100, 6)
    assert data.x_test.shape == (40, 100, 6) and data.x_test.dtype == np.float32
    assert data.labels == ["Standing", "Running", "Walking", "Badminton"]
    assert np.bincount(data.y_val, minlength=4).tolist() == [2, 2, 2, 2]
    assert np.bincount(data.y_test, minlength=4).tolist() == [10, 10, 10, 10]
    # The same seed chooses the same validation series.
    again = datasets.load_basic_motions(WORKSPACE, seed=3)
    assert np.array_equal(again.x_val, data.x_val)


def test_linear_data_is_the_slides_function():
    data = datasets.load_linear()
    assert data.x_train.reshape(-1).tolist() == [-1, 0, 1, 2, 3, 4]
    assert np.allclose(data.y_test, 2 * data.x_test - 1)
    assert data.calibration_inputs.min() == -10 and data.calibration_inputs.max() == 10


@pytest.fixture
def data_copy(tmp_path):
    """A workspace's data/ holding a copy of BasicMotions."""
    for relative, _ in datasets.BASIC_MOTIONS_FILES.values():
        target = tmp_path / "data" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(WORKSPACE.data / relative, target)
    return tmp_path / "data"


def test_altered_file_names_the_file_and_both_hashes(data_copy):
    relative, expected = datasets.BASIC_MOTIONS_FILES["test"]
    path = data_copy / relative
    content = bytearray(path.read_bytes())
    content[-10] ^= 0x01
    path.write_bytes(bytes(content))
    with pytest.raises(InputError) as caught:
        datasets.load_basic_motions(Workspace(data_copy.parent))
    message = str(caught.value)
    assert str(path) in message and expected in message and "altered" in message


def test_missing_file_names_the_file(data_copy):
    relative, _ = datasets.BASIC_MOTIONS_FILES["train"]
    (data_copy / relative).unlink()
    with pytest.raises(InputError, match=r"data file missing: put "
                                         r"basic_motions/BasicMotions_TRAIN\.ts into .*data/"):
        datasets.load_basic_motions(Workspace(data_copy.parent))


def test_the_card_records_bundled_files_relative_to_the_workspace(data_copy):
    data = datasets.load_basic_motions(Workspace(data_copy.parent))
    assert [f["path"] for f in data.files] == [
        "data/basic_motions/BasicMotions_TRAIN.ts", "data/basic_motions/BasicMotions_TEST.ts"]


def test_malformed_series_reports_file_and_line(tmp_path):
    path = tmp_path / "bad.ts"
    path.write_text("@classLabel true a b\n@data\n1,2:3,4:a\n1,x:3,4:b\n")
    with pytest.raises(InputError, match=r"bad\.ts:4: malformed series"):
        datasets.parse_ts(path)


def test_unknown_dataset_name():
    with pytest.raises(InputError, match="unknown data set 'cifar'"):
        datasets.load("cifar", WORKSPACE)


def test_idx_reader_round_trip_and_truncation(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    good = tmp_path / "images-idx3-ubyte.gz"
    good.write_bytes(gzip.compress(header + images.tobytes()))
    assert np.array_equal(datasets._read_idx(good), images)
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(header + images.tobytes()[:-1]))
    with pytest.raises(InputError, match="truncated IDX"):
        datasets._read_idx(short)


def test_fashion_mnist_from_debian_package():
    directory = datasets.FASHION_MNIST_DIRS[0]
    if not (directory / datasets.FASHION_MNIST_FILES["x_test"]).is_file():
        pytest.skip(f"Fashion-MNIST not installed in {directory} "
                    "(Debian package dataset-fashion-mnist; make test installs it as root)")
    data = datasets.load_fashion_mnist()
    assert data.x_train.shape == (54000, 28, 28, 1) and data.x_test.shape == (10000, 28, 28, 1)
    assert data.labels[9] == "Ankle boot" and sorted(set(data.y_test.tolist())) == list(range(10))
    assert all(len(f["sha256"]) == 64 for f in data.files)
