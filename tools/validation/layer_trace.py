"""Where a device first departs from TFLM: for one sample, each layer of the built-in runtime's
plan is read back from the device (LAYER_OUTPUT) and compared with the same tensor of TFLM's
host run, in execution order; the first that differs is named with its op and the largest
difference. A TFLM image answers UNSUPPORTED, which is reported as such."""

from __future__ import annotations

import numpy as np

from tinyml_pipeline.tools.framing import DeviceError, Status


def _plan_layers(model) -> list[tuple[str, int, int]]:
    """(op, op index, output tensor) of each layer, as `tinyml convert` compiled the plan the
    device holds (same .tflite, same compiler: the sha256 check has matched the model)."""
    from tinyml_pipeline.tools.compiler.planner import compile_plan

    return [(layer.op, layer.op_index, layer.writes[0]) for layer in compile_plan(model).layers]


def first_differing_layer(device, backend: str, model_index: int, model, sample: np.ndarray,
                          sample_index: int) -> dict:
    """The trace of one sample: {"sample", "status": "differs" | "same" | "unsupported", and
    for "differs" the layer, op, op_index, tensor name, max_lsb and differing values}."""
    from tinyml_pipeline.tools.reference import TFLMRunner

    tflm = TFLMRunner(model, preserve_all_tensors=True)
    tflm.invoke(sample)
    layers = _plan_layers(model)
    for step, (op, op_index, tensor) in enumerate(layers):
        try:
            found = device.layer_output(model_index, step, sample)
        except DeviceError as error:
            if error.status == Status.UNSUPPORTED:
                return {"sample": sample_index, "status": "unsupported",
                        "reason": f"the {backend} runtime does not report "
                                  "per-layer outputs"}
            raise
        if found.op != op:
            return {"sample": sample_index, "status": "plan mismatch",
                    "reason": f"layer {step} is {found.op} on the device, {op} in the plan "
                              "compiled here (a different converter version built the image)"}
        expected = np.asarray(tflm.tensor(tensor)).reshape(-1)
        ours = np.frombuffer(found.data, expected.dtype)
        if ours.size != expected.size:
            return {"sample": sample_index, "status": "plan mismatch",
                    "reason": f"layer {step} ({op}) has {ours.size} values on the device, "
                              f"{expected.size} in TFLM"}
        gap = np.abs(ours.astype(np.int64) - expected.astype(np.int64))
        if gap.any():
            return {"sample": sample_index, "status": "differs", "layer": step, "op": op,
                    "op_index": op_index, "tensor": model.tensor(tensor).name,
                    "max_lsb": int(gap.max()), "differing_values": int(np.count_nonzero(gap)),
                    "values": int(gap.size), "layers": len(layers)}
    return {"sample": sample_index, "status": "same", "layers": len(layers)}


def summary_line(trace: dict) -> str:
    if trace["status"] == "differs":
        return (f"  first differing layer {trace['layer']} of {trace['layers']}: {trace['op']} "
                f"(op #{trace['op_index']}, output '{trace['tensor']}'), up to "
                f"{trace['max_lsb']} LSB in {trace['differing_values']} of {trace['values']} "
                f"values (sample {trace['sample']})")
    if trace["status"] == "same":
        return (f"  layer trace of sample {trace['sample']}: all {trace['layers']} layers equal "
                "TFLM's (the difference is in the output copy or the link)")
    return f"  layer trace of sample {trace['sample']}: {trace['status']}: {trace['reason']}"
