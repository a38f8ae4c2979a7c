"""Atomic writes leave a whole file with the permissions a plain open() would give it."""

import stat

import pytest

import tinyml_pipeline.tools.atomic as atomic


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0666_less_the_umask(umask, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_UMASK", umask)
    path = tmp_path / "out" / "card.json"
    atomic.atomic_write_text(path, "{}\n")
    assert path.read_text() == "{}\n" and _mode(path) == expected


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")
    path.chmod(0o640)
    atomic.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    path.write_text("old")

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
