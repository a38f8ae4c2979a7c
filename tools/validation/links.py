"""The devices a validation streams to: boards on serial ports (named, or found by USB id) or
emulators it starts itself, one Device each, all checked to hold the models being validated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tinyml_pipeline.tools.device import Device, DeviceTimeout
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.framing import ProtocolError
from tinyml_pipeline.tools.hashing import sha256_of
from tinyml_pipeline.tools.protocol import Hello, ModelInfo
from tinyml_pipeline.tools.transport import (
    PortNotFound,
    board_ports,
    find_board_port,
    open_transport,
)
from tinyml_pipeline.tools.workspace import Workspace

# Added to --timeout for the first HELLO of an emulator this run started: QEMU holds UART input
# back for about a second after it starts, and longer on a loaded machine. A port given (a
# board, or an emulator someone else started) gets --timeout alone.
EMULATOR_START_ALLOWANCE_S = 10.0


class StaleFirmware(InputError):
    """The device runs a different build of a model than the one in models/."""


@dataclasses.dataclass
class Link:
    name: str  # what messages call it: the port, or "qemu#2 (socket://...)"
    device: Device
    hello: Hello
    models: dict[str, ModelInfo]
    emulator: object = None  # tools.emulate.Emulator when this run started it

    def close(self) -> None:
        self.device.close()
        if self.emulator is not None:
            self.emulator.stop()

    def identity(self) -> dict:
        hello = self.hello
        return {"link": self.name, "board": hello.board, "firmware_version":
                hello.firmware_version, "backend": hello.backend,
                "protocol_version": hello.protocol_version, "cpu_hz": hello.cpu_hz,
                "cost_unit": hello.cost_unit, "cost_hz": hello.cost_hz}


def _resolve_ports(ports: list[str] | None, jobs: int) -> list[str]:
    if ports:
        if jobs not in (1, len(ports)):
            raise InputError(f"--jobs {jobs} with {len(ports)} --port given: give one port per "
                             "job (or leave --jobs out)")
        return list(ports)
    found = sorted(port.device for port in board_ports())
    if len(found) < jobs or (jobs == 1 and len(found) != 1):
        if jobs == 1:
            return [find_board_port()]  # raises PortNotFound listing what is there
        raise PortNotFound(f"--jobs {jobs} needs {jobs} boards; found {len(found)}"
                           f"{': ' + ', '.join(found) if found else ''}. Give --port for each")
    return found[:jobs]


def open_links(workspace: Workspace, *, ports: list[str] | None = None,
               emulator: str | None = None,
               image: Path | None = None, jobs: int = 1, timeout: float = 5.0,
               quiet: bool = True, wrap_transport=None) -> list[Link]:
    """Opens `jobs` links: emulators started here, the given ports, or the boards found by USB.
    `wrap_transport(transport)` may wrap each transport (the tests' bit-flipping link). Every
    link answers HELLO and lists its models before this returns; on any failure, the links
    already opened are closed. Emulator images are built in `workspace`."""
    from tinyml_pipeline.tools import emulate
    from tinyml_pipeline.tools.firmware import Firmware

    links: list[Link] = []
    try:
        if emulator is not None:
            if emulator == "renode" and jobs > 1:
                raise InputError("Renode serves one board on one socket: --jobs 1 with renode")
            for number in range(1, jobs + 1):
                started = emulate.start(emulator, Firmware(workspace), image=image,
                                        quiet=quiet)
                name = f"{emulator}#{number} ({started.url})" if jobs > 1 else \
                    f"{emulator} ({started.url})"
                links.append(_connect(name, started.url, timeout, wrap_transport, started))
        else:
            for port in _resolve_ports(ports, jobs):
                links.append(_connect(port, port, timeout, wrap_transport, None))
    except BaseException:
        for link in links:
            link.close()
        raise
    return links


def _connect(name: str, url: str, timeout: float, wrap_transport, emulator) -> Link:
    transport = open_transport(url)
    if wrap_transport is not None:
        transport = wrap_transport(transport)
    device = Device(transport, timeout=timeout)
    try:
        first = timeout + (EMULATOR_START_ALLOWANCE_S if emulator is not None else 0.0)
        try:
            hello = device.hello(timeout=first)
        except DeviceTimeout:
            raise ProtocolError(f"{name}: no answer to HELLO within {first:g} s: is the "
                                "firmware flashed, and is this its port? (--timeout sets the "
                                "wait)") from None
        models = {info.name: info for info in device.models(hello.model_count)}
    except BaseException:
        device.close()
        if emulator is not None:
            emulator.stop()
        raise
    return Link(name, device, hello, models, emulator)


def check_models(link: Link, model_files: dict[str, Path],
                 hint=lambda: "rebuild and flash the firmware") -> dict[str, ModelInfo]:
    """The device's entry for each model, after checking that it holds exactly the model in
    `model_files` (name -> .tflite path): the same sha256. `hint()`: what to run instead."""
    found = {}
    for name, model_file in model_files.items():
        info = link.models.get(name)
        if info is None:
            raise StaleFirmware(f"{link.name} has no model {name!r} (it has "
                                f"{', '.join(sorted(link.models)) or 'none'}): {hint()}")
        expected = sha256_of(model_file)
        if info.sha256 != expected:
            raise StaleFirmware(
                f"{link.name} runs a different {name} model: device sha256 {info.sha256}, "
                f"{model_file} sha256 {expected}. The firmware is stale; {hint()}")
        found[name] = info
    return found


def check_tensors(link: Link, info: ModelInfo, reference) -> None:
    if info.input.nbytes != reference.inputs[0].nbytes or \
            info.output.nbytes != reference.tflm.shape[1] * reference.tflm.itemsize:
        raise StaleFirmware(f"{link.name}: {reference.name}'s tensor sizes on the device "
                            f"({info.input.nbytes} in, {info.output.nbytes} out) differ from "
                            "the model's")
    # Same sizes, other types (an int16 model's output read as int8 pairs) would compare wrong.
    if (info.input.dtype, info.output.dtype) != (reference.inputs.dtype.name,
                                                 reference.tflm.dtype.name):
        raise StaleFirmware(f"{link.name}: {reference.name}'s tensor types on the device "
                            f"({info.input.dtype} in, {info.output.dtype} out) differ from the "
                            f"model's ({reference.inputs.dtype.name} in, "
                            f"{reference.tflm.dtype.name} out)")
