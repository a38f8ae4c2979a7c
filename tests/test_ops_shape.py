"""Shape-only ops (RESHAPE, SQUEEZE, EXPAND_DIMS): no layer runs, the planner gives input and
output one buffer. Randomized converter-built models, alone and between other ops, must give
TFLM's bytes.

The converter lowers tf.squeeze and tf.expand_dims to RESHAPE, so SQUEEZE and EXPAND_DIMS models
are converter-built RESHAPE models with that op swapped (tests/support/surgery.py)."""

import numpy as np
import pytest

from tests.support.modelgen import Case, convert_cases
from tests.support.opcheck import compare_models
from tests.support.surgery import reshape_to_expand_dims, reshape_to_squeeze
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 5
PER_BATCH = 40


def _shape(rng, rank: int, smallest: int = 1) -> list[int]:
    return [1] + [int(rng.integers(smallest, 7)) for _ in range(rank - 1)]


def _reshape_case(rng, index: int) -> Case:
    import tensorflow as tf

    # Rank 3-4 with no unit dims and a different target, so no reshape below is a no-op.
    shape = _shape(rng, int(rng.integers(3, 5)), smallest=2)
    size = int(np.prod(shape))
    divisors = [d for d in range(1, size + 1) if size % d == 0 and d != shape[1]]
    target = [1, int(rng.choice(divisors))]
    target.append(size // target[1])
    kind = index % 4
    if kind == 0:
        return Case(f"reshape {shape} -> {target}", tuple(shape),
                    lambda x: tf.reshape(x, target))
    if kind == 1:  # between a pooling and a dense layer, as a flatten is
        units = int(rng.integers(1, 9))
        weights = rng.normal(size=(size, units)).astype(np.float32)
        return Case(f"reshape {shape} -> [1, {size}] -> dense {units}", tuple(shape),
                    lambda x: tf.matmul(tf.reshape(x, [1, size]), weights))
    if kind == 2:  # a chain of reshapes around a convolution
        image = [1, int(rng.integers(3, 8)), int(rng.integers(3, 8)), int(rng.integers(1, 4))]
        filters = rng.normal(size=(3, 3, image[3], int(rng.integers(1, 5)))).astype(np.float32)
        flat = [1, int(np.prod(image[1:]))]
        return Case(f"reshape {flat} -> {image} -> conv -> flatten", tuple(flat),
                    lambda x: tf.reshape(tf.nn.conv2d(tf.reshape(x, image), filters, 1, "SAME"),
                                         [1, -1]))
    pooled = [1, 2 * int(rng.integers(1, 4)), 2 * int(rng.integers(1, 4)),
              int(rng.integers(1, 5))]
    return Case(f"max_pool {pooled} -> reshape", tuple(pooled),
                lambda x: tf.reshape(tf.nn.max_pool2d(x, 2, 2, "VALID"), [1, -1]))


@pytest.mark.parametrize("seed", range(BATCHES))
def test_reshape_models_match_tflm(seed):
    rng = np.random.default_rng(1000 + seed)
    cases = [_reshape_case(rng, i) for i in range(PER_BATCH)]
    models = [TFLiteModel(data, f"reshape seed {seed} case {i}")
              for i, data in enumerate(convert_cases(cases, seed))]
    missing = [c.description for c, m in zip(cases, models, strict=True)
               if "RESHAPE" not in m.op_names()]
    assert not missing, f"the converter dropped the reshape of {missing}"
    failures = compare_models(models, [c.description for c in cases], seed)
    assert not failures, "\n".join(failures)


def _squeeze_or_expand(rng, squeeze: bool):
    import tensorflow as tf

    rank = int(rng.integers(2, 5))
    shape = _shape(rng, rank)
    axis = int(rng.integers(1, rank + 1))
    if squeeze:
        shape.insert(axis, 1)
        return (Case(f"squeeze {shape} axis {axis}", tuple(shape),
                     lambda x: tf.squeeze(x, [axis])), [axis])
    return (Case(f"expand_dims {shape} axis {axis}", tuple(shape),
                 lambda x: tf.expand_dims(x, axis)), axis)


@pytest.mark.parametrize("op", ["SQUEEZE", "EXPAND_DIMS"])
@pytest.mark.parametrize("seed", range(BATCHES))
def test_squeeze_and_expand_dims_models_match_tflm(op, seed):
    rng = np.random.default_rng(2000 + seed + (100 if op == "SQUEEZE" else 0))
    built = [_squeeze_or_expand(rng, op == "SQUEEZE") for _ in range(PER_BATCH)]
    cases = [case for case, _ in built]
    models = []
    for index, (data, (_, argument)) in enumerate(zip(convert_cases(cases, seed), built,
                                                             strict=True)):
        edited = reshape_to_squeeze(data, argument) if op == "SQUEEZE" else \
            reshape_to_expand_dims(data, argument)
        models.append(TFLiteModel(edited, f"{op} seed {seed} case {index}"))
    assert all(model.op_names() == [op] for model in models)
    failures = compare_models(models, [c.description for c in cases], seed)
    assert not failures, "\n".join(failures)
