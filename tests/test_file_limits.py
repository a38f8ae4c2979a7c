"""Limits on the files users hand the tools: test sets and `run --inputs` (.npy/.npz), IMU
recordings and captures directories, cards, validation journals and the reports `report merge`
reads. Each bad file is refused in one line (InputError, exit 2 from the CLI), quickly, and
before memory for its contents is committed (measured with tracemalloc where it matters)."""

from __future__ import annotations

import json
import math
import shutil
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tinyml_pipeline.tools import file_limits, imu_replay, testset
from tinyml_pipeline.tools.card import CARD_FILE, MAX_CARD_BYTES, read_card
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.validation import merge
from tinyml_pipeline.tools.validation.journal import MAX_JOURNAL_LINE, Journal
from tinyml_pipeline.tools.workspace import Workspace
from tinyml_pipeline.training import captures

LINEAR = MODELS_DIR / "linear"
MiB = 1 << 20


def _npy_header(shape: tuple, dtype: str = "<f4") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _refused_lightly(function, *args, match: str, peak: int = 4 * MiB, **kwargs):
    """`function` raises InputError matching `match` within a second, allocating at most
    `peak` bytes on the way."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(InputError, match=match) as raised:
            function(*args, **kwargs)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 1.0
    assert used < peak, f"{used:,} bytes allocated before the refusal"
    assert "\n" not in str(raised.value)
    return raised.value


def _run_refused(tmp_path, capsys, inputs: Path, expected: str) -> None:
    out = tmp_path / "y.npy"
    assert main(["run", str(LINEAR / "model.tflite"), "--inputs", str(inputs), "--out",
                 str(out), "--backend", "builtin"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and expected in error, error
    assert not out.exists()


# --- .npy / .npz -----------------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (_npy_header((2**40, 1)), "samples; at most"),
    (_npy_header((1000, 2**31), "|u1"), "bytes of data; at most"),  # counted as float32
    (_npy_header((3,), "<c8"), "are not tensors"),
    (_npy_header((3,), "|O"), "are not tensors"),
    (_npy_header(()), "a single value, not samples"),
    (_npy_header((4, 4)) + b"\0" * 10, "truncated"),
    (b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 100, "not a readable .npy array"),
    (b"", "not a readable .npy array"),
])
def test_bad_npy_files_are_refused_before_their_data_is_read(tmp_path, content, message):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    _refused_lightly(testset.read_array, path, match=message)


def test_a_pickled_object_array_is_refused_without_unpickling(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _refused_lightly(testset.read_array, path, match="arrays of object are not tensors")


def test_samples_of_another_size_than_the_models_input_are_refused_from_the_header(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(_npy_header((50_000, 27, 28)))  # 151 MB announced, none present
    _refused_lightly(testset.read_array, path, per_sample=784,
                     match=r"samples of shape \(27, 28\) do not fit the model's input")


def test_evaluate_refuses_a_test_set_that_does_not_fit_the_model(tmp_path):
    from tinyml_pipeline.tools.evaluate import load_test_set

    model_dir = tmp_path / "linear"
    shutil.copytree(LINEAR, model_dir)
    np.save(tmp_path / "other.npy", np.zeros((10, 3), np.float32))  # linear takes [1, 1]
    with pytest.raises(InputError, match=r"samples of shape \(3,\) do not fit"):
        load_test_set(Workspace(tmp_path), model_dir, data=tmp_path / "other.npy")


def test_inputs_and_labels_of_different_lengths_are_refused_before_reading(tmp_path):
    (tmp_path / "set_x.npy").write_bytes(_npy_header((1000, 4)))
    (tmp_path / "set_y.npy").write_bytes(_npy_header((999,)))
    with pytest.raises(InputError, match="1000 inputs but 999 labels"):
        testset.load(None, Workspace(tmp_path), tmp_path, override=tmp_path / "set_x.npy")


def _bomb(path: Path, shape: tuple, data_bytes: int) -> None:
    """An .npz whose x member has `shape` in its header and `data_bytes` of zeros after it,
    deflated (a megabyte of zeros takes about a kilobyte), written a megabyte at a time."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            member.write(_npy_header(shape))
            zeros = bytes(MiB)
            for start in range(0, data_bytes, MiB):
                member.write(zeros[:min(MiB, data_bytes - start)])


def test_a_zip_bomb_member_is_read_only_as_far_as_its_header_says(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path, (2, 8), 256 * MiB)
    assert path.stat().st_size < 2 * MiB
    tracemalloc.start()
    try:
        x = testset.read_array(path, "x")
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert x.shape == (2, 8) and used < 4 * MiB


