"""`tinyml validate` end to end: the host port and the QEMU image against the desktop reference,
the stale-firmware refusal, a device killed mid-run and resumed, a noisy line that retries fix,
and a device whose outputs are wrong (the gate's exit 1)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MODELS_DIR, REPO_ROOT, WORKSPACE
from tests.support.faulty_links import BitFlippingTransport, TamperingTransport
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.validation.validate import Options, run

NEEDS_HOST = ("cmake", "cc")
NEEDS_QEMU = ("cmake", "arm-none-eabi-gcc", "qemu-system-arm")


def _require(tools):
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/install-system-deps.sh "
                    "installs them)")


def _reports(directory: Path) -> dict:
    return json.loads((directory / "report.json").read_text())["models"]


def _sample_lines(journal: Path) -> list[dict]:
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    return [line for line in lines if line["kind"] == "sample"]


def _check_against_desktop(reports: dict, expected_counts: dict) -> None:
    for name, count in expected_counts.items():
        report = reports[name]
        assert report["validated"] == report["test_samples"] == count, name
        assert report["tflm"]["exact"] == count and report["tflm"]["max_difference_lsb"] == 0
        assert report["passed"]
        accuracy = report["accuracy"]
        assert accuracy["device"] == accuracy["desktop_int8_tflm"], name
        assert report["latency"]["cost"]["median"] > 0
        assert report["throughput"]["samples"] == count


def test_validate_all_models_on_the_host_port(tmp_path, capsys):
    _require(NEEDS_HOST)
    status = main(["-q", "validate", "--model", "all", "--emulator", "host", "--limit", "2000",
                   "--report", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    _check_against_desktop(_reports(tmp_path), {"activity": 40, "digits": 2000, "linear": 81})
    assert out.strip().splitlines()[-1].startswith("TOTAL 3 models, 2121 samples: 2121/2121 exact")
    for name in ("activity", "digits"):
        assert (tmp_path / name / "confusion.png").stat().st_size > 0
    assert (tmp_path / "linear" / "prediction.png").stat().st_size > 0
    assert len(_sample_lines(tmp_path / "digits" / "results.jsonl")) == 2000
    digits = _reports(tmp_path)["digits"]
    assert sum(map(sum, digits["confusion"]["matrix"])) == 2000
    assert digits["firmware"][0]["board"] == "host"


def test_validate_all_models_on_two_qemu_images(tmp_path, capsys):
    _require(NEEDS_QEMU)
    status = main(["-q", "validate", "--model", "all", "--emulator", "qemu", "--jobs", "2",
                   "--limit", "500", "--report", str(tmp_path)])
    assert status == 0, capsys.readouterr().out
    reports = _reports(tmp_path)
    _check_against_desktop(reports, {"activity": 40, "digits": 500, "linear": 81})
    digits = reports["digits"]
    assert [entry["board"] for entry in digits["firmware"]] == ["qemu-mps2-an386"] * 2
    assert digits["latency"]["cost_unit"] == "instructions"
    # Both emulators took a share of the work.
    links = {line["link"] for line in _sample_lines(tmp_path / "digits" / "results.jsonl")}
    assert links == {0, 1}


def test_a_stale_model_on_the_device_is_refused_naming_both_hashes(tmp_path, capsys):
    _require(NEEDS_HOST)
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR / "digits", models / "digits")
    with (models / "digits" / "model.tflite").open("ab") as model:
        model.write(b"\0")  # a model the firmware was not built from
    import hashlib

    committed = hashlib.sha256((MODELS_DIR / "digits" / "model.tflite").read_bytes()).hexdigest()
    changed = hashlib.sha256((models / "digits" / "model.tflite").read_bytes()).hexdigest()
    status = main(["-q", "validate", "--model", "digits", "--emulator", "host",
                   "--models-dir", str(models), "--report", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1
    assert committed in err and changed in err and "stale" in err
    # The commands for this situation: the emulator rebuilt from --models-dir into build/.
    assert f"convert {models / 'digits' / 'model.tflite'} --out " in err
    assert "firmware build --target host --models-dir " in err
    assert "validate --model digits --emulator host --image " in err
    assert "firmware/lib/models" not in err
    assert not (tmp_path / "report" / "digits").exists()  # refused before any sample


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def test_a_killed_emulator_exits_2_keeps_the_journal_and_resume_finishes(tmp_path, capsys):
    _require(NEEDS_QEMU)
    journal = tmp_path / "digits" / "results.jsonl"
    command = [sys.executable, "-m", "tinyml_pipeline.tools.cli", "-q", "validate",
               "--model", "digits", "--emulator", "qemu", "--limit", "600",
               "--report", str(tmp_path)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env=os.environ | {"PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # The run and session lines come first, then one line per sample.
            if journal.exists() and len(journal.read_text().splitlines()) > 110:
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        emulators = [pid for pid in _children(process.pid)
                     if "qemu" in Path(f"/proc/{pid}/comm").read_text()]
        assert len(emulators) == 1
        os.kill(emulators[0], signal.SIGKILL)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "--resume" in err
    kept = _sample_lines(journal)
    assert 100 <= len(kept) < 600
    assert all(line["exact"] for line in kept)

    status = main(["-q", "validate", "--model", "digits", "--emulator", "qemu", "--limit", "600",
                   "--report", str(tmp_path), "--resume"])
    assert status == 0, capsys.readouterr().out
    indices = [line["index"] for line in _sample_lines(journal)]
    assert sorted(indices) == list(range(600))  # each sample once: none redone, none lost
    report = _reports(tmp_path)["digits"]
    assert report["complete"] and report["tflm"]["exact"] == 600
    assert report["throughput"]["sessions"] == 2
    assert report["throughput"]["samples"] == 600 - len(kept)


def test_a_line_that_flips_bits_still_gives_correct_results_through_retries(tmp_path):
    _require(NEEDS_HOST)
    wrappers = []

    def noisy(transport):
        wrappers.append(BitFlippingTransport(transport, rate=1 / 1500, seed=7))
        return wrappers[-1]

    status = run(Options(workspace=WORKSPACE, models=["digits", "linear"], emulator="host",
                         limit=400, report_dir=tmp_path, timeout=0.5, quiet=True,
                         wrap_transport=noisy),
                 out=open(os.devnull, "w"))
    assert status == 0
    flips = wrappers[0].flips
    assert flips["sent"] > 20 and flips["received"] > 0
    reports = _reports(tmp_path)
    assert reports["digits"]["tflm"]["exact"] == 400 and reports["linear"]["tflm"]["exact"] == 81
    retries = reports["digits"]["retries"] + reports["linear"]["retries"]
    assert retries >= flips["sent"] // 2
    lines = _sample_lines(tmp_path / "digits" / "results.jsonl")
    assert sum(line["retries"] for line in lines) == reports["digits"]["retries"]
    summary = json.loads((tmp_path / "report.json").read_text())["totals"]
    assert summary["retries"] == retries


def test_a_device_with_wrong_outputs_fails_the_gate(tmp_path, capsys):
    _require(NEEDS_HOST)
    wrappers = []

    def tampering(transport):
        wrappers.append(TamperingTransport(transport, every=10))
        return wrappers[-1]

    options = Options(workspace=WORKSPACE, models=["digits"], emulator="host", limit=100,
                      report_dir=tmp_path, quiet=True, wrap_transport=tampering)
    assert run(options) == 1
    report = _reports(tmp_path)["digits"]
    assert wrappers[0].tampered == 10
    assert report["tflm"]["exact"] == 90 and report["tflm"]["max_difference_lsb"] == 1
    assert len(report["tflm"]["differing_samples"]) == 10
    assert not report["passed"]
    assert "FAIL (digits below the gate)" in capsys.readouterr().out

    options.min_agreement, options.resume = 0.9, True
    assert run(options) == 0  # the same results, a gate they meet


def test_no_board_found_is_one_line_and_exit_2(monkeypatch, capsys):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [])
    assert main(["validate", "--model", "linear"]) == 2
    err = capsys.readouterr().err
    assert "no Arduino Nano 33 BLE found" in err and len(err.strip().splitlines()) == 1


def test_jobs_must_match_the_ports_given(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--model", "linear", "--port", "loop://", "--jobs", "3"])
    assert exit_info.value.code == 2
    assert "give one port per job" in capsys.readouterr().err


def test_a_second_run_on_the_same_report_directory_is_refused(tmp_path, capsys):
    """Two runs would interleave their journals: the second stops at once, naming the first."""
    from tinyml_pipeline.tools.validation.lock import report_directory_locked

    with report_directory_locked(tmp_path / "report"):
        assert main(["validate", "--model", "linear", "--emulator", "host",
                     "--report", str(tmp_path / "report")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is in use by another tinyml validate" in error and f"pid {os.getpid()}" in error
    with report_directory_locked(tmp_path / "report"):  # released: free again
        pass


@pytest.mark.parametrize("line, expected", [
    ('{"kind":"sample","index":81}', "outside 0..80"),
    ('{"kind":"sample","index":"3"}', "outside 0..80"),
    ("not json at all", "not a validation journal"),
])
def test_resume_refuses_a_damaged_journal_in_one_line(line, expected, tmp_path):
    from types import SimpleNamespace

    from tinyml_pipeline.tools.errors import InputError
    from tinyml_pipeline.tools.validation.journal import Journal

    reference = SimpleNamespace(name="linear", sha256="ab" * 32, dataset="linear", count=81)
    path = tmp_path / "results.jsonl"
    Journal(path, reference, resume=False).close()
    with path.open("a") as stream:
        stream.write(line + "\n")
    with pytest.raises(InputError, match=expected):
        Journal(path, reference, resume=True)
