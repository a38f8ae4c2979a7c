"""Where a project's files live: models, data, builds, reports and the generated firmware
sources. Resolved once, by the CLI (`--workspace DIR`, else $TINYML_WORKSPACE, else the current
directory), and handed to whatever reads or writes them; the repository is simply the workspace
you get when you stand in it. `tinyml init DIR` makes a new one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "TINYML_WORKSPACE"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def models(self) -> Path:
        """models/<name>/model.tflite and card.json."""
        return self.root / "models"

    @property
    def data(self) -> Path:
        """Data sets (the built-in tasks' files, a user's own test sets, captures)."""
        return self.root / "data"

    @property
    def captures(self) -> Path:
        return self.data / "captures"

    @property
    def build(self) -> Path:
        """Everything regenerated: firmware builds, caches, validation reports."""
        return self.root / "build"

    @property
    def firmware_models(self) -> Path:
        """The generated model sources the firmware builds in (`tinyml convert`'s default)."""
        return self.root / "firmware" / "lib" / "models"

    @property
    def platformio_ini(self) -> Path:
        return self.root / "platformio.ini"

    def relative(self, path: Path) -> str:
        """`path` relative to the workspace when it is inside it (as POSIX text), else as given:
        what files written here record, so they do not depend on where the workspace sits."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()


def resolve(option: Path | None = None) -> Workspace:
    """The workspace: the option, else $TINYML_WORKSPACE, else the current directory."""
    chosen = option or os.environ.get(ENV_VAR) or Path.cwd()
    return Workspace(Path(chosen).expanduser().resolve())


def shown(path: Path | str) -> str:
    """A path for a message: relative to where the user stands when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
