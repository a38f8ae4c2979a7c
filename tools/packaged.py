"""The firmware sources shipped with the package (CMake project, portable core, ports, the
PlatformIO sources and environments), found through the import system: a checkout's firmware/
under an editable install, site-packages' copy under a wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tinyml_pipeline.tools.errors import TinyMLError

FIRMWARE_PACKAGE = "tinyml_pipeline.firmware"


class PackageDataError(TinyMLError):
    """The installation lacks its firmware sources: reinstall (exit 2)."""

    exit_code = 2


def firmware_dir() -> Path:
    spec = importlib.util.find_spec(FIRMWARE_PACKAGE)
    # A namespace package (firmware/ has no __init__.py); editable installs add a placeholder
    # entry to its path besides the real folder.
    for location in (spec.submodule_search_locations or ()) if spec else ():
        if (Path(location) / "CMakeLists.txt").is_file():
            return Path(location)
    raise PackageDataError(f"the installed package has no firmware sources ({FIRMWARE_PACKAGE}"
                           "/CMakeLists.txt): reinstall tinyml-pipeline")
