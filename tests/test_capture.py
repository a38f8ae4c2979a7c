"""`tinyml capture` against the host port replaying BasicMotions streams (one class per label),
its endings (Ctrl-C, a silent device, lost events, no IMU, a refused rate), the captures data
set's split by time, and `tinyml train activity --captures` on what was recorded."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import FIRMWARE, REPO_ROOT, WORKSPACE
from tinyml_pipeline.tools import emulate
from tinyml_pipeline.tools.capture import HEADER_BYTES, SAMPLE_BYTES
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.device import Device, DeviceTimeout
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.imu_replay import read_replay, series_stream, write_replay
from tinyml_pipeline.training import captures as captures_data
from tinyml_pipeline.training.datasets import load_basic_motions

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("cc") is None,
                                reason="cmake and a C compiler are needed for the host port")

# label: the BasicMotions class replayed for it
CLASSES = {"running": "Running", "standing": "Standing", "walking": "Walking"}
RATE_HZ = 10.0
SERIES_PER_CLASS = 20  # 2,000 samples, 200 s: every split gets several windows


@pytest.fixture(scope="module")
def host_firmware():
    return FIRMWARE.build("host", quiet=True)


@pytest.fixture(scope="module")
def streams():
    """{label: its class's BasicMotions series back to back, (n, 6) float32}."""
    data = load_basic_motions(WORKSPACE)
    x = np.concatenate([data.x_train, data.x_val, data.x_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    return {label: series_stream(x[y == data.labels.index(name)][:SERIES_PER_CLASS])
            for label, name in CLASSES.items()}


@pytest.fixture(scope="module")
def replays(tmp_path_factory, streams):
    directory = tmp_path_factory.mktemp("replays")
    return {label: write_replay(directory / f"{label}.bin", stream, RATE_HZ)
            for label, stream in streams.items()}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, host_firmware, replays, streams):
    """A captures directory: each label recorded from the host port replaying its class."""
    out = tmp_path_factory.mktemp("captures")
    for label, replay in replays.items():
        seconds = len(streams[label]) / RATE_HZ
        with emulate.start("host", FIRMWARE, imu_replay=replay) as board:
            assert main(["-q", "capture", "--label", label, "--seconds", f"{seconds:g}",
                         "--port", board.url, "--out", str(out)]) == 0
    return out


def _only(directory, pattern):
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_recordings_hold_the_replayed_samples_and_describe_them(recorded, streams):
    assert sorted(p.name for p in recorded.iterdir()) == sorted(CLASSES)
    for label, stream in streams.items():
        directory = recorded / label
        recording = _only(directory, "*.imu")
        assert recording.name.startswith(f"{label}-") and recording.stem.endswith("Z")
        samples, rate = read_replay(recording)
        assert rate == RATE_HZ
        np.testing.assert_array_equal(samples, stream)  # the floats, bit for bit
        sidecar = json.loads((directory / f"{recording.stem}.json").read_text())
        assert sidecar["label"] == label and sidecar["file"] == recording.name
        assert sidecar["sample_rate_hz"] == RATE_HZ
        assert sidecar["units"] == {"acceleration": "m/s^2", "angular_rate": "rad/s"}
        assert sidecar["channels"] == ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
        assert sidecar["samples"] == len(stream) and sidecar["seconds"] == len(stream) / RATE_HZ
        assert (sidecar["end"], sidecar["dropped_samples"]) == ("complete", 0)
        assert sidecar["sha256"] == sha256_of(recording)
        assert sidecar["device"]["board"] == "host"
        assert sidecar["started_at"].endswith("Z")
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            [recording.name, f"{recording.stem}.json"])  # no .partial left behind


def test_summary_on_stdout_and_the_default_rate(host_firmware, replays, streams, tmp_path,
                                                capsys):
    with emulate.start("host", FIRMWARE, imu_replay=replays["walking"]) as board:
        # No --rate: the committed activity model's rate, 10 Hz, which the replay has.
        assert main(["-q", "capture", "--label", "walking", "--seconds", "2.5",
                     "--port", board.url, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    recording = _only(tmp_path / "walking", "*.imu")
    assert captured.out == (f"walking: 25 samples at 10 Hz (2.5 s, complete) -> "
                            f"{recording}\n")
    assert captured.err == ""
    np.testing.assert_array_equal(read_replay(recording)[0], streams["walking"][:25])


def test_a_board_without_imu_is_refused_in_one_line(host_firmware, tmp_path, capsys):
    with emulate.start("host", FIRMWARE) as board:  # no replay file: no IMU
        assert main(["capture", "--label", "walking", "--seconds", "1", "--port", board.url,
                     "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyml: error: the device (host") and "has no IMU" in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_refused_rate_is_one_line(host_firmware, replays, tmp_path, capsys):
    with emulate.start("host", FIRMWARE, imu_replay=replays["walking"]) as board:
        assert main(["capture", "--label", "walking", "--seconds", "1", "--rate", "50",
                     "--port", board.url, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot sample its IMU at 50 Hz (UNSUPPORTED)" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("arguments, message", [
    (["--label", "../etc", "--seconds", "1"], "'../etc' is not a safe directory name"),
    (["--label", ".hidden", "--seconds", "1"], "is not a safe directory name"),
    (["--label", "two words", "--seconds", "1"], "is not a safe directory name"),
    (["--label", "", "--seconds", "1"], "is not a safe directory name"),
    (["--label", "walking", "--seconds", "0"], "must be a positive number"),
    (["--label", "walking", "--seconds", "1", "--rate", "-5"], "must be a positive number"),
    (["--label", "walking", "--seconds", "0.01"], "is not one sample"),
])
def test_bad_arguments_exit_2(arguments, message, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["capture", *arguments])
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def _events_then(monkeypatch, count: int, then):
    """Device.next_event passes `count` events through, then answers then(device, timeout)."""
    original = Device.next_event
    seen = []

    def next_event(self, timeout=None):
        if len(seen) < count:
            seen.append(original(self, timeout))
            return seen[-1]
        return then(self, timeout)

    monkeypatch.setattr(Device, "next_event", next_event)
    return original


def test_a_silent_device_keeps_what_arrived(host_firmware, replays, streams, tmp_path,
                                            monkeypatch, capsys):
    def silence(device, timeout):
        raise DeviceTimeout("no event from the device within 5 s")

    _events_then(monkeypatch, 3, silence)
    with emulate.start("host", FIRMWARE, imu_replay=replays["running"]) as board:
        # 5 s: what the port sends fits the pty's buffer, so it ends as soon as it is asked
        assert main(["-q", "capture", "--label", "running", "--seconds", "5",
                     "--port", board.url, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tinyml: the device stopped answering after 2.4 s")
    assert "kept the 24 samples" in err and err.count("\n") == 1
    recording = _only(tmp_path / "running", "*.imu")
    np.testing.assert_array_equal(read_replay(recording)[0], streams["running"][:24])
    sidecar = json.loads(recording.with_suffix(".json").read_text())
    assert (sidecar["end"], sidecar["samples"]) == ("link_lost", 24)
    assert "no event" in sidecar["end_detail"]


def test_lost_events_are_reported_and_skipped(host_firmware, replays, streams, tmp_path,
                                              monkeypatch, capsys):
    def lose_one(device, timeout):  # the 3rd event, samples 16 to 23, never arrives
        original(device, timeout)
        monkeypatch.setattr(Device, "next_event", original)
        return original(device, timeout)

    original = _events_then(monkeypatch, 2, lose_one)
    with emulate.start("host", FIRMWARE, imu_replay=replays["standing"]) as board:
        assert main(["-q", "capture", "--label", "standing", "--seconds", "4",
                     "--port", board.url, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "8 samples were lost on the link (8 at sample 16)" in err
    recording = _only(tmp_path / "standing", "*.imu")
    expected = np.concatenate([streams["standing"][:16], streams["standing"][24:40]])
    np.testing.assert_array_equal(read_replay(recording)[0], expected)
    sidecar = json.loads(recording.with_suffix(".json").read_text())
    assert (sidecar["end"], sidecar["dropped_samples"], sidecar["gaps"]) == (
        "complete", 8, [[16, 8]])


def test_ctrl_c_keeps_what_arrived(host_firmware, replays, streams, tmp_path):
    # The host port paced at the file's 10 Hz, as a board samples; a real SIGINT to the CLI.
    board = subprocess.Popen([str(host_firmware), "--pty", "--imu", str(replays["walking"]),
                              "--imu-paced"], stdout=subprocess.PIPE, text=True)
    try:
        url = board.stdout.readline().split()[1]
        cli = subprocess.Popen([sys.executable, "-m", "tinyml_pipeline.tools.cli", "-q", "capture",
                                "--label", "walking", "--seconds", "60", "--port", url,
                                "--out", str(tmp_path)],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        _wait_for_samples(tmp_path / "walking", 16)
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=10)
    finally:
        board.terminate()
        board.wait(timeout=5)
    assert cli.returncode == 130, err
    assert err.startswith("tinyml: capture interrupted after") and err.count("\n") == 1
    recording = _only(tmp_path / "walking", "*.imu")
    samples, _ = read_replay(recording)
    assert out.startswith(f"walking: {len(samples)} samples at 10 Hz (")
    assert out.endswith(f"interrupted) -> {recording}\n")
    assert len(samples) >= 16
    np.testing.assert_array_equal(samples, streams["walking"][:len(samples)])
    sidecar = json.loads(recording.with_suffix(".json").read_text())
    assert (sidecar["end"], sidecar["samples"]) == ("interrupted", len(samples))
    assert not list((tmp_path / "walking").glob(".*"))


def _wait_for_samples(directory, count: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = list(directory.glob(".*.partial")) if directory.is_dir() else []
        if partial and partial[0].stat().st_size >= HEADER_BYTES + count * SAMPLE_BYTES:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {count} samples in {directory} within {timeout:g} s")


# --- the captures data set ------------------------------------------------------------------

def _write_class(root, label, lengths, rate=RATE_HZ):
    """Recordings whose channel-0 value names the sample: class, recording and time."""
    for number, length in enumerate(lengths):
        samples = np.arange(length * 6, dtype=np.float32).reshape(length, 6)
        samples += 1e6 * ord(label[0]) + 1e4 * number
        write_replay(root / label / f"{label}-{number}.imu", samples, rate)


def test_each_recording_is_split_by_time_with_no_sample_in_two_splits(tmp_path):
    _write_class(tmp_path, "b", [1000, 700])
    _write_class(tmp_path, "a", [800])
    (tmp_path / "empty").mkdir()  # no recording: not a class
    data = captures_data.load_captures(tmp_path, RATE_HZ, 100, WORKSPACE)
    assert data.labels == ["a", "b"]
    splits = {"train": data.x_train, "validation": data.x_val, "test": data.x_test}
    owners = {name: set(x[..., 0].ravel().tolist()) for name, x in splits.items()}
    assert not owners["train"] & owners["validation"]
    assert not owners["train"] & owners["test"] and not owners["validation"] & owners["test"]
    assert data.x_train.shape[1:] == (100, 6) and data.y_train.dtype == np.int64
    # 1000 samples: 700 train (13 windows), 150 validation (2), 150 test (2)
    assert data.notes["classes"]["b"]["windows"] == {"train": 13 + 8, "validation": 2 + 1,
                                                     "test": 2 + 1}
    assert data.notes["classes"]["a"] == {"recordings": 1, "seconds": 80.0,
                                          "windows": {"train": 10, "validation": 1, "test": 1}}
    assert len(data.files) == 3 and data.notes["sample_rate_hz"] == RATE_HZ
    # a's test part is its last 15 %, samples 680 to 799: one window, from 680
    (window,) = data.x_test[data.y_test == 0]
    assert window[0, 0] == 1e6 * ord("a") + 680 * 6


def test_captures_errors_name_the_file_and_what_is_needed(tmp_path):
    _write_class(tmp_path, "a", [800])
    with pytest.raises(InputError, match="at least two classes"):
        captures_data.load_captures(tmp_path, RATE_HZ, 100, WORKSPACE)
    _write_class(tmp_path, "b", [600])
    with pytest.raises(InputError, match=r"b-0.imu: 60.0 s of b is too little: each recording "
                                         r"needs at least 66.4 s"):
        captures_data.load_captures(tmp_path, RATE_HZ, 100, WORKSPACE)
    _write_class(tmp_path, "b", [800], rate=50.0)
    with pytest.raises(InputError, match=r"b-0.imu: recorded at 50 Hz, but the model is "
                                         r"trained at 10 Hz"):
        captures_data.load_captures(tmp_path, RATE_HZ, 100, WORKSPACE)
    with pytest.raises(InputError, match="no captures directory"):
        captures_data.load_captures(tmp_path / "nowhere", RATE_HZ, 100, WORKSPACE)


def test_captures_only_train_the_activity_model(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["train", "digits", "--captures", str(tmp_path)])
    assert caught.value.code == 2
    assert "--captures trains the activity model" in capsys.readouterr().err
    assert main(["train", "activity", "--captures", str(tmp_path / "none")]) == 2
    assert "no captures directory" in capsys.readouterr().err


@pytest.mark.slow
def test_train_activity_on_the_captures(recorded, tmp_path, capsys):
    from tinyml_pipeline.tools.tflite_model import TFLiteModel

    out = tmp_path / "activity"
    assert main(["-q", "train", "activity", "--captures", str(recorded), "--epochs", "3",
                 "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["labels"] == sorted(CLASSES)
    dataset = card["dataset"]
    assert dataset["name"] == "captures" and dataset["sample_rate_hz"] == RATE_HZ
    recordings = sorted(recorded.glob("*/*.imu"))
    assert sorted(f["sha256"] for f in dataset["files"]) == sorted(
        sha256_of(path) for path in recordings)
    # 2,000 samples a class: 1,400 train (27 windows), 300 validation (5), 300 test (5)
    assert dataset["split"] == {"train": 81, "validation": 15, "test": 15}
    model = TFLiteModel.from_file(out / "model.tflite")
    assert model.inputs[0].type_name == "INT8" and model.outputs[0].type_name == "INT8"
    assert model.inputs[0].shape == (1, 100, 6) and model.outputs[0].shape == (1, 3)
    # evaluate finds the captures through the card, as validation will
    assert main(["-q", "evaluate", str(out)]) == 0
    assert "15 test samples of test_x.npy" in capsys.readouterr().out  # written beside the model
