"""`tinyml convert`: a .tflite and its card become the firmware's C sources for one model, and
the registry of all models in the output directory is regenerated.

Everything is generated in memory first; files are written (each atomically) only when every
generator has succeeded, so a failing model leaves the output directory as it was.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from tinyml_pipeline.tools.atomic import atomic_write_text
from tinyml_pipeline.tools.card import ModelCard, card_beside
from tinyml_pipeline.tools.compiler.emit.cformat import banner
from tinyml_pipeline.tools.compiler.emit.model_data import model_data_header, model_data_source
from tinyml_pipeline.tools.compiler.emit.plan_c import plan_header, plan_source
from tinyml_pipeline.tools.compiler.emit.registry import (
    RegistryEntry,
    registry_header,
    registry_resolver,
    registry_source,
)
from tinyml_pipeline.tools.compiler.emit.resolver import RESOLVER_METHODS, resolver_header
from tinyml_pipeline.tools.compiler.emit.settings import (
    ModelSettings,
    settings_header,
    settings_source,
)
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.planner import Plan, compile_plan
from tinyml_pipeline.tools.compiler.tflm_compat import (
    TflmIncompatibility,
    pinned_tflm_incompatibilities,
    tflm_refusal_c,
)
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel

MANIFEST = "tinyml_models.json"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@dataclass
class ConvertedModel:
    name: str
    plan: Plan
    files: dict[str, str]  # file name -> text
    entry: RegistryEntry
    # What the board's TFLM would compute wrongly: its sources then refuse a TFLM build.
    tflm_problems: list[TflmIncompatibility]

    def tflm_warnings(self) -> list[str]:
        return [problem.message(self.name) for problem in self.tflm_problems]


def display_path(path: str | Path, root: Path | None) -> str:
    """Paths in banners are relative to the workspace `root`, so regenerating from elsewhere
    gives equal bytes; as given when there is no root or the path is outside it."""
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def default_name(model_path: Path, card: ModelCard | None) -> str:
    if card and isinstance(card.name, str):
        return card.name
    return model_path.parent.name if model_path.stem == "model" else model_path.stem


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise InputError(f"model name {name!r} must be a lowercase C identifier "
                         f"(letters, digits, _; at most 32 characters)")
    return name


def tflm_arena_with_margin(measured: int) -> int:
    return int(math.ceil(max(measured * 1.25, measured + 1024) / 16) * 16)


def _settings(name: str, card: ModelCard | None, measured_arena: int) -> ModelSettings:
    labels = card.labels if card else None
    normalization = (card.normalization if card else None) or {}
    sample_rate = (card.sample_rate_hz if card else None) or 0.0
    return ModelSettings(name=name, labels=labels, mean=normalization.get("mean"),
                         std=normalization.get("std"), sample_rate_hz=float(sample_rate),
                         tflm_arena_measured=measured_arena,
                         tflm_arena_bytes=tflm_arena_with_margin(measured_arena))


def convert_model(model: TFLiteModel, name: str, card: ModelCard | None, command: str,
                  measure_arena: bool = True, display_root: Path | None = None
                  ) -> ConvertedModel:
    """Generates one model's files. Raises CompileError/InputError naming the problem."""
    check_name(name)
    plan = compile_plan(model)
    unknown = [op for op in model.op_names() if op not in RESOLVER_METHODS]
    if unknown:
        raise CompileError(f"{model.source}: no TFLM resolver entry for {', '.join(unknown)}")
    if measure_arena:
        from tinyml_pipeline.tools.reference import measure_tflm_arena

        measured = measure_tflm_arena(model, isolated=True)
    else:
        measured = 0
    settings = _settings(name, card, measured)
    source = display_path(model.source, display_root)
    tflm_problems = pinned_tflm_incompatibilities(model)

    def top(title: str) -> str:
        return banner(title, source, model.sha256, command)

    files = {
        f"{name}_model_data.h": model_data_header(name, model.size, top(
            f"{name}: the .tflite model for TFLite Micro")),
        f"{name}_model_data.c": model_data_source(name, model.data, top(
            f"{name}: the .tflite model for TFLite Micro"), tflm_refusal_c(name, tflm_problems)),
        f"{name}_settings.h": settings_header(model, settings, top(
            f"{name}: tensor contract, identity and TFLM settings")),
        f"{name}_settings.c": settings_source(model, settings, top(
            f"{name}: tensor contract, identity and TFLM settings")),
        f"{name}_op_resolver.h": resolver_header(f"{name}_register_ops", model.op_names(), top(
            f"{name}: TFLM op resolver with exactly the model's ops"),
            f"{name}_op_resolver.h"),
        f"{name}_plan.h": plan_header(name, plan, top(f"{name}: built-in runtime plan")),
        f"{name}_plan.c": plan_source(name, plan, top(f"{name}: built-in runtime plan")),
    }
    entry = RegistryEntry(name=name, sha256=model.sha256, ops=model.op_names(),
                          plan_arena_bytes=plan.arena_bytes,
                          tflm_arena_bytes=settings.tflm_arena_bytes)
    return ConvertedModel(name, plan, files, entry, tflm_problems)


def registry_files(entries: list[RegistryEntry]) -> dict[str, str]:
    entries = sorted(entries, key=lambda e: e.name)
    top = (f"/* Registry of the models compiled into this firmware: "
           f"{', '.join(e.name for e in entries)}\n *\n"
           f" * Generated by `tinyml convert`; do not edit. Every convert into this directory\n"
           f" * regenerates it from {MANIFEST}.\n */\n")
    manifest = {"models": [asdict(e) for e in entries]}
    return {"tinyml_models.h": registry_header(entries, top),
            "tinyml_models.c": registry_source(entries, top),
            "tinyml_models_op_resolver.h": registry_resolver(entries, top),
            MANIFEST: json.dumps(manifest, indent=2) + "\n"}


def read_manifest(out_dir: Path) -> list[RegistryEntry]:
    path = out_dir / MANIFEST
    if not path.exists():
        return []
    try:
        return [RegistryEntry(**entry) for entry in json.loads(path.read_text())["models"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: unreadable registry manifest ({error})") from None


def convert_command(model_path: str, name: str, out_dir: str, root: Path | None) -> str:
    return (f"tinyml convert {display_path(model_path, root)} --name {name} "
            f"--out {display_path(out_dir, root)}")


def convert_file(model_path: Path, out_dir: Path, name: str | None = None,
                 measure_arena: bool = True, display_root: Path | None = None) -> ConvertedModel:
    """Generates one model's files as `tinyml convert MODEL --out OUT_DIR` would write them;
    paths in their banners relative to `display_root` (the workspace)."""
    model = TFLiteModel.from_file(model_path)
    card = card_beside(model_path)
    name = check_name(name or default_name(model_path, card))
    command = convert_command(str(model_path), name, str(out_dir), display_root)
    return convert_model(model, name, card, command, measure_arena, display_root)


def convert_to_directory(model_path: Path, out_dir: Path, name: str | None = None,
                         measure_arena: bool = True, display_root: Path | None = None
                         ) -> ConvertedModel:
    converted = convert_file(model_path, out_dir, name, measure_arena, display_root)
    name = converted.name
    entries = [e for e in read_manifest(out_dir) if e.name != name] + [converted.entry]
    files = {**converted.files, **registry_files(entries)}
    for file_name, text in files.items():
        atomic_write_text(out_dir / file_name, text)
    return converted