def test_a_zip_bomb_member_announcing_too_much_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path, (2**22, 1024), 64 * MiB)  # 16 GiB announced
    _refused_lightly(testset.read_array, path, "x", match=r"bomb.npz\[x\].*bytes of data")


def test_an_npz_member_shorter_than_its_header_needs_is_refused_before_inflating(tmp_path):
    path = tmp_path / "short.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", _npy_header((1000, 100)) + bytes(1000))
    _refused_lightly(testset.read_array, path, "x",
                     match=r"truncated \(it holds 1,128 bytes, its header needs 400,128\)")


def test_run_refuses_a_pickled_or_oversized_inputs_file_in_one_line(tmp_path, capsys):
    np.save(tmp_path / "pickled.npy", np.array([object()], dtype=object), allow_pickle=True)
    _run_refused(tmp_path, capsys, tmp_path / "pickled.npy", "are not tensors")
    (tmp_path / "huge.npy").write_bytes(_npy_header((2**33, 1), "|i1"))
    _run_refused(tmp_path, capsys, tmp_path / "huge.npy", "at most")


def test_run_refuses_float_inputs_from_the_header(tmp_path, capsys):
    (tmp_path / "x.npy").write_bytes(_npy_header((10**7, 1)))  # 40 MB announced, none present
    _run_refused(tmp_path, capsys, tmp_path / "x.npy", "inputs are float32, the model takes int8")


def test_run_refuses_an_npz_bomb(tmp_path, capsys):
    _bomb(tmp_path / "bomb.npz", (2**34, 1), 8 * MiB)
    _run_refused(tmp_path, capsys, tmp_path / "bomb.npz", "samples; at most")


# --- IMU recordings and captures -------------------------------------------------------------

def _replay(rate: float = 50.0, samples: np.ndarray | None = None, channels: int = 6) -> bytes:
    samples = np.zeros((4, 6), "<f4") if samples is None else samples
    return struct.pack("<8sfHH", imu_replay.MAGIC, rate, channels, 0) + samples.tobytes()


@pytest.mark.parametrize("content, message", [
    (_replay(rate=math.nan), "sample rate nan Hz"),
    (_replay(rate=math.inf), "sample rate inf Hz"),
    (_replay(rate=0.0), "sample rate 0 Hz"),
    (_replay(rate=1e9), "at most 100000"),
    (_replay(channels=7), "7 channels"),
    (_replay()[:-3], "truncated"),
    (_replay(samples=np.array([[0, 0, math.nan, 0, 0, 0]], "<f4")), "sample 0 is not a finite"),
    (b"TMLIMU", "too short"),
    (b"RIFF" + bytes(40), "no TMLIMU1 header"),
])
def test_damaged_imu_recordings_are_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "r.imu"
    path.write_bytes(content)
    _refused_lightly(imu_replay.read_replay, path, match=message)


def test_an_imu_recording_over_the_limit_is_refused_before_reading(tmp_path):
    path = tmp_path / "r.imu"
    path.write_bytes(_replay())
    with path.open("r+b") as stream:  # sparse: no disk space, no memory
        stream.truncate(imu_replay.MAX_REPLAY_BYTES + 24)
    _refused_lightly(imu_replay.read_replay, path, match="an IMU recording is at most")


def test_a_captures_directory_over_the_limit_is_refused_before_reading(tmp_path, monkeypatch):
    for label in ("still", "walk"):
        (tmp_path / label).mkdir()
        imu_replay.write_replay(tmp_path / label / "a.imu", np.zeros((600, 6)), 50.0)
    monkeypatch.setattr(captures, "MAX_CAPTURES_BYTES", 20_000)
    with pytest.raises(InputError, match="bytes of recordings; at most 20,000"):
        captures.find_recordings(tmp_path)
    monkeypatch.setattr(captures, "MAX_RECORDINGS", 1)
    with pytest.raises(InputError, match="2 recordings; at most 1"):
        captures.find_recordings(tmp_path)


@pytest.mark.parametrize("damage, message", [
    ({"window_steps": "50"}, "window_steps is '50'"),
    ({"window_steps": 10**12}, "window_steps is 1000000000000"),
    ({"sample_rate_hz": -1}, "sample_rate_hz is -1"),
    ({"directory": ["x"]}, "directory is"),
    ({"files": {"a": 1}}, "files is not a list"),
])
def test_a_cards_captures_entry_of_the_wrong_types_is_refused(tmp_path, damage, message):
    entry = {"name": "captures", "directory": "captures", "sample_rate_hz": 50.0,
             "window_steps": 50, "files": []} | damage
    with pytest.raises(InputError, match=message):
        captures.load_from_card(entry, Workspace(tmp_path))


