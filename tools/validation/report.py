"""What a validation measured, from its journal: agreement with TFLM (gated) and LiteRT
(reported), accuracy on the device and on the desktop, the confusion matrix, latency and
throughput. As JSON for machines, a PNG for people, and lines for the console."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _stats(values: np.ndarray) -> dict | None:
    if not len(values):
        return None
    return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95)),
            "min": int(values.min()), "max": int(values.max())}


def _agreement(outputs: np.ndarray, expected: np.ndarray, indices: np.ndarray) -> dict:
    """`outputs` against `expected`, row by row; rows are the test samples `indices`, which
    name the first differing ones."""
    gap = np.abs(outputs.astype(np.int32) - expected.astype(np.int32))
    per_sample = gap.max(axis=1) if len(gap) else np.zeros(0, np.int32)
    exact = int(np.sum(per_sample == 0))
    return {"exact": exact, "fraction": exact / len(outputs) if len(outputs) else None,
            "max_difference_lsb": int(per_sample.max()) if len(per_sample) else None,
            "differing_samples": [int(i) for i in indices[np.flatnonzero(per_sample)[:20]]]}


def build(reference, journal, links: list[dict], min_agreement: float,
          shard: tuple[int, int] | None = None) -> dict:
    """The report of everything the journal holds (all sessions), for one model; `shard` (K, N)
    when the run covered only that slice of the test set (tools/validation/shard.py)."""
    from tinyml_pipeline.tools.validation.shard import shard_size
    indices = np.array(sorted(journal.samples), dtype=np.int64)
    lines = [journal.samples[int(i)] for i in indices]
    width = reference.tflm.shape[1]
    outputs = np.array([line["output"] for line in lines], reference.tflm.dtype).reshape(-1, width)
    costs = np.array([line["cost"] for line in lines], np.int64)
    micros = np.array([line["micros"] for line in lines], np.int64)

    tflm_agreement = _agreement(outputs, reference.tflm[indices], indices)
    litert_agreement = _agreement(outputs, reference.litert[indices], indices)
    report = {
        "model": reference.name, "sha256": reference.sha256, "dataset": reference.dataset,
        "test_samples": reference.count, "validated": len(indices),
        "complete": len(indices) == shard_size(reference.count, shard),
        "tflm": tflm_agreement, "litert": litert_agreement,
        "accuracy": _accuracy(reference, outputs, indices),
        "tensor_metrics": reference.tensor_metrics(outputs, indices) if len(indices) else None,
        "latency": {"cost_unit": links[0]["cost_unit"] if links else None,
                    "cost": _stats(costs), "micros": _stats(micros)},
        "throughput": _throughput(journal),
        "retries": int(sum(line["retries"] for line in lines)),
        "firmware": links,
        "min_agreement": min_agreement,
    }
    if shard is not None:
        report["shard"] = {"index": shard[0], "count": shard[1]}
    if reference.is_classification:
        predictions = reference.predictions(outputs)
        agree = int(np.sum(predictions == reference.predictions(reference.tflm[indices])))
        report["argmax_agreement"] = {"agree": agree,
                                      "fraction": agree / len(indices) if len(indices) else None}
        report["confusion"] = {"labels": reference.class_names,
                               "matrix": _confusion(reference, predictions, indices).tolist()}
    fraction = tflm_agreement["fraction"]
    report["passed"] = bool(report["complete"] and fraction is not None and
                            fraction >= min_agreement)
    return report


def _accuracy(reference, outputs: np.ndarray, indices: np.ndarray) -> dict:
    found = {"float_card": reference.card.test.get("float")}
    if len(indices) and reference.labels is not None:
        found["device"] = reference.metrics(outputs, indices)
        found["desktop_int8_tflm"] = reference.metrics(reference.tflm[indices], indices)
        found["desktop_int8_litert"] = reference.metrics(reference.litert[indices], indices)
    return found


def _confusion(reference, predictions: np.ndarray, indices: np.ndarray) -> np.ndarray:
    from tinyml_pipeline.tools.metrics import confusion_matrix

    return confusion_matrix(reference.labels[indices].astype(np.int64), predictions,
                            len(reference.class_names))


def _throughput(journal) -> dict | None:
    """This session's streaming rate, and all sessions' totals."""
    ended = [session["end"] for session in journal.sessions if "end" in session]
    if not ended:
        return None
    last = ended[-1]
    total_samples = sum(end["samples"] for end in ended)
    total_seconds = sum(end["seconds"] for end in ended)
    return {"samples": last["samples"], "seconds": last["seconds"],
            "samples_per_s": last["samples"] / last["seconds"] if last["seconds"] else None,
            "bytes_sent_per_sample": (last["bytes_sent"] / last["samples"]
                                      if last["samples"] else None),
            "jobs": journal.sessions[-1]["jobs"], "sessions": len(ended),
            "all_sessions_samples": total_samples, "all_sessions_seconds": round(total_seconds, 3)}


def plot(report: dict, reference, journal, directory: Path) -> Path | None:
    """confusion.png for a classifier, prediction.png (device output against truth) for a
    regression of one input and one output. None when nothing was validated or nothing fits
    a plot."""
    from tinyml_pipeline.training import plots

    directory = Path(directory)
    if not report["validated"] or reference.labels is None:
        return None
    # Two lines: as one, the title was cut off at a four-class figure's width.
    title = (f"{report['model']} on {report['firmware'][0]['board'] if report['firmware'] else '?'}"
             f"\n{report['validated']} of {report['test_samples']} test samples")
    if reference.is_classification:
        path = directory / "confusion.png"
        plots.confusion_plot(np.array(report["confusion"]["matrix"]), reference.class_names,
                             path, title)
        return path
    if reference.x[0].size != 1 or reference.inputs[0].size != 1:
        return None
    indices = np.array(sorted(journal.samples), dtype=np.int64)
    outputs = np.array([journal.samples[int(i)]["output"] for i in indices], reference.tflm.dtype)
    from tinyml_pipeline.training.evaluation import output_values

    path = directory / "prediction.png"
    plots.regression_plot(reference.x[indices].reshape(-1),
                          np.asarray(reference.labels[indices]).reshape(-1),
                          output_values(outputs, reference.output_tensor).reshape(-1), path,
                          title)
    return path


def _percent(fraction) -> str:
    return "n/a" if fraction is None else f"{fraction:.2%}"


def _metric(metrics: dict | None) -> str:
    if metrics is None:
        return "n/a"
    if "accuracy" in metrics:
        return f"{metrics['accuracy']:.2%}"
    return f"MAE {metrics['mean_abs_error']:.4g}, RMSE {metrics.get('rmse', float('nan')):.4g}"


def _tensor_line(label: str, metrics: dict) -> str:
    relative = metrics["relative_l2_error"]
    return (f"  {label:21s} RMSE {metrics['rmse']:.4g}, MAE {metrics['mean_abs_error']:.4g}, "
            f"cosine {metrics['cosine_similarity']:.6f}, relative L2 "
            f"{'n/a' if relative is None else f'{relative:.3%}'}")


def summary_lines(report: dict) -> list[str]:
    firmware = report["firmware"]
    boards = sorted({entry["board"] for entry in firmware})
    first = firmware[0] if firmware else {}
    lines = [f"{report['model']}: {report['validated']}/{report['test_samples']} test samples on "
             f"{len(firmware)}x {', '.join(boards)} (firmware {first.get('firmware_version')}, "
             f"{first.get('backend')} runtime)"]
    tflm, litert = report["tflm"], report["litert"]
    lines.append(f"  exact output = TFLM   {tflm['exact']}/{report['validated']} "
                 f"({_percent(tflm['fraction'])}), largest difference "
                 f"{tflm['max_difference_lsb']} LSB")
    if "argmax_agreement" in report:
        argmax = report["argmax_agreement"]
        lines.append(f"  argmax = TFLM         {argmax['agree']}/{report['validated']} "
                     f"({_percent(argmax['fraction'])})")
    lines.append(f"  vs LiteRT (not gated) {litert['exact']}/{report['validated']} identical, "
                 f"largest difference {litert['max_difference_lsb']} LSB")
    accuracy = report["accuracy"]
    if "device" in accuracy:
        lines.append(f"  {'accuracy' if 'argmax_agreement' in report else 'error':21s} device "
                     f"{_metric(accuracy.get('device'))}, desktop int8 "
                     f"{_metric(accuracy.get('desktop_int8_tflm'))}, float "
                     f"{_metric(accuracy['float_card'])} (card.json)")
    tensors = report.get("tensor_metrics") or {}
    if "vs_float" in tensors:
        lines.append(_tensor_line("device vs float", tensors["vs_float"]))
    if "vs_tflm" in tensors:
        lines.append(_tensor_line("device vs TFLM", tensors["vs_tflm"]))
    latency = report["latency"]
    if latency["cost"]:
        lines.append(f"  latency               {latency['cost']['median']:,.0f} "
                     f"{latency['cost_unit']} median, {latency['cost']['p95']:,.0f} "
                     f"{latency['cost_unit']} p95; "
                     f"{latency['micros']['median']:,.0f} us median, "
                     f"{latency['micros']['p95']:,.0f} us p95")
    speed = report["throughput"]
    if speed and speed["samples"]:
        lines.append(f"  throughput            {speed['samples_per_s']:.1f} samples/s "
                     f"({speed['samples']} in {speed['seconds']:.1f} s over {speed['jobs']} "
                     f"link{'s' if speed['jobs'] > 1 else ''}), "
                     f"{speed['bytes_sent_per_sample']:.0f} bytes sent per sample, "
                     f"{report['retries']} retries")
    return lines


def summary(reports: list[dict], min_agreement: float, seconds: float) -> dict:
    """The top-level report.json: every model's report and the totals over them."""
    validated = sum(report["validated"] for report in reports)
    exact = sum(report["tflm"]["exact"] for report in reports)
    failed = [report["model"] for report in reports if not report["passed"]]
    totals = {"models": [report["model"] for report in reports], "validated": validated,
              "exact": exact, "fraction": exact / validated if validated else None,
              "min_agreement": min_agreement,
              "retries": sum(report["retries"] for report in reports),
              "seconds": round(seconds, 2), "passed": not failed,
              "below_gate": failed}
    return {"totals": totals, "models": {report["model"]: report for report in reports}}


def total_line(totals: dict) -> str:
    failed = totals["below_gate"]
    verdict = "PASS" if not failed else f"FAIL ({', '.join(failed)} below the gate)"
    count = len(totals["models"])
    return (f"TOTAL {count} model{'s' if count != 1 else ''}, {totals['validated']} samples: "
            f"{totals['exact']}/{totals['validated']} exact ({_percent(totals['fraction'])}) "
            f"against a gate of {totals['min_agreement']:.2%}, {totals['retries']} retries, "
            f"{totals['seconds']:.1f} s: {verdict}")
