"""Imports flow one way (docs/architecture.md): bottom helpers, then the middle (desktop
runtimes, training, the compiler, the serial link, the targets), then the top (validate, bench,
capture, evaluate, run), then the CLI. The test reads every module's imports from its source
(function-level ones included, so a lazy import cannot hide a cycle) and fails on an upward
import or a cycle. `python -m tests.test_layers` prints the graph."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("tools", "training")
PREFIX = "tinyml_pipeline."  # the installed import name of both folders (setup.py)
BOTTOM, MIDDLE, TOP, ENTRY = range(4)
LAYER_NAMES = ("bottom", "middle", "top", "entry")
# Longest prefix wins; names without PREFIX, as the graph prints them.
SHORT_LAYERS = {
    "tools": BOTTOM, "training": MIDDLE,
    "tools.errors": BOTTOM, "tools.atomic": BOTTOM, "tools.hashing": BOTTOM,
    "tools.console": BOTTOM, "tools.elf": BOTTOM, "tools.tflite_model": BOTTOM,
    "tools.imu_replay": BOTTOM, "tools.workspace": BOTTOM, "tools.packaged": BOTTOM,
    "tools.card": BOTTOM, "tools.testset": BOTTOM, "tools.metrics": BOTTOM,
    "tools.reference": MIDDLE, "tools.tflm_probe": MIDDLE, "tools.compiler": MIDDLE,
    "tools.framing": MIDDLE, "tools.protocol": MIDDLE, "tools.device": MIDDLE,
    "tools.transport": MIDDLE, "tools.firmware": MIDDLE, "tools.size_report": MIDDLE,
    "tools.qemu": MIDDLE,
    "tools.qemu_batch": MIDDLE, "tools.emulate": MIDDLE, "tools.targets": MIDDLE,
    "tools.validation": TOP, "tools.bench": TOP, "tools.capture": TOP, "tools.evaluate": TOP,
    "tools.run": TOP, "tools.init_workspace": TOP, "tools.describe_model": TOP,
    "training.quantize_own": TOP,
    "tools.cli": ENTRY, "tools.cli_own_model": ENTRY,
}
LAYERS = {PREFIX + name: layer for name, layer in SHORT_LAYERS.items()}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[PREFIX + name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph = {}
    for name, path in known.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in known else node.module)
        graph[name] = {target for target in imported if target in known and target != name}
    return graph


def layer_of(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer():
    assert all(layer_of(name) in range(4) for name in modules())


def test_no_module_imports_a_higher_layer():
    upward = [f"{source} ({LAYER_NAMES[layer_of(source)]}) imports {target} "
              f"({LAYER_NAMES[layer_of(target)]})"
              for source, targets in import_graph().items() for target in sorted(targets)
              if layer_of(target) > layer_of(source)]
    assert not upward, "\n".join(upward)


def test_there_are_no_import_cycles():
    assert not cycles(import_graph())


def test_the_walk_sees_function_level_imports():
    """A lazy import counts: evaluate's load_test_set imports training inside the function."""
    assert f"{PREFIX}training.evaluation" in import_graph()[f"{PREFIX}tools.evaluate"]


def main() -> None:
    graph = import_graph()
    print(f"(every name is under {PREFIX.rstrip('.')})")
    for layer, layer_name in enumerate(LAYER_NAMES):
        print(f"[{layer_name}]")
        for name in sorted(n for n in graph if layer_of(n) == layer):
            targets = ", ".join(sorted(t.removeprefix(PREFIX) for t in graph[name])) or "-"
            print(f"  {name.removeprefix(PREFIX)} -> {targets}")


if __name__ == "__main__":
    main()