# --- cards -----------------------------------------------------------------------------------

def _card() -> dict:
    return json.loads((LINEAR / CARD_FILE).read_text())


def _write_card(tmp_path, card) -> Path:
    path = tmp_path / CARD_FILE
    path.write_text(json.dumps(card))
    return path


@pytest.mark.parametrize("section, field, value, message", [
    (None, "name", 7, "name is 7; expected a string"),
    (None, "labels", "abc", "labels is not a list"),
    (None, "labels", ["a" * 256], "strings of at most 255 UTF-8 bytes"),
    (None, "labels", ["\ud800"], "strings of at most 255 UTF-8 bytes"),
    (None, "macs", "many", "macs is 'many'; expected an integer"),
    (None, "tflm_arena_bytes", -5, "tflm_arena_bytes is -5"),
    ("input", "shape", "28x28", "input.shape is '28x28'; expected a list"),
    ("input", "shape", [1, -1], r"input.shape is \[1, -1\]"),
    ("input", "shape", [1, 2**20, 2**20], "elements; at most"),
    ("input", "scale", math.nan, "input.scale is nan; expected a finite positive number"),
    ("output", "scale", 0, "output.scale is 0"),
    ("output", "zero_point", 2**40, "output.zero_point is 1099511627776"),
    ("input", "normalization", {"mean": [0.0], "std": [0.0]}, "each std positive"),
    ("model", "file", "../../etc/passwd", "expected a file name in the model directory"),
    ("test_set", "count", "81", "test_set.count is '81'"),
    ("test_set", "transform", {"divide_by": 0}, "divide_by is 0"),
    ("test_set", "x", {"path": 3}, "test_set.x.path is 3"),
    ("dataset", "sample_rate_hz", "fast", "dataset.sample_rate_hz is 'fast'"),
    ("training", "seed", 1.5, "training.seed is 1.5"),
])
def test_a_card_with_fields_of_the_wrong_type_is_refused_on_load(tmp_path, section, field,
                                                                  value, message):
    card = _card()
    (card if section is None else card[section])[field] = value
    error = _refused_lightly(read_card, _write_card(tmp_path, card), match=message)
    assert str(tmp_path) in str(error)


def test_the_committed_cards_pass_the_checks():
    for path in sorted(MODELS_DIR.glob(f"*/{CARD_FILE}")):
        read_card(path)


def test_a_huge_card_is_refused_before_reading(tmp_path):
    path = tmp_path / CARD_FILE
    path.write_text("{")
    with path.open("r+b") as stream:
        stream.truncate(MAX_CARD_BYTES + 1)
    _refused_lightly(read_card, path, match="a card is at most")


def test_a_deeply_nested_card_is_one_line_not_a_recursion_error(tmp_path):
    path = tmp_path / CARD_FILE
    path.write_text("[" * 200_000 + "]" * 200_000)
    _refused_lightly(read_card, path, match="nested too deeply", peak=64 * MiB)


def test_a_card_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / CARD_FILE
    path.write_bytes(b'{"name": "\xff"}')
    _refused_lightly(read_card, path, match="not UTF-8")


