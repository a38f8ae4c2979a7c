"""The QEMU image's batch mode (tools/qemu_batch.py, firmware/boards/qemu_mps2_an386/batch.c):
the same outputs as TFLM's host interpreter and the same instruction counts as INFER over the
protocol, split over several QEMUs; bad batches end with the image's reason; the file formats."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIRMWARE, MODELS_DIR, WORKSPACE
from tests.support.firmware_link import device_process
from tinyml_pipeline.tools import qemu, qemu_batch
from tinyml_pipeline.tools.compiler.planner import compile_plan
from tinyml_pipeline.tools.evaluate import load_test_set
from tinyml_pipeline.tools.qemu_batch import QemuBatchError, read_outputs, run_batch, write_inputs
from tinyml_pipeline.tools.reference import TFLMRunner, run_all

_missing = [tool for tool in ("arm-none-eabi-gcc", "cmake", "qemu-system-arm")
            if shutil.which(tool) is None]
needs_qemu = pytest.mark.skipif(
    bool(_missing), reason=f"{', '.join(_missing)} not installed (the QEMU image's batch mode)")

# QEMU holds back UART input for about a second after it starts.
TIMEOUT_S = 15.0
DIGITS_SAMPLES = 200
PROTOCOL_SAMPLES = (0, 1, 99, 100, 199)  # both shards' first and last


@pytest.fixture(scope="module")
def qemu_image():
    return FIRMWARE.build("qemu", quiet=True)


@pytest.fixture(scope="module")
def digits():
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / "digits", DIGITS_SAMPLES)
    inputs = test.inputs
    return model, inputs


@pytest.fixture(scope="module")
def over_protocol(qemu_image, digits):
    """The image's own model list (name -> index) and INFER's costs for a few digits samples."""
    _, inputs = digits
    with device_process(qemu.qemu_command(qemu_image), timeout=TIMEOUT_S) as (device, _):
        index = {info.name: info.index for info in device.models()}
        costs = {sample: device.infer(index["digits"], inputs[sample]).cost
                 for sample in PROTOCOL_SAMPLES}
    return index, costs


@needs_qemu
def test_digits_equal_tflm_and_cost_what_infer_reports(qemu_image, digits, over_protocol):
    model, inputs = digits
    index, protocol_costs = over_protocol
    result = run_batch(index["digits"], inputs, jobs=2, elf=qemu_image)
    expected = run_all(TFLMRunner(model), inputs).reshape(len(inputs), -1)
    assert result.outputs.dtype == np.int8
    np.testing.assert_array_equal(result.outputs, expected)
    assert {sample: int(result.costs[sample]) for sample in PROTOCOL_SAMPLES} == protocol_costs
    # 7.8125 instructions per virtual microsecond (-icount shift=7). Micros is a difference of
    # two truncated readings taken a few instructions after the cost's: within 2 us of it.
    per_micro = qemu.INSTRUCTIONS_PER_SECOND / 1e6
    assert np.all(np.abs(result.micros * per_micro - result.costs) <= 2 * per_micro)
    assert result.shard_sizes == [100, 100] and len(result.shard_wall_s) == 2
    assert 0 < result.boot_s and max(result.shard_wall_s) <= result.wall_s
    assert result.instructions == int(result.costs.sum())


@pytest.mark.slow
@needs_qemu
@pytest.mark.parametrize("name", ["activity", "linear"])
def test_whole_test_set_equals_tflm(qemu_image, over_protocol, name):
    _, model, test = load_test_set(WORKSPACE, MODELS_DIR / name)
    inputs = test.inputs
    index, _ = over_protocol
    result = run_batch(index[name], inputs, jobs=2, elf=qemu_image, measure_boot=False)
    expected = run_all(TFLMRunner(model), inputs).reshape(len(inputs), -1)
    np.testing.assert_array_equal(result.outputs, expected)
    assert result.boot_s is None and result.floor_s is None
    assert np.all(result.costs > 0)


@needs_qemu
def test_profiled_batch_keeps_the_costs_and_adds_layers_and_stack(qemu_image, digits,
                                                                   over_protocol):
    model, inputs = digits
    index, _ = over_protocol
    plain = run_batch(index["digits"], inputs[:3], elf=qemu_image, measure_boot=False)
    profiled = run_batch(index["digits"], inputs[:3], elf=qemu_image, measure_boot=False,
                         profile_layers=True)
    # The profile runs after the measured invoke: same outputs, same costs.
    np.testing.assert_array_equal(profiled.outputs, plain.outputs)
    np.testing.assert_array_equal(profiled.costs, plain.costs)
    assert plain.layer_costs is None and plain.empty_invoke is None
    layers = len(compile_plan(model).layers)
    assert profiled.layer_costs.shape == (3, layers)
    np.testing.assert_array_equal(profiled.costs.astype(np.int64),
                                  profiled.empty_invoke + profiled.layer_costs.sum(axis=1))
    for result in (plain, profiled):
        assert np.all(0 < result.invoke_stack) and np.all(
            result.invoke_stack < result.stack_high_water)


@needs_qemu
def test_unknown_flags_are_refused(qemu_image, over_protocol, tmp_path):
    index, _ = over_protocol
    write_inputs(tmp_path / qemu_batch.INPUTS_NAME, index["digits"], np.zeros((1, 784), np.int8),
                 flags=0x8000)
    shard = qemu_batch._Shard(0, tmp_path, 1)
    with pytest.raises(QemuBatchError, match=r"asks for flags this image does not know"):
        qemu_batch._wait([qemu_batch._start(shard, qemu_image)], 1.0)


@needs_qemu
def test_wrong_input_size_is_named(qemu_image, over_protocol):
    index, _ = over_protocol
    with pytest.raises(QemuBatchError,
                       match=r"status 2: batch: wrong input size: model digits takes 784 input "
                             r"bytes per sample, batch_inputs.bin has 100$"):
        run_batch(index["digits"], np.zeros((3, 100), np.int8), jobs=2, elf=qemu_image)


@needs_qemu
def test_unknown_model_is_named(qemu_image):
    with pytest.raises(QemuBatchError, match=r"unknown model 7 \(the image has 3, 0 to 2\)"):
        run_batch(7, np.zeros((1, 784), np.int8), elf=qemu_image, measure_boot=False)


@needs_qemu
def test_truncated_input_file_is_named(qemu_image, tmp_path, over_protocol):
    index, _ = over_protocol
    write_inputs(tmp_path / qemu_batch.INPUTS_NAME, index["digits"], np.zeros((2, 784), np.int8))
    with (tmp_path / qemu_batch.INPUTS_NAME).open("r+b") as stream:
        stream.truncate(20 + 784 + 5)
    shard = qemu_batch._Shard(0, tmp_path, 2)
    with pytest.raises(QemuBatchError, match=r"holds 809 bytes; its header promises 1588"):
        qemu_batch._wait([qemu_batch._start(shard, qemu_image)], 1.0)


@needs_qemu
def test_empty_batch_gives_the_output_size(qemu_image, over_protocol):
    index, _ = over_protocol
    result = run_batch(index["digits"], np.zeros((0, 28, 28, 1), np.int8), elf=qemu_image)
    assert result.outputs.shape == (0, 10) and result.costs.shape == (0,)
    assert result.boot_s == result.wall_s > 0


@needs_qemu
def test_a_shard_past_its_time_is_stopped(qemu_image, digits, over_protocol, monkeypatch):
    _, inputs = digits
    index, _ = over_protocol
    monkeypatch.setattr(qemu_batch, "BOOT_TIMEOUT_S", 0.0)
    with pytest.raises(QemuBatchError, match=r"shard 0, 200 samples\) did not finish within"):
        run_batch(index["digits"], inputs, elf=qemu_image, measure_boot=False,
                  sample_timeout_s=1e-6)


@needs_qemu
def test_workdir_is_kept(qemu_image, digits, over_protocol, tmp_path):
    _, inputs = digits
    index, _ = over_protocol
    run_batch(index["digits"], inputs[:3], jobs=2, elf=qemu_image, workdir=tmp_path,
              measure_boot=False)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["shard-0", "shard-1"]
    assert (tmp_path / "shard-1" / qemu_batch.OUTPUTS_NAME).is_file()


# ---- no QEMU needed -----------------------------------------------------------------------


def test_input_file_layout(tmp_path):
    samples = np.arange(-6, 6, dtype=np.int8).reshape(2, 3, 2)
    write_inputs(tmp_path / "in.bin", 513, samples)
    data = (tmp_path / "in.bin").read_bytes()
    assert data[:20] == b"TMLBAT1\0" + struct.pack("<HHII", 513, 0, 2, 6)
    assert data[20:] == samples.tobytes()
    write_inputs(tmp_path / "in.bin", 513, samples, qemu_batch.PROFILE_LAYERS)
    assert (tmp_path / "in.bin").read_bytes()[10:12] == struct.pack("<H", 1)


def test_output_records_with_profile_fields(tmp_path):
    # 1 output byte, cost, micros, stack high-water, invoke stack, 2 layers, empty invoke, then
    # the two layer costs and 4 bytes a later image appends.
    records = [bytes([7]) + struct.pack("<IIIIIIII", 100 + i, 1, 600, 300, 2, 40, 50 + i, 10)
               + b"more" for i in range(2)]
    record_bytes = len(records[0])
    (tmp_path / "out.bin").write_bytes(b"TMLOUT1\0" + struct.pack("<III", 2, 1, record_bytes)
                                       + b"".join(records))
    found = qemu_batch.read_records(tmp_path / "out.bin", 2)
    assert found.costs.tolist() == [100, 101] and found.stack_high_water.tolist() == [600, 600]
    assert found.invoke_stack.tolist() == [300, 300] and found.empty_invoke.tolist() == [40, 40]
    assert found.layer_costs.tolist() == [[50, 10], [51, 10]]


def test_output_records_may_grow(tmp_path):
    # Records of 16 bytes: 2 output bytes, cost, micros, and 6 bytes a later image appends.
    records = [bytes([1, 0xFF]) + struct.pack("<II", 1000, 128) + b"later!",
               bytes([2, 0x80]) + struct.pack("<II", 2000, 256) + b"later!"]
    (tmp_path / "out.bin").write_bytes(b"TMLOUT1\0" + struct.pack("<III", 2, 2, 16)
                                       + b"".join(records))
    outputs, costs, micros = read_outputs(tmp_path / "out.bin", 2)
    np.testing.assert_array_equal(outputs, np.array([[1, -1], [2, -128]], np.int8))
    assert costs.tolist() == [1000, 2000] and micros.tolist() == [128, 256]


def test_short_or_foreign_output_file_is_an_error(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"TMLOUT1\0" + struct.pack("<III", 2, 2, 10) + bytes(15))
    with pytest.raises(QemuBatchError, match="holds 15 bytes of records for 2 samples"):
        read_outputs(path, 2)
    path.write_bytes(b"TMLBAT1\0" + bytes(12))
    with pytest.raises(QemuBatchError, match="not a batch output file"):
        read_outputs(path, 0)
    with pytest.raises(QemuBatchError, match="without writing"):
        read_outputs(tmp_path / "missing.bin", 0)


def test_bad_arguments_are_input_errors():
    with pytest.raises(qemu_batch.InputError, match="int8"):
        run_batch(1, np.zeros((2, 784), np.float32), elf=Path("unused.elf"))
    with pytest.raises(qemu_batch.InputError, match="jobs"):
        run_batch(1, np.zeros((2, 784), np.int8), jobs=0, elf=Path("unused.elf"))


def test_qemu_command_for_a_batch(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/bin/{name}")
    batch_dir = tmp_path / "my batch,1"
    command = qemu.qemu_command(Path("fw.elf"), serial="null", batch_dir=batch_dir)
    assert command[command.index("-serial") + 1] == "null"
    semihosting = command[command.index("-semihosting-config") + 1]
    assert semihosting == ("enable=on,target=native,arg=tinyml-qemu,arg=batch="
                           + str(batch_dir.resolve()).replace(",", ",,"))
    with pytest.raises(ValueError, match="not both"):
        qemu.qemu_command(Path("fw.elf"), imu_replay_dir=tmp_path, batch_dir=tmp_path)
