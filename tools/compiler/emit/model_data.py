"""The .tflite bytes as a C array for TFLM (TFLM's generate_cc_arrays naming and alignment)."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.compiler.emit.cformat import c_array_body, include_guard


def model_data_header(name: str, size: int, banner: str) -> str:
    guard = include_guard(f"{name}_model_data.h")
    return (f"{banner}#ifndef {guard}\n#define {guard}\n\n"
            f"#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\n"
            f"#define {name.upper()}_MODEL_DATA_SIZE {size}u\n\n"
            f"/* The .tflite flatbuffer; 16-byte aligned as TFLM requires. */\n"
            f"extern const unsigned char g_{name}_model_data[];\n"
            f"extern const unsigned int g_{name}_model_data_size;\n\n"
            f"#ifdef __cplusplus\n}}\n#endif\n\n#endif /* {guard} */\n")


def model_data_source(name: str, data: bytes, banner: str, refusal: str = "") -> str:
    """`refusal`: C lines that stop a TFLM build of a model the board's TFLM gets wrong."""
    body = c_array_body("uint8_t", np.frombuffer(data, dtype=np.uint8))
    return (f"{banner}{refusal}#include \"{name}_model_data.h\"\n\n"
            f"#if defined(__cplusplus)\n#define TINYML_ALIGN16 alignas(16)\n"
            f"#elif defined(__GNUC__) || defined(__clang__)\n"
            f"#define TINYML_ALIGN16 __attribute__((aligned(16)))\n"
            f"#else\n#define TINYML_ALIGN16 _Alignas(16)\n#endif\n\n"
            f"TINYML_ALIGN16 const unsigned char g_{name}_model_data[{len(data)}] = {{\n"
            f"{body}\n}};\n\n"
            f"const unsigned int g_{name}_model_data_size = {len(data)}u;\n")