def test_evaluate_with_a_mistyped_card_exits_2_in_one_line(tmp_path, capsys):
    model_dir = tmp_path / "linear"
    shutil.copytree(LINEAR, model_dir)
    card = _card()
    card["input"]["shape"] = {"batch": 1}
    _write_card(model_dir, card)
    assert main(["evaluate", str(model_dir)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "input.shape is {'batch': 1}" in error, error


# --- journals and merged reports -------------------------------------------------------------

def _reference(samples: int = 81):
    return SimpleNamespace(name="linear", sha256="ab" * 32, dataset="linear", count=samples,
                           tflm=np.zeros((samples, 1), np.int8))


def _journal(tmp_path, *lines: str, shard=None) -> Path:
    path = tmp_path / "results.jsonl"
    Journal(path, _reference(), resume=False, shard=shard).close()
    with path.open("a") as stream:
        stream.write("".join(line + "\n" for line in lines))
    return path


def _sample(**fields) -> str:
    return json.dumps({"kind": "sample", "index": 3, "output": [5], "cost": 1, "micros": 2,
                       "retries": 0, "exact": True} | fields)


SESSION = {"kind": "session", "jobs": 1, "links": [{"link": "host", "cost_unit": "ns"}]}
END = {"kind": "end", "reason": "complete", "samples": 2, "seconds": 0.5, "bytes_sent": 100}


@pytest.mark.parametrize("line, message", [
    (_sample(output="abc"), "output is not a list of 1 int8 values"),
    (_sample(output=[5, 6]), "output is not a list of 1 int8 values"),
    (_sample(output=[300]), "output is not a list of 1 int8 values"),
    (_sample(cost="slow"), "cost is 'slow'; expected a count"),
    (_sample(micros=None), "micros is None"),
    (_sample(exact="yes"), "exact is 'yes'; expected true or false"),
    (json.dumps(SESSION | {"links": 3}), "links is not a list of link objects"),
    (json.dumps(SESSION | {"jobs": -1}), "jobs is -1; expected a count"),
    (json.dumps(SESSION) + "\n" + json.dumps(END | {"seconds": "long"}), "seconds is 'long'"),
    (json.dumps(SESSION) + "\n" + json.dumps(END | {"samples": 1.5}), "samples is 1.5"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_resume_refuses_sample_lines_the_report_could_not_use(tmp_path, line, message):
    path = _journal(tmp_path, line)
    with pytest.raises(InputError, match=message):
        Journal(path, _reference(), resume=True)


def test_resume_takes_well_formed_samples(tmp_path):
    path = _journal(tmp_path, json.dumps(SESSION), _sample(), _sample(index=4, output=[-7]),
                    json.dumps(END))
    journal = Journal(path, _reference(), resume=True)
    journal.close()
    assert sorted(journal.samples) == [3, 4]
    assert journal.sessions == [SESSION | {"end": END}]


def test_a_journal_line_over_the_limit_is_refused_without_reading_it_whole(tmp_path):
    path = _journal(tmp_path)
    with path.open("ab") as stream:
        stream.write(b'{"kind":"sample","output":[')
        stream.truncate(path.stat().st_size + 64 * MiB)  # 64 MiB of NULs, no newline: sparse
    _refused_lightly(Journal, path, _reference(), resume=True,
                     match=f"line 2 is over {MAX_JOURNAL_LINE:,} bytes", peak=3 * MiB)


def test_a_cut_off_last_line_is_still_dropped_on_resume(tmp_path):
    path = _journal(tmp_path, _sample())
    with path.open("a") as stream:
        stream.write('{"kind":"sample","ind')
    Journal(path, _reference(), resume=True).close()
    assert path.read_text().endswith(_sample() + "\n")


def _shard_run(tmp_path: Path, name: str, run_line: dict, *lines: str) -> Path:
    directory = tmp_path / name
    (directory / "linear").mkdir(parents=True)
    (directory / "linear" / merge.JOURNAL).write_text(
        "".join(json.dumps(line) + "\n" for line in (run_line,)) + "".join(
            line + "\n" for line in lines))
    return directory / "linear" / merge.JOURNAL


RUN = {"kind": "run", "format": 1, "model": "linear", "sha256": "ab" * 32, "dataset": "linear",
       "samples": 81}


@pytest.mark.parametrize("run_line, message", [
    (RUN | {"shard": {"index": 1, "count": 10**12}}, "expected index and count"),
    (RUN | {"shard": {"index": "1", "count": 2}}, "expected index and count"),
    (RUN | {"samples": 10**15}, "its run line has samples"),
    (RUN | {"samples": "81"}, "its run line has samples"),
])
def test_merge_refuses_run_lines_out_of_range_quickly(tmp_path, run_line, message):
    path = _shard_run(tmp_path, "a", run_line)
    _refused_lightly(merge._read_journal, path, match=message)


def test_merge_refuses_a_sample_line_of_the_wrong_types(tmp_path):
    path = _shard_run(tmp_path, "a", RUN | {"shard": {"index": 1, "count": 2}},
                      _sample(index=2.0))
    with pytest.raises(InputError, match="line 2 is a sample without an integer index"):
        merge._read_journal(path)


def test_merge_checks_a_ten_million_sample_shard_without_building_its_index_set(tmp_path):
    big = RUN | {"samples": 10_000_000}
    journals = {_shard_run(tmp_path, name, big | {"shard": {"index": k, "count": 2}},
                           _sample(index=k - 1)): None for k, name in ((1, "a"), (2, "b"))}
    journals = {path: merge._read_journal(path) for path in journals}
    tracemalloc.start()
    try:
        merge.check_shards(journals)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert used < MiB


@pytest.mark.parametrize("content, message", [
    ('{"totals": {"min_agreement": "all", "seconds": 1}}', "not a validation report"),
    ('{"totals": []}', "not a validation report"),
    ("[1, 2", "not valid JSON"),
])
def test_merge_refuses_a_shard_report_it_cannot_use(tmp_path, content, message):
    (tmp_path / "report.json").write_text(content)
    with pytest.raises(InputError, match=message):
        merge._top(tmp_path)


def test_json_files_over_the_limit_are_refused_before_reading(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("{")
    with path.open("r+b") as stream:
        stream.truncate(file_limits.MAX_JSON_BYTES + 1)
    _refused_lightly(merge._top, tmp_path, match="a report is at most")


def test_limit_reads_only_the_first_samples_of_a_set_too_large_to_read_whole(tmp_path):
    path = tmp_path / "big_x.npy"
    path.write_bytes(_npy_header((5_000_000, 784), "|u1"))
    with path.open("r+b") as stream:  # 3.9 GB, sparse: announced and present, never read
        stream.truncate(path.stat().st_size + 5_000_000 * 784)
    workspace = Workspace(tmp_path)
    _refused_lightly(testset.load, None, workspace, tmp_path, override=path,
                     match="bytes of data; at most")
    tracemalloc.start()
    try:
        arrays = testset.load(None, workspace, tmp_path, override=path, limit=3, per_sample=784)
        used = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert arrays.x.shape == (3, 784) and used < MiB


def test_merge_names_missing_shards_of_a_huge_count_without_listing_them_all(tmp_path):
    run = RUN | {"shard": {"index": 1, "count": 10_000_000}}
    path = _shard_run(tmp_path, "a", run)
    error = _refused_lightly(merge.check_shards, {path: merge._read_journal(path)},
                             match="shards 2/10000000, 3/10000000")
    assert str(error).endswith("11/10000000 and 9,999,989 more missing")


def test_quantize_refuses_calibration_files_out_of_range_in_one_line(tmp_path, capsys):
    import tf_keras as keras

    model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    np.save(tmp_path / "pickled.npy", np.array([None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "narrow.npy", np.zeros((10, 3), np.float32))
    (tmp_path / "huge.npy").write_bytes(_npy_header((2**24, 4)))
    for name, message in (("pickled", "are not tensors"), ("huge", "samples; at most"),
                          ("narrow", "samples of shape (3,) do not fit the model's input (4 "
                                     "values each)")):
        status = main(["quantize", str(tmp_path / "m.keras"), "--calibration",
                       str(tmp_path / f"{name}.npy"), "--out", str(tmp_path / "out")])
        # Progress lines may come first; the error is one line, the last.
        error = [line for line in capsys.readouterr().err.strip().splitlines()
                 if not line.startswith("[out] ")]
        assert status == 2 and len(error) == 1 and message in error[0], error
        assert not (tmp_path / "out").exists()


def test_report_merge_of_a_damaged_shard_exits_2_in_one_line(tmp_path, capsys):
    _shard_run(tmp_path, "a", RUN | {"shard": {"index": 1, "count": 2}}, _sample(index=0))
    _shard_run(tmp_path, "b", RUN | {"shard": {"index": 2, "count": 2}},
               _sample(index=1, output={"x": 1}))
    assert main(["report", "merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out",
                 str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0
    assert "line 2: output is not a list of int8 or int16 values" in error
    assert not (tmp_path / "out").exists()


def test_an_npz_of_too_many_members_is_refused_from_its_end_record(tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for number in range(testset.MAX_NPZ_MEMBERS + 1):
            archive.writestr(f"a{number}.npy", b"")
    message = "1,001 members; an .npz of arrays holds at most 1,000"
    _refused_lightly(testset.read_array, path, "x", match=message, peak=MiB)
    _refused_lightly(testset.locate, path, match=message, peak=MiB)


def test_a_labels_file_with_a_label_longer_than_the_protocol_carries_is_refused(tmp_path):
    from tinyml_pipeline.tools.describe_model import read_labels

    path = tmp_path / "labels.txt"
    path.write_text("cat\n" + "é" * 128 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="label 2 is over 255 UTF-8 bytes"):
        read_labels(path)
    path.write_text("cat\ndog\n", encoding="utf-8")
    assert read_labels(path) == ["cat", "dog"]
