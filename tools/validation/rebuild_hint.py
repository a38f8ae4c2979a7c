"""What to run when a device's firmware is stale: the exact commands for this run's situation
(an emulator it started, or a board on a port), with the models dir and workspace in use. The
fresh sources go to the workspace's build dir, never over the committed firmware/lib/models."""

from __future__ import annotations

import shlex
from pathlib import Path

from tinyml_pipeline.tools.packaged import firmware_dir
from tinyml_pipeline.tools.targets.cmake import EXECUTABLES
from tinyml_pipeline.tools.workspace import Workspace, shown


def _quoted(path: Path | str) -> str:
    return shlex.quote(shown(path))


def rebuild_commands(directories: dict[str, Path], models_dir: Path, workspace: Workspace,
                     emulator: str | None, port: str | None) -> str:
    """`directories`: the models being validated (name -> model directory); `emulator`: the
    target of an emulator this run started (else the board on `port`)."""
    ws = f" --workspace {_quoted(workspace.root)}"
    given = [name if Path(directory) == Path(models_dir) / name else shown(directory)
             for name, directory in directories.items()]
    models = " ".join(f"--model {shlex.quote(model)}" for model in given)
    if emulator in EXECUTABLES:
        sources = workspace.build / "firmware-models" / "sources"
        tree = workspace.build / "firmware-models" / emulator
        steps = [f"tinyml{ws} convert {_quoted(Path(directory) / 'model.tflite')} "
                 f"--out {_quoted(sources)}" for directory in directories.values()]
        steps.append(f"tinyml{ws} firmware build --target {emulator} --models-dir "
                     f"{_quoted(sources)} --build-dir {_quoted(tree)}")
        steps.append(f"tinyml{ws} validate {models} --emulator {emulator} --image "
                     f"{_quoted(tree / EXECUTABLES[emulator])} --models-dir "
                     f"{_quoted(models_dir)}")
        return "rebuild it from these models: " + "; then ".join(steps)
    target = Path(workspace.firmware_models).resolve()
    if target.is_relative_to(firmware_dir().resolve()):
        # The board's envs build the workspace's firmware/lib/models, here the shipped sources.
        return ("the board builds the workspace's firmware/lib/models, which here are the "
                "shipped sources: make a workspace of your own with `tinyml init DIR`, copy the "
                "models into DIR/models, and convert and flash from there")
    steps = [f"tinyml{ws} convert {_quoted(Path(directory) / 'model.tflite')}"
             for directory in directories.values()]
    steps.append(f"tinyml{ws} firmware flash --env nano33ble" +
                 (f" --port {shlex.quote(port)}" if port else ""))
    steps.append(f"tinyml{ws} validate {models}" +
                 (f" --port {shlex.quote(port)}" if port else "") +
                 f" --models-dir {_quoted(models_dir)}")
    return "rebuild and flash it: " + "; then ".join(steps)
