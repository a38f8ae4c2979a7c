"""RESIZE_NEAREST_NEIGHBOR (int8): the built-in runtime gives TFLM's bytes for 200 schema-built
models (random image and output sizes, up- and down-sampling, align_corners and
half_pixel_centers) and for converter-built ones (tf.image.resize, method nearest)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.modelgen import Case, _schema, convert_cases
from tests.support.opbuild import Operand, random_quantization, single_op_model
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.ops.resize import nearest_neighbor
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 4
PER_BATCH = 50


def _resize_model(shape, size, align_corners: bool, half_pixel: bool, quantization) -> bytes:
    options = _schema().ResizeNearestNeighborOptionsT()
    options.alignCorners, options.halfPixelCenters = align_corners, half_pixel
    size_operand = Operand((2,), None, np.array(size, np.int32))
    return single_op_model("RESIZE_NEAREST_NEIGHBOR", [Operand(shape, quantization), size_operand],
                           (shape[0], *size, shape[3]), quantization, options)


def _random_case(rng, index: int) -> tuple[str, bytes]:
    shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 5)))
    size = [int(max(1, round(dim * rng.choice([0.5, 1.0, 1.5, 2.0, 3.0]))))
            for dim in shape[1:3]]
    align_corners, half_pixel = [(False, False), (True, False), (False, True)][index % 3]
    data = _resize_model(shape, size, align_corners, half_pixel, random_quantization(rng))
    return (f"resize {shape} -> {size} align_corners={align_corners} "
            f"half_pixel_centers={half_pixel} [{index}]", data)


@pytest.mark.parametrize("seed", range(BATCHES))
def test_resize_models_match_tflm(seed):
    rng = np.random.default_rng(8500 + seed)
    built = [_random_case(rng, index) for index in range(PER_BATCH)]
    failures = compare_models([TFLiteModel(data, text) for text, data in built],
                              [text for text, _ in built], seed)
    assert not failures, "\n".join(failures)


def test_converter_built_resizes_match_tflm():
    import tensorflow as tf

    rng = np.random.default_rng(8600)
    cases = []
    for index in range(12):
        shape = (1, int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 4)))
        size = [int(rng.integers(1, 17)), int(rng.integers(1, 17))]
        cases.append(Case(f"resize nearest {shape} -> {size} [{index}]", shape,
                          lambda x, s=size: tf.image.resize(x, s, method="nearest")))
    models = [TFLiteModel(data, case.description)
              for case, data in zip(cases, convert_cases(cases, 0), strict=True)]
    assert all("RESIZE_NEAREST_NEIGHBOR" in model.op_names() for model in models)
    failures = compare_models(models, [case.description for case in cases], 0)
    assert not failures, "\n".join(failures)


def test_the_maps_follow_tflms_float32_arithmetic():
    # 3 -> 5 rows: scale 0.6; floor(y * 0.6) = 0, 0, 1, 1, 2.
    assert [nearest_neighbor(y, 3, 5, False, False) for y in range(5)] == [0, 0, 1, 1, 2]
    # align_corners: scale (3 - 1) / (5 - 1) = 0.5, rounded half away: 0, 1, 1, 2, 2.
    assert [nearest_neighbor(y, 3, 5, True, False) for y in range(5)] == [0, 1, 1, 2, 2]
    # half_pixel_centers: (y + 0.5) * 0.6 floored: 0, 0, 1, 2, 2.
    assert [nearest_neighbor(y, 3, 5, False, True) for y in range(5)] == [0, 0, 1, 2, 2]


def test_an_output_shape_that_is_not_the_size_is_refused():
    quantization = random_quantization(np.random.default_rng(2))
    options = _schema().ResizeNearestNeighborOptionsT()
    data = single_op_model("RESIZE_NEAREST_NEIGHBOR",
                           [Operand((1, 4, 4, 2), quantization),
                            Operand((2,), None, np.array([8, 8], np.int32))],
                           (1, 8, 6, 2), quantization, options)
    with pytest.raises(CompileError, match=r"op #0 RESIZE_NEAREST_NEIGHBOR .*output shape "
                                           r"\[1, 8, 6, 2\] is not the resized \[1, 8, 8, 2\]"):
        compile_plan(TFLiteModel(data, "resize.tflite"))
