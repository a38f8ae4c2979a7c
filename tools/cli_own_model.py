"""The CLI's commands for a user's own model: `tinyml quantize` (a float Keras model or
SavedModel to int8, with its card) and `tinyml card` (a card for an int8 .tflite made
elsewhere). Both write a model directory that convert, validate and bench take like a trained
one."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyml_pipeline.tools.workspace import shown


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _description_options(parser) -> None:
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="the model directory to write (its name is the model's name unless "
                             "--name is given), e.g. models/mymodel")
    parser.add_argument("--test", type=Path, metavar="FILE",
                        help="the test set: an .npz with x (and y: class indices or expected "
                             "values), or an x .npy with NAME_y.npy beside it")
    parser.add_argument("--labels", type=Path, metavar="FILE",
                        help="class names, one per line (makes the task a classification)")
    parser.add_argument("--kind", choices=("classification", "regression", "tensors"),
                        help="the task (default: classification with --labels or integer y, "
                             "regression with float y, tensors without y)")
    parser.add_argument("--divide-by", type=_positive_float, metavar="D",
                        help="the stored inputs are divided by D before quantization (255 for "
                             "raw 8-bit pixels); recorded in the card")
    parser.add_argument("--name", help="the model's name in the firmware (a lowercase C "
                                       "identifier; default: the --out directory's name)")


def _description(args):
    from tinyml_pipeline.tools.describe_model import Description, read_labels

    return Description(name=args.name or Path(args.out).resolve().name, test=args.test,
                       labels=read_labels(args.labels) if args.labels else None,
                       kind=args.kind, divide_by=args.divide_by,
                       architecture=Path(args.model).name)


def add_quantize(commands) -> None:
    from tinyml_pipeline.training.quantize_own import DENSE_CHOICES

    parser = commands.add_parser(
        "quantize", help="quantize your own float model to int8, with its card",
        description="Full-integer int8 (int8 input and output) from a Keras model (.keras, .h5) "
                    "or a SavedModel directory, calibrated on a fixed subset of --calibration "
                    "(256 samples, recorded in the card). Convolutions per channel; dense layers "
                    "per tensor by default, which the board's TFLite Micro needs. Writes "
                    "model.tflite, model_float.tflite and card.json into --out; with --test, "
                    "the card holds the float and int8 results on it.")
    parser.add_argument("model", type=Path, help="a .keras or .h5 file, or a SavedModel dir")
    parser.add_argument("--calibration", type=Path, required=True, metavar="FILE",
                        help="representative inputs: an .npz with x, or an .npy")
    parser.add_argument("--per-tensor-dense", choices=DENSE_CHOICES, default="auto",
                        help="one weight scale per dense layer (auto = yes: what the board's "
                             "TFLite Micro computes exactly; no suits the built-in runtime only)")
    parser.add_argument("--seed", type=int, default=0, help="picks the calibration subset")
    _description_options(parser)
    parser.set_defaults(handler=_run_quantize)


def _run_quantize(args, parser) -> int:
    from tinyml_pipeline.training.quantize_own import QuantizeOptions, check_source, quantize

    check_source(args.model)  # before TensorFlow's import, which takes seconds
    options = QuantizeOptions(source=args.model, calibration=args.calibration, out=args.out,
                              description=_description(args),
                              per_tensor_dense=args.per_tensor_dense, seed=args.seed)
    from tinyml_pipeline.tools.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    card = quantize(options, args.workspace)
    print(card_summary(card, shown(args.out)))
    return 0


def add_card(commands) -> None:
    parser = commands.add_parser(
        "card", help="write a card for an int8 .tflite made elsewhere",
        description="Copy an int8 .tflite into --out as model.tflite and write its card.json: "
                    "tensors, ops, MACs, TFLM's arena, and the test set with its sha256 and "
                    "the int8 results on it, so that convert, validate and bench take it.")
    parser.add_argument("model", type=Path, help="an int8 .tflite (int8 input and output)")
    _description_options(parser)
    parser.set_defaults(handler=_run_card)


def _run_card(args, parser) -> int:
    from tinyml_pipeline.tools.describe_model import describe_tflite

    card = describe_tflite(args.model, _description(args), args.out, args.workspace)
    print(card_summary(card, shown(args.out)))
    return 0


def card_summary(card, out: str) -> str:
    int8 = card.test.get("int8") or {}
    if "accuracy" in int8:
        quality = f"int8 accuracy {int8['accuracy']:.2%}"
        if "accuracy" in card.test.get("float", {}):
            quality += f" (float {card.test['float']['accuracy']:.2%})"
    elif "mean_abs_error" in int8:
        quality = f"int8 MAE {int8['mean_abs_error']:.4g}, RMSE {int8['rmse']:.4g}"
    else:
        quality = "no expected outputs in the test set"
    versus = card.test.get("int8_vs_float")
    if versus:
        quality += (f"; int8 vs float: cosine {versus['cosine_similarity']:.5f}, "
                    f"RMSE {versus['rmse']:.4g}")
    count = card.test_set.get("count") or 0
    return (f"{card.name} ({card.task['kind']}) -> {out}: {card.model['bytes']:,} bytes, "
            f"{card.macs:,} MACs, TFLM arena {card.tflm_arena_bytes:,} bytes; "
            f"{count} test samples: {quality}")
