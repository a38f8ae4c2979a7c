"""`tinyml validate --shard K/N` and `tinyml report merge`: the shards are disjoint and cover the
test set, and their merged report equals the report of one unsharded run; shards that are not one
run's split are refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.validation.shard import parse_shard, shard_indices

COMPARED = ("model", "sha256", "dataset", "test_samples", "validated", "complete", "tflm",
            "litert", "accuracy", "argmax_agreement", "confusion", "retries", "passed")


@pytest.mark.parametrize("total, count", [(10, 3), (7, 7), (5, 8), (81, 1)])
def test_the_shards_are_disjoint_and_cover_the_test_set(total, count):
    parts = [list(shard_indices(total, (k, count))) for k in range(1, count + 1)]
    assert sorted(i for part in parts for i in part) == list(range(total))
    assert all(i % count == k for k, part in enumerate(parts) for i in part)


@pytest.mark.parametrize("text", ["0/2", "3/2", "2", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(InputError, match="give K/N"):
        parse_shard(text)


def _validate(report: Path, *extra: str) -> None:
    status = main(["-q", "validate", "--model", "all", "--emulator", "host", "--limit", "150",
                   "--report", str(report), *extra])
    assert status == 0


def _models(directory: Path) -> dict:
    return json.loads((directory / "report.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if shutil.which("cmake") is None or shutil.which("cc") is None:
        pytest.skip("cmake and cc not installed (scripts/install-system-deps.sh installs them)")
    root = tmp_path_factory.mktemp("shards")
    _validate(root / "whole")
    for k in (1, 2, 3):
        _validate(root / f"shard{k}", "--shard", f"{k}/3")
    return root


def test_merged_shards_equal_one_unsharded_run(runs, capsys):
    capsys.readouterr()
    shard = _models(runs / "shard2")["models"]["digits"]
    assert shard["shard"] == {"index": 2, "count": 3}
    assert shard["validated"] == 50 and shard["complete"]
    status = main(["-q", "report", "merge", *(str(runs / f"shard{k}") for k in (3, 1, 2)),
                   "--out", str(runs / "merged")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.strip().splitlines()[-1].startswith("TOTAL 3 models, 271 samples: 271/271 exact")
    whole, merged = _models(runs / "whole"), _models(runs / "merged")
    for name in ("activity", "digits", "linear"):
        for key in COMPARED:
            assert merged["models"][name].get(key) == whole["models"][name].get(key), (name, key)
        assert "shard" not in merged["models"][name]
        lines = (runs / "merged" / name / "results.jsonl").read_text().splitlines()
        indices = [json.loads(line)["index"] for line in lines if '"sample"' in line]
        assert sorted(indices) == list(range(whole["models"][name]["test_samples"]))
    for key in ("models", "validated", "exact", "fraction", "passed"):
        assert merged["totals"][key] == whole["totals"][key], key
    assert (runs / "merged" / "digits" / "confusion.png").stat().st_size > 0


@pytest.mark.parametrize("shards, expected", [
    (("shard1", "shard2"), "shard 3/3 missing"),
    (("shard1", "shard1", "shard2", "shard3"), "is given twice"),
    (("shard1", "copy1", "shard2", "shard3"), "are both shard 1/3"),
    (("whole", "shard1"), "is not a shard"),
])
def test_shards_that_are_not_one_split_are_refused_in_one_line(runs, shards, expected, capsys):
    if not (runs / "copy1").exists():
        shutil.copytree(runs / "shard1", runs / "copy1")
    status = main(["-q", "report", "merge", *(str(runs / name) for name in shards),
                   "--out", str(runs / "refused")])
    err = capsys.readouterr().err
    assert status == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert not (runs / "refused" / "report.json").exists()


def test_shards_of_another_model_are_refused(runs, capsys):
    other = runs / "other"
    shutil.copytree(runs / "shard3", other)
    journal = other / "digits" / "results.jsonl"
    lines = journal.read_text().splitlines()
    header = json.loads(lines[0]) | {"sha256": "0" * 64}
    journal.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    status = main(["-q", "report", "merge", str(runs / "shard1"), str(runs / "shard2"),
                   str(other), "--out", str(runs / "refused")])
    err = capsys.readouterr().err
    assert status == 2 and "has sha256 '0000" in err and "not shards of one" in err, err
