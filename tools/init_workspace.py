"""`tinyml init DIR`: a new workspace for a user's own project. It holds models/, data/, the
folder `tinyml convert` writes the firmware's model sources into, a platformio.ini whose
environments build the packaged firmware with those sources, and a README of the next
commands. Written into a staging folder and moved into place, so a failed init leaves nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.workspace import Workspace, shown

ENVIRONMENTS = Path("platformio") / "nano33ble.ini"  # below the packaged firmware folder


def platformio_ini(firmware_sources: Path) -> str:
    try:
        version = metadata.version("tinyml-pipeline")
    except metadata.PackageNotFoundError:
        version = "(not installed)"
    sources = firmware_sources.resolve()
    return f"""; PlatformIO project of a tinyml-pipeline workspace, written by `tinyml init`: the
; firmware of tinyml-pipeline {version}, installed at {sources},
; built with this workspace's generated models (firmware/lib/models, written by tinyml convert).
; It names the installed package by its path: after moving or reinstalling the package, write a
; new workspace with `tinyml init` and keep this one's models/ and data/.
;
;   tinyml firmware build --target nano33ble      (or: pio run -e nano33ble)
;   tinyml firmware flash --env nano33ble

[platformio]
src_dir = {sources / "src"}
include_dir = {sources / "include"}
; This workspace's libraries: the generated models. The runtime (lib/tinyml) comes from the
; package; a library of the same name here would take precedence over it.
lib_dir = firmware/lib
lib_extra_dirs = {sources / "lib"}
default_envs = nano33ble
extra_configs = {sources / ENVIRONMENTS}
"""


README = """# {name}: a tinyml-pipeline workspace

- `models/`: your models, `models/<name>/model.tflite`, with `card.json` when `tinyml train`
  made it.
- `data/`: data sets. The built-in tasks read theirs from here: copy `mnist/mnist.npz` and
  `basic_motions/` from the tinyml-pipeline repository's `data/`.
- `firmware/lib/models/`: the model sources the firmware is built with, written by
  `tinyml convert`.
- `build/`: builds, caches and validation reports; regenerated, safe to delete.

Every `tinyml` command run in this folder uses it (elsewhere: `tinyml --workspace {name} ...` or
`TINYML_WORKSPACE={name}`).

Next steps:

```sh
cd {name}
tinyml train digits                          # needs data/mnist/mnist.npz; writes models/digits/
tinyml convert models/digits/model.tflite    # -> firmware/lib/models/
tinyml firmware build --target host          # or qemu, or nano33ble (PlatformIO)
tinyml validate --model digits --emulator host
tinyml bench models/digits --target host
tinyml firmware flash --env nano33ble        # a Nano 33 BLE Sense on USB
```
"""

GITIGNORE = "build/\n.pio/\n"


def init_workspace(directory: Path, firmware_sources: Path) -> Workspace:
    directory = Path(directory).expanduser()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"{shown(directory)} already exists and is not an empty directory: "
                         "tinyml init makes a new workspace")
    if not (firmware_sources / ENVIRONMENTS).is_file():
        raise InputError(f"{firmware_sources / ENVIRONMENTS} is missing: reinstall "
                         "tinyml-pipeline")
    parent = directory.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.init-", dir=parent))
    try:
        for folder in ("models", "data", "firmware/lib"):
            (staging / folder).mkdir(parents=True)
        (staging / "platformio.ini").write_text(platformio_ini(firmware_sources))
        (staging / "README.md").write_text(README.format(name=directory.name))
        (staging / ".gitignore").write_text(GITIGNORE)
        _give_umask_modes(staging)
        if directory.exists():
            directory.rmdir()  # empty, checked above
        staging.rename(directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Workspace(directory.resolve())


def _give_umask_modes(root: Path) -> None:
    # mkdtemp makes its folder 0700; a workspace is an ordinary folder.
    umask = os.umask(0)
    os.umask(umask)
    root.chmod(0o777 & ~umask)
