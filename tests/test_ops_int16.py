"""16x8 models (int16 activations, int8 weights) and int16 model inputs and outputs: randomized
schema-built models must give TFLM's bytes through the built-in runtime, and an op the
runtime cannot compute in int16 is refused, never computed wrong."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.opbuild import Quantization, unary_chain_model
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.tflite_model import TFLiteModel

MODELS_PER_OP = 210


def _shape(rng, max_rank: int = 4, largest: int = 6) -> tuple[int, ...]:
    rank = int(rng.integers(1, max_rank + 1))
    return tuple([1] + [int(rng.integers(1, largest + 1)) for _ in range(rank - 1)])


def _scale(rng, low: float = 1e-4, high: float = 1.0) -> float:
    return float(np.float32(np.exp(rng.uniform(np.log(low), np.log(high)))))


def _quantization(rng, type_name: str) -> Quantization | None:
    """int8: any zero point; int16: 0, as 16x8 quantization and the model's I/O require."""
    if type_name == "FLOAT32":
        return None
    zero_point = int(rng.integers(-128, 128)) if type_name == "INT8" else 0
    return Quantization(_scale(rng), zero_point)


# QUANTIZE and DEQUANTIZE with an int16 side, as chains whose float32 middle is no model I/O.
_QUANTIZE_CHAINS = [
    (["QUANTIZE"], ["INT8", "INT16"]),
    (["QUANTIZE"], ["INT16", "INT8"]),
    (["QUANTIZE"], ["INT16", "INT16"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT16", "FLOAT32", "INT16"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT16", "FLOAT32", "INT8"]),
    (["DEQUANTIZE", "QUANTIZE"], ["INT8", "FLOAT32", "INT16"]),
]


def _check(built: list[tuple[str, bytes]], seed: int, samples: int = 4) -> None:
    models = [TFLiteModel(data, text) for text, data in built]
    failures = compare_models(models, [text for text, _ in built], seed, samples)
    assert not failures, "\n".join(failures)


def test_quantize_dequantize_int16_match_tflm():
    rng = np.random.default_rng(1601)
    built = []
    for index in range(MODELS_PER_OP):
        ops, types = _QUANTIZE_CHAINS[index % len(_QUANTIZE_CHAINS)]
        shape = _shape(rng)
        tensors = [(t, _quantization(rng, t)) for t in types]
        text = " -> ".join(f"{t.lower()}{'' if q is None else f' ({q.scale:.3g}, {q.zero_point})'}"
                           for t, q in tensors)
        built.append((f"{'+'.join(ops)} {shape}: {text}",
                      unary_chain_model(shape, ops, tensors)))
    _check(built, seed=1601)
