"""LAYER_OUTPUT on the host port (docs/protocol.md): each layer of the built-in plan read back
equals TFLM's tensor, outputs larger than a reply come in pieces, and every refusal has its
status."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import FIRMWARE, MODELS_DIR, WORKSPACE
from tests.support.firmware_link import device_process
from tinyml_pipeline.tools import protocol
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.framing import DeviceError, Status
from tinyml_pipeline.tools.protocol import Request
from tinyml_pipeline.tools.reference import TFLMRunner

DIGITS = 1  # registry order: activity, digits, linear


@pytest.fixture(scope="module")
def host_firmware():
    return FIRMWARE.build("host", quiet=True)


def test_every_layer_equals_tflm(host_firmware):
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / "digits", 1)
    tflm = TFLMRunner(model, preserve_all_tensors=True)
    tflm.invoke(test.inputs[0])
    layers = compile_plan(model).layers
    with device_process([str(host_firmware)]) as (device, _):
        for step, layer in enumerate(layers):
            found = device.layer_output(DIGITS, step, test.inputs[0])
            expected = np.asarray(tflm.tensor(layer.writes[0])).reshape(-1)
            assert (found.op, found.layer_count) == (layer.op, len(layers))
            assert np.array_equal(np.frombuffer(found.data, np.int8), expected), step
        # The first layer (the convolution and max pool fused) leaves 1,352 bytes: one reply;
        # the rest of the run's output read again in pieces of 500 (offset 0 would run the
        # layers anew) is the same; the run left INFER working.
        whole = device.layer_output(DIGITS, 0, test.inputs[0]).data
        assert len(whole) == 1352
        pieces = [device.request(Request.LAYER_OUTPUT,
                                 protocol.layer_output_request(DIGITS, 0, offset, 500))
                  for offset in (500, 1000)]
        assert [(piece.total_bytes, len(piece.data)) for piece in pieces] == [(1352, 500),
                                                                               (1352, 352)]
        assert b"".join(piece.data for piece in pieces) == whole[500:]
        assert device.infer(DIGITS, test.inputs[0]).output == \
            tflm.invoke(test.inputs[0]).tobytes()


def _status(device, payload: bytes) -> Status:
    with pytest.raises(DeviceError) as error:
        device.request(Request.LAYER_OUTPUT, payload)
    return error.value.status


def test_refusals(host_firmware):
    with device_process([str(host_firmware)]) as (device, _):
        assert _status(device, protocol.layer_output_request(DIGITS, 0, 0, 10)[:-1]) == \
            Status.BAD_LENGTH
        assert _status(device, protocol.layer_output_request(9, 0, 0, 10)) == \
            Status.UNKNOWN_MODEL
        # No input written yet.
        assert _status(device, protocol.layer_output_request(DIGITS, 0, 0, 10)) == \
            Status.BAD_INPUT_LENGTH
        # Reading on before any layer ran.
        assert _status(device, protocol.layer_output_request(DIGITS, 0, 5, 10)) == \
            Status.BAD_ARGUMENT
        data = bytes(784)
        for offset, length in protocol.chunk_spans(len(data), 2000):
            piece = data[offset:offset + length]
            device.request(Request.INPUT_CHUNK, protocol.input_chunk_request(DIGITS, offset, piece))
        assert _status(device, protocol.layer_output_request(DIGITS, 6, 0, 10)) == \
            Status.BAD_ARGUMENT  # digits has layers 0 to 5 (two are fused pairs)
        device.layer_output(DIGITS, 5, data)
        assert _status(device, protocol.layer_output_request(DIGITS, 5, 10, 10)) == \
            Status.BAD_ARGUMENT  # its 10 bytes end at offset 10
        assert _status(device, protocol.layer_output_request(DIGITS, 4, 1, 10)) == \
            Status.BAD_ARGUMENT  # another layer than the one that ran
