"""The registry: every model compiled into one firmware, for either backend.

`tinyml_models.c` defines the built-in table (plans) unless TINYML_BACKEND_TFLM is defined, in
which case it defines the TFLM table (.tflite bytes and arena sizes) instead, so an image links
only what its backend uses."""

from __future__ import annotations

from dataclasses import dataclass

from tinyml_pipeline.tools.compiler.emit.resolver import resolver_header


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    sha256: str
    ops: list[str]
    plan_arena_bytes: int
    tflm_arena_bytes: int


def registry_header(entries: list[RegistryEntry], banner: str) -> str:
    names = ", ".join(e.name for e in entries)
    return (f"{banner}#ifndef TINYML_GENERATED_TINYML_MODELS_H\n"
            f"#define TINYML_GENERATED_TINYML_MODELS_H\n\n"
            f'#include "tinyml/model_info.h"\n#include "tinyml/runtime.h"\n\n'
            f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
            f"/* Models: {names} */\n"
            f"#define TINYML_MODEL_COUNT {len(entries)}\n"
            f"/* Arena each backend needs to run any of them. */\n"
            f"#define TINYML_BUILTIN_ARENA_BYTES "
            f"{max((e.plan_arena_bytes for e in entries), default=0)}u\n"
            f"#define TINYML_TFLM_ARENA_BYTES "
            f"{max((e.tflm_arena_bytes for e in entries), default=0)}u\n\n"
            f"typedef struct {{\n"
            f"  const tinyml_model_info *info;\n"
            f"  const unsigned char *model_data; /* .tflite bytes, 16-byte aligned */\n"
            f"  unsigned int model_size;\n"
            f"  unsigned int arena_bytes;\n"
            f"}} tinyml_tflm_model;\n\n"
            f"#if defined(TINYML_BACKEND_TFLM)\n"
            f"extern const tinyml_tflm_model tinyml_tflm_models[TINYML_MODEL_COUNT];\n"
            f"#else\n"
            f"extern const tinyml_plan *const tinyml_builtin_models[TINYML_MODEL_COUNT];\n"
            f"#endif\n\n"
            f"#ifdef __cplusplus\n}}\n#endif\n\n"
            f"#endif /* TINYML_GENERATED_TINYML_MODELS_H */\n")


def registry_source(entries: list[RegistryEntry], banner: str) -> str:
    settings = "".join(f'#include "{e.name}_settings.h"\n' for e in entries)
    data = "".join(f'#include "{e.name}_model_data.h"\n' for e in entries)
    plans = "".join(f'#include "{e.name}_plan.h"\n' for e in entries)
    tflm_rows = ",\n".join(
        f"    {{&g_{e.name}_info, g_{e.name}_model_data, {e.name.upper()}_MODEL_DATA_SIZE, "
        f"{e.name.upper()}_TFLM_ARENA_BYTES}}" for e in entries)
    plan_rows = ",\n".join(f"    &g_{e.name}_plan" for e in entries)
    return (f"{banner}#include \"tinyml_models.h\"\n\n{settings}\n"
            f"#if defined(TINYML_BACKEND_TFLM)\n\n{data}\n"
            f"const tinyml_tflm_model tinyml_tflm_models[TINYML_MODEL_COUNT] = {{\n"
            f"{tflm_rows}\n}};\n\n"
            f"#else\n\n{plans}\n"
            f"const tinyml_plan *const tinyml_builtin_models[TINYML_MODEL_COUNT] = {{\n"
            f"{plan_rows}\n}};\n\n"
            f"#endif\n")


def registry_resolver(entries: list[RegistryEntry], banner: str) -> str:
    """One resolver with the union of all models' ops, for a TFLM image holding them all."""
    ops = list(dict.fromkeys(op for e in entries for op in e.ops))
    return resolver_header("tinyml_register_all_ops", ops, banner,
                           "tinyml_models_op_resolver.h")
