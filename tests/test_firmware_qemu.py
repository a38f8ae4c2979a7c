"""The QEMU mps2-an386 image (Cortex-M4F, built-in runtime) over its emulated UART: hello, one
inference per model equal to TFLM's host output, a deterministic cost counter, the IMU live mode
on a replayed stream, and `tinyml firmware size` on the image."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.conftest import COMMITTED_MODELS, FIRMWARE, MODELS_DIR, WORKSPACE
from tests.support.firmware_link import committed_sha256, device_process, first_test_input
from tinyml_pipeline.tools import qemu
from tinyml_pipeline.tools.cli import main
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.imu_replay import series_stream, write_replay
from tinyml_pipeline.tools.protocol import StreamEndReason
from tinyml_pipeline.tools.reference import TFLMRunner, run_all

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm")),
    reason="arm-none-eabi-gcc, cmake and qemu-system-arm are needed for the QEMU image")

MODEL_INDEX = {name: index for index, name in enumerate(sorted(COMMITTED_MODELS))}
# QEMU holds back UART input for about a second after it starts.
TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def qemu_image():
    return FIRMWARE.build("qemu", quiet=True)


def test_hello_and_models(qemu_image):
    with device_process(qemu.qemu_command(qemu_image), timeout=TIMEOUT_S) as (device, _):
        hello = device.hello()
        models = device.models(hello.model_count)
    assert (hello.board, hello.backend, hello.cost_unit) == ("qemu-mps2-an386", "builtin",
                                                             "instructions")
    assert (hello.cost_hz, hello.cpu_hz) == (qemu.INSTRUCTIONS_PER_SECOND, 25_000_000)
    assert [m.name for m in models] == sorted(COMMITTED_MODELS)
    assert all(m.sha256 == committed_sha256(m.name) for m in models)


def test_one_inference_per_model_equals_tflm_and_its_cost_repeats(qemu_image):
    costs = []
    for _ in range(2):  # two boots
        with device_process(qemu.qemu_command(qemu_image), timeout=TIMEOUT_S) as (device, _):
            boot = {}
            for name in COMMITTED_MODELS:
                sample, expected = first_test_input(name)
                first = device.infer(MODEL_INDEX[name], sample)
                again = device.infer(MODEL_INDEX[name], sample)
                assert first.output == expected.tobytes(), name
                assert again.output == first.output
                assert again.cost == first.cost, "the instruction count must be deterministic"
                boot[name] = first.cost
            costs.append(boot)
    assert costs[0] == costs[1]
    assert costs[0]["linear"] < costs[0]["activity"] < costs[0]["digits"]


def test_live_mode_on_a_replayed_stream(qemu_image, tmp_path):
    series = 3
    card, model, test = load_test_set(WORKSPACE, MODELS_DIR / "activity", limit=series)
    inputs = test.inputs
    write_replay(tmp_path / qemu.IMU_REPLAY_NAME, series_stream(test.raw_x[:series]),
                 card.sample_rate_hz)
    expected = run_all(TFLMRunner(model), inputs).reshape(series, -1)
    argv = qemu.qemu_command(qemu_image, imu_replay_dir=tmp_path)
    with device_process(argv, timeout=TIMEOUT_S) as (device, _):
        assert device.hello().has_imu
        device.live_start(MODEL_INDEX["activity"], hop=100)
        results = [device.next_event(timeout=TIMEOUT_S) for _ in range(series)]
        end = device.next_event(timeout=TIMEOUT_S)
    outputs = np.array([np.frombuffer(r.output, np.int8) for r in results])
    np.testing.assert_array_equal(outputs, expected)
    assert end.reason == StreamEndReason.IMU_ENDED


def test_firmware_size_reports_flash_and_ram(qemu_image, capsys):
    assert main(["firmware", "size", str(qemu_image), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 20_000 < report["flash_bytes"] < 1_000_000
    assert 8_000 < report["ram_bytes"] < 256 * 1024
