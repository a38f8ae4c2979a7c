"""`tinyml report merge`: one report from the report directories of the shards of one
validation (`tinyml validate --shard K/N`). The shards' journals are checked against each other
(same model, sha256, data set and test set size; shards 1..N each once; no sample twice), joined
into one results.jsonl and the report rebuilt from it by the same builder as an unsharded run,
against the desktop reference of the model, whose sha256 must be the one the shards validated."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.file_limits import is_int, is_number, read_json
from tinyml_pipeline.tools.validation import desktop
from tinyml_pipeline.tools.validation import report as report_module
from tinyml_pipeline.tools.validation.journal import (
    Journal,
    check_end,
    check_sample,
    check_session,
    read_lines,
)
from tinyml_pipeline.tools.validation.shard import shard_indices
from tinyml_pipeline.tools.workspace import Workspace

JOURNAL = "results.jsonl"


def _read_journal(path: Path) -> list[dict]:
    """A shard's journal, its lines checked as a resume checks them (tools/validation/journal.py)
    so that the merge never indexes a field of the wrong type."""
    lines, _ = read_lines(path, "merge other shards")
    for number, line in enumerate(lines[1:], start=2):
        if not isinstance(line, dict):
            raise InputError(f"{path}: line {number} is not a JSON object")
        source = f"{path}: line {number}"
        if line.get("kind") == "sample":
            if not is_int(line.get("index")):
                raise InputError(f"{source} is a sample without an integer index")
            # The widest output type here (int16 models); the merged journal is read again
            # against its model's own output type (Journal, resume).
            check_sample(line, source, dtype=np.int16, type_name="int8 or int16")
        elif line.get("kind") == "session":
            check_session(line, source)
        elif line.get("kind") == "end":
            check_end(line, source)
    return lines


def _models_of(directory: Path) -> list[str]:
    if not directory.is_dir():
        raise InputError(f"{directory}: no such report directory")
    names = sorted(path.parent.name for path in directory.glob(f"*/{JOURNAL}"))
    if not names:
        raise InputError(f"{directory}: no <model>/{JOURNAL} in it (not a validate --report "
                         "directory)")
    return names


def check_shards(journals: dict[Path, list[dict]]) -> None:
    """Refuses, in one line, shards that are not the disjoint, complete split of one run."""
    first_path, first = next(iter(journals.items()))
    header = first[0]
    seen: dict[int, Path] = {}
    count = None
    for path, lines in journals.items():
        found = lines[0]
        for key in ("model", "sha256", "dataset", "samples"):
            if found.get(key) != header.get(key):
                raise InputError(f"{path} has {key} {found.get(key)!r}, {first_path} has "
                                 f"{header.get(key)!r}: not shards of one validation")
        shard = found.get("shard")
        if shard is None:
            raise InputError(f"{path} is not a shard (validated without --shard)")
        if count is not None and shard["count"] != count:
            raise InputError(f"{path} is shard {shard['index']}/{shard['count']}, the others "
                             f"are of {count}")
        count = shard["count"]
        if shard["index"] in seen:
            raise InputError(f"{path} and {seen[shard['index']]} are both shard "
                             f"{shard['index']}/{count}")
        seen[shard["index"]] = path
        wanted = shard_indices(found["samples"], (shard["index"], count))  # a range: no copy
        for line in lines:
            if line.get("kind") == "sample" and line.get("index") not in wanted:
                raise InputError(f"{path}: sample {line.get('index')!r} is not in shard "
                                 f"{shard['index']}/{count}")
    if len(seen) < count:  # named without building the set of up to 10 million shards
        missing = list(itertools.islice((k for k in range(1, count + 1) if k not in seen), 10))
        more = count - len(seen) - len(missing)
        raise InputError(f"shard{'s' if count - len(seen) > 1 else ''} "
                         f"{', '.join(f'{k}/{count}' for k in missing)}"
                         f"{f' and {more:,} more' if more else ''} missing")


def _joined(journals: dict[Path, list[dict]]) -> list[dict]:
    """One journal: the run line without the shard, then every shard's sessions in shard order."""
    ordered = sorted(journals.values(), key=lambda lines: lines[0]["shard"]["index"])
    header = {key: value for key, value in ordered[0][0].items() if key != "shard"}
    return [header] + [line for lines in ordered for line in lines[1:]]


