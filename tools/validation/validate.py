"""`tinyml validate`: stream each model's test set to one or more devices and check every output
against the desktop reference and the label.

Per model, under the report directory: results.jsonl (written as results arrive), report.json,
and confusion.png (prediction.png for the regression); report.json at the top holds the totals.
Exit status: 0 when every model's exact agreement with TFLM meets the gate, 1 when one does not,
2 on a usage or connection error (what was measured is kept; --resume continues).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.console import import_tensorflow_quietly
from tinyml_pipeline.tools.framing import ProtocolError
from tinyml_pipeline.tools.validation import desktop, layer_trace
from tinyml_pipeline.tools.validation import links as links_module
from tinyml_pipeline.tools.validation import report as report_module
from tinyml_pipeline.tools.validation.journal import Journal
from tinyml_pipeline.tools.validation.lock import report_directory_locked
from tinyml_pipeline.tools.validation.shard import shard_indices
from tinyml_pipeline.tools.validation.stream import Outcome, stream
from tinyml_pipeline.tools.workspace import Workspace


@dataclasses.dataclass
class Options:
    models: list[str]  # built-in names, names under models_dir, or model directories
    workspace: Workspace  # the data sets; the defaults of models_dir, report_dir and builds
    models_dir: Path | None = None  # default: the workspace's models/
    ports: list[str] | None = None
    emulator: str | None = None
    image: Path | None = None  # the emulator's image instead of the default build
    jobs: int = 1
    limit: int | None = None
    report_dir: Path | None = None  # default: the workspace's build/validation
    min_agreement: float = 1.0
    resume: bool = False
    timeout: float = 5.0
    data: Path | None = None  # a test set instead of the one each model's card names
    trace_layers: int = 1  # differing samples traced layer by layer (LAYER_OUTPUT); 0: none
    quiet: bool = False
    shard: tuple[int, int] | None = None  # (K, N): only samples i with i % N == K - 1
    wrap_transport: object = None  # tests: a wrapper around each link's transport


class LinkFailed(ProtocolError):
    """A device stopped answering, reset or broke its link during the run."""


def _progress_factory(quiet: bool):
    from tqdm import tqdm

    def progress(label: str, total: int, initial: int = 0):
        return tqdm(total=total, initial=initial, desc=label, unit="sample", file=sys.stderr,
                    disable=quiet, leave=False, mininterval=0.5, dynamic_ncols=True)

    return progress


def run(options: Options, out=None) -> int:
    options = dataclasses.replace(
        options, models_dir=Path(options.models_dir or options.workspace.models),
        report_dir=Path(options.report_dir or options.workspace.build / "validation"))
    with report_directory_locked(options.report_dir):
        return _run_locked(options, out or sys.stdout)


def _run_locked(options: Options, out) -> int:
    progress = _progress_factory(options.quiet)
    started = time.monotonic()
    # An unknown model is refused before any emulator is built or started.
    directories = model_directories(options.models, Path(options.models_dir))
    # The emulators boot while the desktop reference runs.
    links = links_module.open_links(options.workspace, ports=options.ports,
                                    emulator=options.emulator,
                                    image=options.image, jobs=options.jobs, timeout=options.timeout,
                                    quiet=options.quiet, wrap_transport=options.wrap_transport)
    try:
        # Only now, so that a wrong --port or a missing board fails before seconds of import.
        import_tensorflow_quietly()
        # Refused before any work when a device holds other models than models/ does.
        files = {name: desktop.model_file(directory) for name, directory in directories.items()}
        on_device = [links_module.check_models(link, files, _hint(options, link, directories))
                     for link in links]
        references = [desktop.prepare(options.workspace, directory, options.limit, progress,
                                      options.data)
                      for directory in directories.values()]
        reports = []
        for reference in references:
            infos = [found[reference.name] for found in on_device]
            for link, info in zip(links, infos, strict=True):
                links_module.check_tensors(link, info, reference)
            indices = [info.index for info in infos]
            reports.append(_validate_model(reference, links, indices, options, progress, out))
    finally:
        for link in links:
            link.close()
    return _finish(reports, options, time.monotonic() - started, out)


def model_directories(models: list[str], models_dir: Path) -> dict[str, Path]:
    """Each requested model's directory, by the name the firmware knows it by (its card's):
    a directory given as such, else `models_dir`/NAME; "all" is every model in `models_dir`."""
    from tinyml_pipeline.tools.card import CARD_FILE, load_card
    from tinyml_pipeline.tools.errors import InputError
    from tinyml_pipeline.tools.workspace import shown

    found: dict[str, Path] = {}
    if "all" in models:  # every model directory under models_dir, in name order
        everything = sorted(path.parent.name for path in models_dir.glob(f"*/{CARD_FILE}"))
        models = [name for model in models
                  for name in (everything if model == "all" else [model])]
        models = list(dict.fromkeys(models))
    for model in models:
        given = Path(model)
        directory = given if (given / CARD_FILE).is_file() else models_dir / model
        if not (directory / CARD_FILE).is_file():
            present = sorted(path.parent.name for path in models_dir.glob(f"*/{CARD_FILE}"))
            raise InputError(f"no model {model!r}: neither a directory with {CARD_FILE} nor a "
                             f"model in {shown(models_dir)} (which has "
                             f"{', '.join(present) or 'none'})")
        name = load_card(directory).name
        if name in found:
            raise InputError(f"two models named {name!r} ({shown(found[name])}, "
                             f"{shown(directory)}): a device holds one model per name")
        found[name] = directory
    return found


def _hint(options: Options, link, directories: dict[str, Path]):
    from tinyml_pipeline.tools.validation.rebuild_hint import rebuild_commands

    emulator = link.emulator.target if link.emulator is not None else None
    port = None if emulator else link.name
    return lambda: rebuild_commands(directories, Path(options.models_dir), options.workspace,
                                    emulator, port)


def _validate_model(reference, links, model_indices, options: Options, progress, out) -> dict:
    directory = Path(options.report_dir) / reference.name
    journal = Journal(directory / "results.jsonl", reference, options.resume, options.shard)
    identities = [link.identity() | {"model_ram_bytes": link.models[reference.name].ram_bytes}
                  for link in links]
    wanted = shard_indices(reference.count, options.shard)
    pending = [i for i in wanted if i not in journal.samples]
    journal.start_session(identities, len(links))
    bar = progress(f"{reference.name} on {len(links)} link{'s' if len(links) > 1 else ''}",
                   len(wanted), len(wanted) - len(pending))
    counted = {"samples": 0, "bytes": 0}

    def record(outcome: Outcome) -> None:
        journal.add(_sample_line(reference, outcome))
        counted["samples"] += 1
        counted["bytes"] += outcome.bytes_sent
        bar.update(1)

    stop, began, reason = threading.Event(), time.monotonic(), "complete"
    traces: list[dict] = []
    try:
        failures = stream(links, model_indices, reference, pending, record, stop)
        if failures:
            reason = "; ".join(failure.message for failure in failures)
        else:
            traces = _trace_layers(reference, links, model_indices, journal,
                                   options.trace_layers)
    except KeyboardInterrupt:
        reason = "interrupted"
        raise
    except SystemExit:  # SIGTERM (tools/cli.py)
        reason = "terminated"
        raise
    finally:
        bar.close()
        journal.end_session(reason, counted["samples"], time.monotonic() - began,
                            counted["bytes"])
        journal.close()
        report = report_module.build(reference, journal, identities, options.min_agreement,
                                     options.shard)
        if traces:
            report["layer_trace"] = traces
        atomic_write_text(directory / "report.json", json.dumps(report, indent=2) + "\n")
        report_module.plot(report, reference, journal, directory)
        print("\n".join(report_module.summary_lines(report)
                        + [layer_trace.summary_line(trace) for trace in traces]),
              file=out, flush=True)
    if reason != "complete":
        raise LinkFailed(f"{reason}. {report['validated']} of {len(wanted)} "
                         f"{reference.name} results are kept in {directory / 'results.jsonl'}; "
                         "run again with --resume to finish")
    return report


def _trace_layers(reference, links, model_indices, journal, count: int) -> list[dict]:
    """The first `count` samples that differ from TFLM, each traced layer by layer on the link
    that produced it, to name the first layer that differs."""
    differing = sorted(index for index, line in journal.samples.items() if not line["exact"])
    traces = []
    for index in differing[:count]:
        number = journal.samples[index].get("link", 0)
        number = number if isinstance(number, int) and 0 <= number < len(links) else 0
        link = links[number]
        traces.append(layer_trace.first_differing_layer(
            link.device, link.hello.backend, model_indices[number], reference.model,
            reference.inputs[index], index))
    return traces


def _sample_line(reference, outcome: Outcome) -> dict:
    expected = reference.tflm[outcome.index]
    # The device's bytes are little-endian values of the model's output type (int8 or int16).
    output = np.frombuffer(outcome.result.output, expected.dtype.newbyteorder("<"))
    gap = int(np.max(np.abs(output.astype(np.int32) - expected.astype(np.int32))))
    line = {"index": outcome.index, "link": outcome.link, "output": output.tolist(),
            "cost": outcome.result.cost, "micros": outcome.result.micros,
            "retries": outcome.retries, "bytes": outcome.bytes_sent, "exact": gap == 0,
            "max_lsb": gap}
    if reference.labels is None:
        return line
    label = np.asarray(reference.labels[outcome.index])
    if reference.is_classification:
        line |= {"prediction": int(np.argmax(output)), "label": int(label.reshape(-1)[0])}
    else:
        line["label"] = float(label.reshape(-1)[0]) if label.size == 1 else \
            label.reshape(-1).astype(float).tolist()
    return line


def _finish(reports: list[dict], options: Options, seconds: float, out) -> int:
    summary = report_module.summary(reports, options.min_agreement, seconds)
    atomic_write_text(Path(options.report_dir) / "report.json",
                      json.dumps(summary, indent=2) + "\n")
    print(report_module.total_line(summary["totals"]), file=out, flush=True)
    return 0 if summary["totals"]["passed"] else 1
