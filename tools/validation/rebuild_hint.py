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


def rebuild_commands(names: list[str], models_dir: Path, workspace: Workspace,
                     emulator: str | None, port: str | None) -> str:
    """`names`: the models being validated; `emulator`: the target of an emulator this run
    started (else the board on `port`)."""
    ws = f" --workspace {_quoted(workspace.root)}"
    models = " ".join(names) if len(names) < 3 else "all"
    if emulator in EXECUTABLES:
        sources = workspace.build / "firmware-models" / "sources"
        tree = workspace.build / "firmware-models" / emulator
        steps = [f"tinyml{ws} convert {_quoted(Path(models_dir) / name / 'model.tflite')} "
                 f"--out {_quoted(sources)}" for name in names]
        steps.append(f"tinyml{ws} firmware build --target {emulator} --models-dir "
                     f"{_quoted(sources)} --build-dir {_quoted(tree)}")
        steps.append(f"tinyml{ws} validate --model {models} --emulator {emulator} --image "
                     f"{_quoted(tree / EXECUTABLES[emulator])} --models-dir "
                     f"{_quoted(models_dir)}")
        return "rebuild it from these models: " + "; then ".join(steps)
    target = Path(workspace.firmware_models).resolve()
    if target.is_relative_to(firmware_dir().resolve()):
        # The board's envs build the workspace's firmware/lib/models, here the shipped sources.
        return ("the board builds the workspace's firmware/lib/models, which here are the "
                "shipped sources: make a workspace of your own with `tinyml init DIR`, copy the "
                "models into DIR/models, and convert and flash from there")
    steps = [f"tinyml{ws} convert {_quoted(Path(models_dir) / name / 'model.tflite')}"
             for name in names]
    steps.append(f"tinyml{ws} firmware flash --env nano33ble" +
                 (f" --port {shlex.quote(port)}" if port else ""))
    steps.append(f"tinyml{ws} validate --model {models}" +
                 (f" --port {shlex.quote(port)}" if port else "") +
                 f" --models-dir {_quoted(models_dir)}")
    return "rebuild and flash it: " + "; then ".join(steps)