def merge(directories: list[Path], out: Path, workspace: Workspace,
          models_dir: Path | None = None, min_agreement: float | None = None) -> dict:
    """Writes `out`/<model>/results.jsonl, report.json and plot, and `out`/report.json; returns
    the latter. `min_agreement`: default, the shards' own gate (they must agree)."""
    directories = [Path(directory) for directory in directories]
    out = Path(out)
    if any(out.resolve() == directory.resolve() for directory in directories):
        raise InputError(f"--out {out} is one of the shards; give a new directory")
    resolved = [directory.resolve() for directory in directories]
    for i, directory in enumerate(resolved):
        if directory in resolved[:i]:
            raise InputError(f"{directories[i]} is given twice")
    names = _models_of(directories[0])
    for directory in directories[1:]:
        if _models_of(directory) != names:
            raise InputError(f"{directory} holds models {', '.join(_models_of(directory))}, "
                             f"{directories[0]} holds {', '.join(names)}")
    every = {name: {d / name / JOURNAL: _read_journal(d / name / JOURNAL) for d in directories}
             for name in names}
    for journals in every.values():
        check_shards(journals)
    gates = {_gate(directory) for directory in directories}
    if min_agreement is None:
        if len(gates) > 1:
            raise InputError("the shards were validated against different --min-agreement "
                             "gates; give one with --min-agreement")
        min_agreement = gates.pop()
    models_dir = Path(models_dir or workspace.models)
    references = {}
    for name, journals in every.items():  # every check before anything is written
        header = next(iter(journals.values()))[0]
        reference = desktop.prepare(workspace, models_dir / name, header["samples"])
        if reference.sha256 != header["sha256"]:
            raise InputError(f"{models_dir / name} has sha256 {reference.sha256[:12]}..., the "
                             f"shards validated {header['sha256'][:12]}...; merge against the "
                             "model they ran (--models-dir)")
        if reference.dataset != header.get("dataset"):
            raise InputError(f"the shards validated {name} on {header.get('dataset')}, its card "
                             f"names {reference.dataset}: merge takes the card's test set")
        if reference.count != header["samples"]:
            raise InputError(f"the shards validated {header['samples']} {name} samples, its "
                             f"test set has {reference.count}")
        references[name] = reference
    reports = [_merge_model(references[name], journals, out / name, min_agreement)
               for name, journals in every.items()]
    seconds = sum(_top_seconds(directory) for directory in directories)  # machine time, summed
    summary = report_module.summary(reports, min_agreement, seconds)
    atomic_write_text(out / "report.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _merge_model(reference, journals, directory: Path, min_agreement: float) -> dict:
    lines = _joined(journals)
    path = directory / JOURNAL
    atomic_write_text(path, "".join(json.dumps(line, separators=(",", ":")) + "\n"
                                    for line in lines))
    journal = Journal(path, reference, resume=True)  # reads it back as a resume would
    journal.close()
    links = [link for session in journal.sessions for link in session.get("links", [])]
    report = report_module.build(reference, journal, links, min_agreement)
    atomic_write_text(directory / "report.json", json.dumps(report, indent=2) + "\n")
    report_module.plot(report, reference, journal, directory)
    return report


def _top(directory: Path) -> dict:
    path = directory / "report.json"
    if not path.is_file():
        raise InputError(f"{path} is missing (the shard's run did not finish)")
    top = read_json(path, "a report")
    totals = top.get("totals") if isinstance(top, dict) else None
    if not isinstance(totals, dict) or not all(
            is_number(totals.get(key)) and totals[key] >= 0
            for key in ("min_agreement", "seconds")):
        raise InputError(f"{path}: not a validation report (its totals need min_agreement and "
                         "seconds, non-negative numbers)")
    return top


def _gate(directory: Path) -> float:
    return _top(directory)["totals"]["min_agreement"]


def _top_seconds(directory: Path) -> float:
    return _top(directory)["totals"]["seconds"]
