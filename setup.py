"""The distribution's packages, found in the repository's folders and installed under one import
name, tinyml_pipeline: tools/ is tinyml_pipeline.tools, training/ is tinyml_pipeline.training,
and firmware/ (C sources, CMake and PlatformIO files) is tinyml_pipeline.firmware, package data
the build commands read. Everything else is in pyproject.toml; a setup.py is needed only because
pyproject's package finder cannot put found packages under a prefix."""

from setuptools import find_namespace_packages, setup

IMPORT_NAME = "tinyml_pipeline"
FOLDERS = ("tools", "training", "firmware")
# The repository's own generated models stay out: a workspace generates its own into its
# firmware/lib/models (tinyml convert), and an installed firmware/lib must hold the runtime only
# for a workspace's platformio.ini to put it beside that folder.
NOT_SHIPPED = ("*.__pycache__", "firmware.lib.models", "firmware.lib.models.*")

found = find_namespace_packages(include=[f"{folder}*" for folder in FOLDERS],
                                exclude=NOT_SHIPPED)
firmware = [package for package in found if package.split(".")[0] == "firmware"]

setup(
    packages=[f"{IMPORT_NAME}.{package}" for package in found],
    package_dir={f"{IMPORT_NAME}.{folder}": folder for folder in FOLDERS},
    package_data={f"{IMPORT_NAME}.{package}": ["*"] for package in firmware},
    exclude_package_data={"": ["*.pyc"]},
)
