"""`tinyml quantize`: a user's float model (Keras `.keras`/`.h5`, or a SavedModel directory) to
the int8 model the firmware runs, calibrated on a fixed, recorded subset of the user's samples,
with the same card trained models have."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyml_pipeline.tools import testset
from tinyml_pipeline.tools.atomic import atomic_write_bytes
from tinyml_pipeline.tools.card import ModelCard, write_card
from tinyml_pipeline.tools.describe_model import (
    FLOAT_MODEL_FILE,
    MODEL_FILE,
    Description,
    build_card,
)
from tinyml_pipeline.tools.errors import InputError
from tinyml_pipeline.tools.tflite_model import TFLiteModel
from tinyml_pipeline.tools.workspace import Workspace, shown
from tinyml_pipeline.training.quantize import (
    batch_one_converter,
    calibration_indices,
    convert_int8,
    run_converter,
)

# "auto": one scale per dense layer, because the board's TFLite Micro backend computes only that
# exactly (docs/compiler.md); the built-in runtime takes either, so "no" suits a built-in-only
# firmware.
DENSE_CHOICES = ("auto", "yes", "no")


@dataclass(frozen=True)
class QuantizeOptions:
    source: Path
    calibration: Path
    out: Path
    description: Description
    per_tensor_dense: str = "auto"
    calibration_count: int = 256
    seed: int = 0


def _log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def check_source(source: Path) -> str:
    """What kind of model `source` is, refusing what cannot be quantized here in one line."""
    source = Path(source)
    if source.is_dir():
        if not (source / "saved_model.pb").is_file():
            raise InputError(f"{shown(source)} is a directory without saved_model.pb: give a "
                             "SavedModel directory, a .keras or a .h5 file")
        return "saved_model"
    if not source.is_file():
        raise InputError(f"{shown(source)} is missing")
    if source.suffix in (".keras", ".h5", ".hdf5"):
        return "keras"
    if source.suffix == ".tflite":
        model = TFLiteModel.from_file(source)
        if all(tensor.type_name == "INT8" for tensor in (*model.inputs, *model.outputs)):
            raise InputError(f"{shown(source)} is already int8: describe it with `tinyml card "
                             f"{shown(source)} --test FILE --out DIR` instead")
        raise InputError(f"{shown(source)} is a float .tflite: the TFLite converter quantizes "
                         "only from the model it converts, so give the Keras file or "
                         "SavedModel it was made from")
    raise InputError(f"{shown(source)}: not a Keras model (.keras, .h5) or SavedModel directory")


def _load_keras(source: Path):
    """tf_keras reads .h5 and its own .keras; a Keras 3 .keras needs Keras 3's loader."""
    import tf_keras

    try:
        return tf_keras.models.load_model(source, compile=False)
    except Exception as first:  # noqa: BLE001 - any loader failure: try the other Keras
        try:
            import keras

            return keras.models.load_model(source, compile=False)
        except Exception:  # noqa: BLE001
            raise InputError(f"{shown(source)}: Keras cannot load it "
                             f"({type(first).__name__}: {str(first).splitlines()[0][:200]})"
                             ) from None


def _converter(kind: str, source: Path):
    """A fresh converter of the float model (the TFLite converter is used once), and the
    Keras model's input shape (None for a SavedModel: its signature has it)."""
    import tensorflow as tf

    if kind == "saved_model":
        return tf.lite.TFLiteConverter.from_saved_model(str(source)), None
    model = _load_keras(source)
    return batch_one_converter(model), tuple(model.input_shape[1:])


def _convert(converter, calibration: np.ndarray | None, per_tensor_dense: bool) -> bytes:
    try:
        if calibration is None:
            return run_converter(converter)
        return convert_int8(converter, calibration, per_tensor_dense)
    except InputError:
        raise
    except Exception as error:  # noqa: BLE001 - the converter's own message, in one line
        text = str(error).strip().splitlines()
        raise InputError(f"the TFLite converter failed: {text[0] if text else error}"
                         f"{' (' + text[-1] + ')' if len(text) > 1 else ''}") from None


def quantize(options: QuantizeOptions, workspace: Workspace) -> ModelCard:
    """Quantize, score and describe; writes model.tflite, model_float.tflite and card.json (last)
    into options.out."""
    kind = check_source(options.source)
    started = time.monotonic()
    calibration_file = testset.locate(options.calibration)["x"]
    # The header first, so a bad file is refused before TensorFlow works; the data once the
    # model's input size is known, checked against it.
    available = testset.array_header(*calibration_file)[0][0]
    if not available:
        raise InputError(f"{shown(options.calibration)}: no calibration samples")
    chosen = calibration_indices(available, options.seed, options.calibration_count)
    _log(f"[{options.description.name}] loading {shown(options.source)}")
    float_converter, shape = _converter(kind, options.source)
    float_bytes = _convert(float_converter, None, False)
    float_model = TFLiteModel(float_bytes, f"{options.description.name} float model")
    shape = shape or tuple(float_model.inputs[0].shape[1:])
    pool = testset.read_array(*calibration_file,
                              per_sample=testset.sample_size((1, *shape)))[chosen]
    pool = pool.astype(np.float32)
    if options.description.divide_by:
        pool = pool / np.float32(options.description.divide_by)
    samples = testset.shaped_for(pool, (1, *shape), shown(options.calibration))
    per_tensor = options.per_tensor_dense in ("auto", "yes")
    _log(f"[{options.description.name}] quantizing to int8 with {len(chosen)} calibration "
         f"samples of {available}")
    int8_converter, _ = _converter(kind, options.source)
    int8_bytes = _convert(int8_converter, samples, per_tensor)
    model = TFLiteModel(int8_bytes, f"{options.description.name} int8 model")
    model.require_int8_io()
    out = Path(options.out)
    weights = {"convolutions": "per-channel",
               "dense": "per-tensor" if per_tensor else "per-channel",
               "chosen": options.per_tensor_dense,
               "why": "per-tensor dense layers are what the board's TFLite Micro computes "
                      "exactly; the built-in runtime takes either (docs/compiler.md)"}
    calibration = {"source": workspace.relative(Path(calibration_file[0]).resolve()),
                   "sha256": testset.describe_file(calibration_file[0], workspace,
                                                   calibration_file[1])["sha256"],
                   "key": calibration_file[1], "count": len(chosen), "of": int(available),
                   "seed": options.seed, "indices": chosen}
    training = {"source": shown(options.source), "format": kind,
                "quantize_seconds": round(time.monotonic() - started, 1), "seed": options.seed}
    card = build_card(model, options.description, out, workspace, float_model=float_model,
                      training=training, calibration=calibration, weight_quantization=weights)
    # Written only once the card is made (TFLM has run the model): a directory with a card
    # always holds the model it describes, and a failure leaves no model behind.
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / MODEL_FILE, int8_bytes)
    atomic_write_bytes(out / FLOAT_MODEL_FILE, float_bytes)
    write_card(out, card)
    return card
