"""The distribution as a user gets it: the wheel built from this tree, installed into a fresh
virtual environment outside the checkout, and every command run from an empty directory that is
the workspace. Nothing of the checkout is importable there: the package comes from the wheel
only, its dependencies (TensorFlow and the rest, which cannot be downloaded here) from this
project's environment through a path line, which runs none of that environment's .pth hooks
(so not the editable install's).

`python -m tests.test_wheel` prints each command and its output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MODELS_DIR, REPO_ROOT

MODEL = "linear"  # small, and its data set is generated: nothing to copy but the model


@dataclass
class Installed:
    python: Path
    tinyml: Path
    site_packages: Path
    env: dict


def _source_tree(destination: Path) -> None:
    """The files git would commit (tracked, and untracked but not ignored): no build output."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def install_wheel(root: Path) -> Installed:
    if shutil.which("git") is None:
        pytest.skip("git is not installed (it lists the files that go into the wheel)")
    source, dist, environment = root / "source", root / "dist", root / "venv"
    _source_tree(source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist),
                    str(source)], check=True, capture_output=True)
    wheel = next(dist.glob("tinyml_pipeline-*.whl"))
    venv.EnvBuilder(with_pip=False).create(environment)
    python = environment / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", str(wheel)], check=True, capture_output=True)
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "project_dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TINYML_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{environment / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return Installed(python, environment / "bin" / "tinyml", site_packages, env)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    return install_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def workspace(installed, tmp_path_factory) -> Path:
    """An empty directory with a user's model copied in, and the model converted there."""
    directory = tmp_path_factory.mktemp("empty")
    assert not any(directory.iterdir())
    shutil.copytree(MODELS_DIR / MODEL, directory / "models" / MODEL)
    tinyml(installed, directory, "convert", f"models/{MODEL}/model.tflite")
    return directory


def tinyml(installed: Installed, cwd: Path, *arguments: str, expect: int = 0) -> str:
    finished = subprocess.run([str(installed.tinyml), "-q", *arguments], cwd=cwd,
                              env=installed.env, capture_output=True, text=True, timeout=900)
    assert finished.returncode == expect, (
        f"tinyml {' '.join(arguments)} exited {finished.returncode}:\n{finished.stdout}"
        f"{finished.stderr}")
    return finished.stdout + finished.stderr


def test_the_package_comes_from_the_wheel_not_the_checkout(installed, tmp_path):
    where = subprocess.run(
        [str(installed.python), "-c", "import tinyml_pipeline.tools.cli as cli, "
         "tinyml_pipeline.tools.packaged as p; print(cli.__file__); print(p.firmware_dir())"],
        cwd=tmp_path, env=installed.env, capture_output=True, text=True, check=True)
    module, firmware = where.stdout.split()
    assert Path(module).is_relative_to(installed.site_packages)
    assert Path(firmware) == installed.site_packages / "tinyml_pipeline" / "firmware"
    assert not (installed.site_packages / "tools").exists()
    assert not (installed.site_packages / "training").exists()


def test_help(installed, tmp_path):
    assert "init" in tinyml(installed, tmp_path, "--help")


def test_convert_writes_into_the_workspace(installed, workspace):
    generated = workspace / "firmware" / "lib" / "models"
    assert (generated / f"{MODEL}_plan.c").is_file() and (generated / "tinyml_models.h").is_file()
    assert not (installed.site_packages / "tinyml_pipeline" / "firmware" / "lib" / "models"
                ).exists()


def test_run_builtin_matches_tflm(installed, workspace):
    inputs = np.arange(-100, 100, 7, dtype=np.int8).reshape(-1, 1)
    np.save(workspace / "inputs.npy", inputs)
    for backend in ("builtin", "tflm"):
        tinyml(installed, workspace, "run", f"models/{MODEL}/model.tflite",
               "--inputs", "inputs.npy", "--out", f"{backend}.npy", "--backend", backend)
    assert np.array_equal(np.load(workspace / "builtin.npy"), np.load(workspace / "tflm.npy"))
    assert (workspace / "build" / "host-runner").is_dir()


@pytest.mark.parametrize("target", ["host", "qemu"])
def test_firmware_build(installed, workspace, target):
    if target == "qemu" and shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not installed (make setup installs it)")
    elf = Path(tinyml(installed, workspace, "firmware", "build", "--target", target).split()[-1])
    assert elf.is_file() and (workspace / elf).resolve().is_relative_to(workspace)


def test_validate_against_the_host_port(installed, workspace):
    output = tinyml(installed, workspace, "validate", "--model", MODEL, "--emulator", "host")
    totals = json.loads((workspace / "build" / "validation" / "report.json").read_text())["totals"]
    assert totals["passed"] and totals["exact"] == totals["validated"] == 81, output


def test_bench_on_the_host(installed, workspace):
    output = tinyml(installed, workspace, "bench", f"models/{MODEL}", "--target", "host",
                    "--runs", "3")
    assert "host" in output and (workspace / "build" / "bench").is_dir()


def test_train_without_the_data_says_where_to_put_it(installed, tmp_path):
    output = tinyml(installed, tmp_path, "train", "activity", expect=2)
    assert output.strip().splitlines()[-1].startswith(
        "tinyml: error: data file missing: put basic_motions/BasicMotions_TRAIN.ts into data/")


def test_init_makes_a_workspace_platformio_reads(installed, tmp_path):
    tinyml(installed, tmp_path, "init", "project")
    project = tmp_path / "project"
    assert {p.name for p in project.iterdir()} == {
        "models", "data", "firmware", "platformio.ini", "README.md", ".gitignore"}
    # PlatformIO's own reader (no registry needed): the envs come from the packaged file, the
    # sources from the installed package.
    shown = subprocess.run([str(installed.python), "-m", "platformio", "project", "config",
                            "-d", str(project), "--json-output"], env=installed.env,
                           capture_output=True, text=True, check=True).stdout
    sections = dict(json.loads(shown))
    assert "env:nano33ble" in sections and "env:nano33ble_builtin_rev2" in sections
    options = dict(sections["platformio"])
    firmware = installed.site_packages / "tinyml_pipeline" / "firmware"
    assert Path(options["src_dir"]) == firmware / "src"
    assert f"-I{firmware / 'include'}" in dict(sections["env"])["build_flags"]
    targets = tinyml(installed, project, "firmware", "build", "--help")
    assert "nano33ble_rev2" in targets
    tinyml(installed, tmp_path, "init", "project", expect=2)  # not over an existing one


def main() -> None:
    """Builds and installs the wheel in a temporary folder and runs the commands, printing
    each with its output."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tinyml-wheel-") as root:
        installed = install_wheel(Path(root))
        empty = Path(root) / "empty"
        empty.mkdir()
        shutil.copytree(MODELS_DIR / MODEL, empty / "models" / MODEL)
        np.save(empty / "inputs.npy", np.arange(-100, 100, 7, dtype=np.int8).reshape(-1, 1))
        for arguments in (["--help"], ["convert", f"models/{MODEL}/model.tflite"],
                          ["run", f"models/{MODEL}/model.tflite", "--inputs", "inputs.npy",
                           "--out", "out.npy", "--backend", "builtin"],
                          ["firmware", "build", "--target", "host"],
                          ["firmware", "build", "--target", "qemu"],
                          ["validate", "--model", MODEL, "--emulator", "host"],
                          ["bench", f"models/{MODEL}", "--target", "host", "--runs", "3"],
                          ["init", "project"]):
            print(f"$ tinyml {' '.join(arguments)}")
            print(tinyml(installed, empty, *arguments).rstrip())


if __name__ == "__main__":
    main()
