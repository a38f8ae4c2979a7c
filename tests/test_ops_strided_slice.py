"""STRIDED_SLICE (int8): the built-in runtime gives TFLM's bytes for 200 schema-built slices
(ranks 1 to 4, negative and out-of-range indices, negative strides, begin, end and shrink masks)
and for converter-built ones (Python slicing of a tensor)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.modelgen import Case, _schema, convert_cases
from tests.support.opbuild import Operand, random_quantization, single_op_model
from tests.support.opcheck import compare_models
from tinyml_pipeline.tools.compiler.errors import CompileError
from tinyml_pipeline.tools.compiler.ops.strided_slice import prepare_extent
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.tflite_model import TFLiteModel

BATCHES = 4
PER_BATCH = 50


def _slice_model(shape, begins, ends, strides, begin_mask, end_mask, shrink_mask,
                 quantization, output_shape=None, **extra) -> bytes:
    options = _schema().StridedSliceOptionsT()
    options.beginMask, options.endMask, options.shrinkAxisMask = begin_mask, end_mask, shrink_mask
    for field, value in extra.items():
        setattr(options, field, value)
    if output_shape is None:
        output_shape = [prepare_extent(begins[a], ends[a], strides[a], shape[a],
                                       bool(begin_mask >> a & 1), bool(end_mask >> a & 1),
                                       bool(shrink_mask >> a & 1))
                        for a in range(len(shape)) if not shrink_mask >> a & 1]
    rank = len(shape)
    operands = [Operand(tuple(shape), quantization)] + [
        Operand((rank,), None, np.array(values, np.int32)) for values in (begins, ends, strides)]
    return single_op_model("STRIDED_SLICE", operands, tuple(output_shape), quantization, options)


def _random_slice(rng) -> tuple[str, list, tuple]:
    """A slice whose output keeps at least one element on every axis, the batch of 1 too."""
    rank = int(rng.integers(1, 5))
    shape = [1] + [int(rng.integers(1, 8)) for _ in range(rank - 1)]
    while True:
        begins, ends, strides = [], [], []
        for size in shape:
            stride = int(rng.choice([1, 1, 2, 3, -1, -2]))
            begins.append(int(rng.integers(-size - 2, size + 3)))
            ends.append(int(rng.integers(-size - 2, size + 3)))
            strides.append(stride)
        begin_mask = int(rng.integers(0, 1 << rank))
        end_mask = int(rng.integers(0, 1 << rank))
        # Never the batch axis: the harness reads outputs with their leading batch of 1.
        shrink_mask = int(rng.integers(0, 1 << rank)) & ~1 if rng.random() < 0.3 else 0
        extents = [prepare_extent(begins[a], ends[a], strides[a], shape[a],
                                  bool(begin_mask >> a & 1), bool(end_mask >> a & 1),
                                  bool(shrink_mask >> a & 1)) for a in range(rank)]
        kept = [extent for a, extent in enumerate(extents) if not shrink_mask >> a & 1]
        # Every axis must keep an element (a shrunk one too).
        if all(extents):
            break
    text = (f"slice {shape} begin {begins} end {ends} strides {strides} masks "
            f"{begin_mask}/{end_mask}/{shrink_mask}")
    return text, [shape, begins, ends, strides, begin_mask, end_mask, shrink_mask], kept


@pytest.mark.parametrize("seed", range(BATCHES))
def test_strided_slice_models_match_tflm(seed):
    rng = np.random.default_rng(8700 + seed)
    built, walks_nothing = [], 0
    while len(built) < PER_BATCH:
        text, arguments, _ = _random_slice(rng)
        data = _slice_model(*arguments, quantization=random_quantization(rng))
        try:
            compile_plan(TFLiteModel(data, text))
        except CompileError as error:
            # A shrunk axis whose begin lies past its end: TFLM's Prepare sizes it 1, its Eval
            # copies nothing; the converter refuses it.
            assert "the slice walks 0 elements" in str(error), error
            walks_nothing += 1
            continue
        built.append((f"{text} [{len(built)}]", data))
    assert walks_nothing < PER_BATCH // 5
    failures = compare_models([TFLiteModel(data, text) for text, data in built],
                              [text for text, _ in built], seed)
    assert not failures, "\n".join(failures)


def test_converter_built_slices_match_tflm():
    cases = [Case("x[:, 1:3]", (1, 5, 4), lambda x: x[:, 1:3] * 1.5),
             Case("x[:, ::2, 1:]", (1, 6, 4, 3), lambda x: x[:, ::2, 1:] * 1.5),
             Case("x[:, ::-1]", (1, 7, 2), lambda x: x[:, ::-1] * 1.5),
             Case("x[:, 2]", (1, 5, 3), lambda x: x[:, 2] * 1.5),
             Case("x[:, -3:-1, :, 1:2]", (1, 5, 2, 4), lambda x: x[:, -3:-1, :, 1:2] * 1.5)]
    models = [TFLiteModel(data, case.description)
              for case, data in zip(cases, convert_cases(cases, 0), strict=True)]
    assert all("STRIDED_SLICE" in model.op_names() for model in models), \
        [model.op_names() for model in models]
    failures = compare_models(models, [case.description for case in cases], 0)
    assert not failures, "\n".join(failures)


def test_a_zero_stride_and_an_ellipsis_are_refused():
    quantization = random_quantization(np.random.default_rng(3))
    zero = _slice_model([1, 4], [0, 0], [1, 4], [1, 0], 0, 0, 0, quantization,
                        output_shape=(1, 4))
    with pytest.raises(CompileError, match=r"op #0 STRIDED_SLICE .*strides \[1, 0\] hold a zero"):
        compile_plan(TFLiteModel(zero, "zero.tflite"))
    ellipsis = _slice_model([1, 4], [0, 0], [1, 4], [1, 1], 0, 0, 0, quantization,
                            ellipsisMask=1)
    with pytest.raises(CompileError, match=r"ellipsisMask 1 is not supported"):
        compile_plan(TFLiteModel(ellipsis, "ellipsis.tflite"))


def test_an_output_shape_the_slice_does_not_give_is_refused():
    quantization = random_quantization(np.random.default_rng(4))
    wrong = _slice_model([1, 6], [0, 1], [1, 5], [1, 2], 0, 0, 0, quantization,
                         output_shape=(1, 3))
    with pytest.raises(CompileError, match=r"output shape \[1, 3\] is not the sliced \[1, 2\]"):
        compile_plan(TFLiteModel(wrong, "wrong.tflite"))
