"""Streaming test samples to several devices at once. Each link has a thread that takes the
next sample index from a shared queue, so a fast device takes more of the work than a slow one
and a device that fails leaves its share to the others. Results come back to the caller's
thread, in arrival order, through `on_result`."""

from __future__ import annotations

import dataclasses
import queue
import threading
import time

from tinyml_pipeline.tools.device import DeviceTimeout
from tinyml_pipeline.tools.errors import TinyMLError
from tinyml_pipeline.tools.protocol import InferResult

POLL_S = 0.2  # how often the caller's thread wakes to notice Ctrl-C
RESET_PROBE_TIMEOUT_S = 2.0


@dataclasses.dataclass
class Outcome:
    index: int
    link: int  # position in the links list
    result: InferResult
    retries: int  # requests sent again for this sample
    bytes_sent: int  # on the wire for this sample, retries included


@dataclasses.dataclass
class LinkFailure:
    link: int
    message: str


_FINISHED = object()


def stream(links, model_indices: list[int], reference, indices, on_result,
           stop: threading.Event) -> list[LinkFailure]:
    """Runs every sample of `indices` of `reference` on the links (model_indices[k] is the
    model's index on links[k]) until done, `stop` is set, or every link has failed. Calls
    `on_result(outcome)` in this thread; returns the failures."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for index in indices:
        work.put(int(index))
    results: queue.SimpleQueue = queue.SimpleQueue()
    threads = [threading.Thread(target=_serve, daemon=True, name=f"link-{number}",
                                args=(number, link, model_indices[number], reference, work,
                                      results, stop))
               for number, link in enumerate(links)]
    for thread in threads:
        thread.start()
    failures, running = [], len(threads)
    try:
        while running:
            try:
                item = results.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if item is _FINISHED:
                running -= 1
            elif isinstance(item, LinkFailure):
                failures.append(item)
            else:
                on_result(item)
    finally:
        stop.set()  # on Ctrl-C or an error in on_result, the threads end after their sample
        for thread in threads:
            thread.join(timeout=10)
    return failures


def _serve(number, link, model_index, reference, work, results, stop) -> None:
    device = link.device
    try:
        while not stop.is_set():
            try:
                index = work.get_nowait()
            except queue.Empty:
                return
            retries, sent = device.retries_used, device.bytes_sent
            try:
                result = device.infer(model_index, reference.inputs[index], encoding=None,
                                      zero_point=reference.input_zero_point)
            except DeviceTimeout as error:
                results.put(LinkFailure(number, f"{link.name}: {_silence(device, error)}"))
                return
            except TinyMLError as error:
                results.put(LinkFailure(number, f"{link.name}, sample {index}: {error}"))
                return
            except Exception as error:  # a bug must stop the run loudly, not lose a sample
                results.put(LinkFailure(number, f"{link.name}, sample {index}: internal error "
                                                f"{type(error).__name__}: {error}"))
                return
            results.put(Outcome(index, number, result, device.retries_used - retries,
                                device.bytes_sent - sent))
    finally:
        results.put(_FINISHED)


def _silence(device, error: DeviceTimeout) -> str:
    """Tells a device that reset (it answers a new HELLO) from one that stopped answering."""
    try:
        device.hello(timeout=RESET_PROBE_TIMEOUT_S)
    except TinyMLError:
        return f"{error}; it does not answer HELLO either: it stopped answering"
    return (f"{error}, then answered HELLO: it reset during the run "
            f"(at {time.strftime('%H:%M:%S')})")
