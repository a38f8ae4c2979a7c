"""A seeded mutator of .tflite models: byte-level damage (bit flips, interesting integers and
floats, shifted flatbuffer offsets, truncations) and structure-aware edits made through the schema's
object API (shapes, types, buffers, scales, zero points, indices, opcodes, options, constant
values), which keep the flatbuffer well-formed so the mutant reaches the deeper checks.

Everything random comes from the `random.Random` passed in, so a seed reproduces a campaign.
"""

from __future__ import annotations

import math
import random
import struct

import numpy as np

INTERESTING_INTS = (0, 1, -1, 2, 3, 4, 7, 8, 16, 127, 128, 255, 256, -128, -129, 32767, -32768,
                    65535, 65536, (1 << 31) - 1, -(1 << 31), (1 << 32) - 1, 1 << 40)
INTERESTING_FLOATS = (0.0, -0.0, -1.0, 1.0, math.inf, -math.inf, math.nan, 1.401298464324817e-45,
                      1.1754943508222875e-38, 1e-30, 1e-10, 1e10, 3.4028234663852886e38)
DIMENSIONS = (0, -1, 1, 2, 3, 7, 65536, (1 << 31) - 1, -(1 << 31))
ZERO_POINTS = (-129, 128, 255, 256, -(1 << 31), 1 << 40, -(1 << 57), 0, -128, 127, 1)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


# ---- byte level ------------------------------------------------------------------------------

def flip_bits(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)


def write_integer(data: bytearray, rng: random.Random) -> None:
    width = rng.choice((1, 2, 4, 4, 4, 8))
    if len(data) < width:
        return
    position = rng.randrange(0, len(data) - width + 1)
    if rng.random() < 0.7:
        position -= position % width  # flatbuffer scalars are aligned
    value = rng.choice(INTERESTING_INTS) % (1 << (8 * width))
    data[position:position + width] = value.to_bytes(width, "little")


def write_float(data: bytearray, rng: random.Random) -> None:
    if len(data) < 4:
        return
    position = rng.randrange(0, len(data) - 3) & ~3
    data[position:position + 4] = struct.pack("<f", rng.choice(INTERESTING_FLOATS))


def shift_offset(data: bytearray, rng: random.Random) -> None:
    """A uint32 (flatbuffer offsets and vector lengths are these) moved by a little or a lot."""
    if len(data) < 8:
        return
    position = rng.randrange(0, len(data) - 3) & ~3
    value = int.from_bytes(data[position:position + 4], "little")
    delta = rng.choice((-8, -4, -1, 1, 4, 8, 16, 1 << 12, 1 << 20, 1 << 30))
    data[position:position + 4] = ((value + delta) % (1 << 32)).to_bytes(4, "little")


def truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data)):]


BYTE_MUTATIONS = (flip_bits, write_integer, write_float, shift_offset, truncate)


# ---- structure-aware -------------------------------------------------------------------------

def _tensor(model, rng):
    tensors = model.subgraphs[0].tensors or []
    return rng.choice(tensors) if tensors else None


def _op(model, rng):
    ops = model.subgraphs[0].operators or []
    return rng.choice(ops) if ops else None


def mutate_shape(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is None:
        return
    shape = [int(d) for d in (tensor.shape if tensor.shape is not None else [])]
    choice = rng.random()
    if shape and choice < 0.7:
        axis = rng.randrange(len(shape))
        if rng.random() < 0.5:
            shape[axis] = rng.choice(DIMENSIONS)
        else:  # a plausible size: the kind of change only an op's shape check catches
            shape[axis] = max(1, shape[axis] + rng.choice((-1, 1, shape[axis])))
    elif shape and choice < 0.85:
        del shape[rng.randrange(len(shape))]
    else:
        shape.insert(rng.randrange(len(shape) + 1), rng.choice((1, 1, 2, 0)))
    tensor.shape = shape


def mutate_type(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is not None:
        tensor.type = rng.choice((rng.randrange(0, 24), 9, 7, 2, 0, 3, 127))


def mutate_buffer_index(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is not None:
        count = len(model.buffers or [])
        tensor.buffer = rng.choice((0, count, count + 5, rng.randrange(max(count, 1)),
                                    (1 << 32) - 1))


def mutate_scale(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is None or tensor.quantization is None or tensor.quantization.scale is None:
        return
    scales = [float(s) for s in tensor.quantization.scale]
    if not scales:
        return
    choice = rng.random()
    if choice < 0.6:
        scales[rng.randrange(len(scales))] = rng.choice(INTERESTING_FLOATS)
    elif choice < 0.8:
        index = rng.randrange(len(scales))
        scales[index] *= rng.choice((1e-6, 0.5, 2.0, 1e6))
    elif choice < 0.9:
        scales.append(scales[0])
    else:
        scales = scales[:-1]
    tensor.quantization.scale = scales


def mutate_zero_point(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is None or tensor.quantization is None or tensor.quantization.zeroPoint is None:
        return
    zeros = [int(z) for z in tensor.quantization.zeroPoint]
    if not zeros:
        return
    if rng.random() < 0.85:
        zeros[rng.randrange(len(zeros))] = rng.choice(ZERO_POINTS)
    else:
        zeros = zeros[:-1] if rng.random() < 0.5 else zeros + [0]
    tensor.quantization.zeroPoint = zeros


def mutate_quantization(model, rng: random.Random, schema) -> None:
    tensor = _tensor(model, rng)
    if tensor is None:
        return
    choice = rng.random()
    if choice < 0.4 and tensor.quantization is not None:
        tensor.quantization.quantizedDimension = rng.choice((-1, 1, 2, 3, 4, 7))
    elif choice < 0.7:
        tensor.quantization = None
    else:  # per-channel parameters where a tensor had one pair
        quant = schema.QuantizationParametersT()
        count = rng.choice((2, 3, 4, 8))
        quant.scale = [rng.choice((0.01, 0.1, 1.0))] * count
        quant.zeroPoint = [0] * count
        quant.quantizedDimension = rng.randrange(4)
        tensor.quantization = quant


def mutate_op_tensors(model, rng: random.Random, schema) -> None:
    op = _op(model, rng)
    if op is None:
        return
    count = len(model.subgraphs[0].tensors or [])
    field = "inputs" if rng.random() < 0.6 else "outputs"
    values = [int(v) for v in (getattr(op, field) if getattr(op, field) is not None else [])]
    choice = rng.random()
    if values and choice < 0.7:
        values[rng.randrange(len(values))] = rng.choice(
            (-1, count, count + 100, rng.randrange(max(count, 1)), (1 << 31) - 1))
    elif values and choice < 0.85:
        del values[rng.randrange(len(values))]
    else:
        values.append(rng.randrange(-1, max(count, 1)))
    setattr(op, field, values)


def mutate_opcode(model, rng: random.Random, schema) -> None:
    choice = rng.random()
    if choice < 0.4:
        op = _op(model, rng)
        if op is not None:
            op.opcodeIndex = rng.choice((len(model.operatorCodes or []), 1 << 20,
                                         rng.randrange(max(len(model.operatorCodes or []), 1))))
        return
    codes = model.operatorCodes or []
    if codes:
        code = rng.choice(codes)
        supported = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D",
                     "AVERAGE_POOL_2D", "SOFTMAX", "RESHAPE", "ADD", "MUL", "MEAN", "PAD",
                     "CONCATENATION", "RELU", "RELU6", "LOGISTIC", "TANH", "QUANTIZE",
                     "DEQUANTIZE", "SQUEEZE", "EXPAND_DIMS", "PADV2")
        value = (getattr(schema.BuiltinOperator, rng.choice(supported)) if choice < 0.9
                 else rng.randrange(0, 300))
        code.builtinCode = value
        code.deprecatedBuiltinCode = min(value, 127)


def mutate_options(model, rng: random.Random, schema) -> None:
    op = _op(model, rng)
    if op is None:
        return
    options = op.builtinOptions
    fields = [name for name in vars(options)] if options is not None else []
    if fields and rng.random() < 0.7:
        name = rng.choice(fields)
        current = getattr(options, name)
        if isinstance(current, bool):
            setattr(options, name, not current)
        elif isinstance(current, int):
            setattr(options, name, rng.choice((0, -1, 2, 3, 5, 6, 127, 1 << 20, current + 1)))
        elif isinstance(current, float):
            setattr(options, name, rng.choice(INTERESTING_FLOATS))
        return
    names = [n for n in vars(schema.BuiltinOptions) if not n.startswith("_") and n != "NONE"]
    if rng.random() < 0.2:
        op.builtinOptionsType, op.builtinOptions = 0, None
        return
    name = rng.choice(names)
    op.builtinOptionsType = getattr(schema.BuiltinOptions, name)
    op.builtinOptions = getattr(schema, f"{name}T")()


def mutate_io(model, rng: random.Random, schema) -> None:
    graph = model.subgraphs[0]
    count = len(graph.tensors or [])
    field = "inputs" if rng.random() < 0.5 else "outputs"
    values = [int(v) for v in (getattr(graph, field) if getattr(graph, field) is not None else [])]
    if values and rng.random() < 0.7:
        values[rng.randrange(len(values))] = rng.choice((-1, count, rng.randrange(max(count, 1))))
    elif values and rng.random() < 0.5:
        values = []
    else:
        values.append(rng.randrange(max(count, 1)))
    setattr(graph, field, values)


def mutate_constant(model, rng: random.Random, schema) -> None:
    """Extreme constant values (an INT32_MIN bias, saturated weights) or a resized buffer."""
    buffers = [b for b in (model.buffers or []) if b.data is not None and len(b.data) > 0]
    if not buffers:
        return
    buffer = rng.choice(buffers)
    data = bytearray(np.asarray(buffer.data, dtype=np.uint8).tobytes())
    choice = rng.random()
    if choice < 0.6:
        width = rng.choice((1, 4, 4))
        for _ in range(rng.randint(1, 8)):
            if len(data) < width:
                break
            position = rng.randrange(0, len(data) - width + 1) // width * width
            value = rng.choice(INTERESTING_INTS) % (1 << (8 * width))
            data[position:position + width] = value.to_bytes(width, "little")
    elif choice < 0.8:
        data = data[:rng.randrange(len(data))]
    else:
        data += bytes(rng.choice((1, 4, 16)))
    buffer.data = np.frombuffer(bytes(data), dtype=np.uint8)


STRUCTURE_MUTATIONS = (mutate_shape, mutate_shape, mutate_type, mutate_buffer_index,
                       mutate_scale, mutate_scale, mutate_zero_point, mutate_quantization,
                       mutate_op_tensors, mutate_op_tensors, mutate_opcode, mutate_options,
                       mutate_options, mutate_io, mutate_constant, mutate_constant)


def pack(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def mutate(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One mutant of `seed` and a short description of what was done to it."""
    if rng.random() >= 0.35:
        for _ in range(4):  # an edit the packer cannot write (a value too wide) is retried
            mutant = _mutate_structure(seed, rng)
            if mutant is not None:
                return mutant
    return _mutate_bytes(seed, rng)


def _mutate_bytes(seed: bytes, rng: random.Random) -> tuple[bytes, str]:
    data = bytearray(seed)
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not data:
            break
        mutation = rng.choice(BYTE_MUTATIONS)
        mutation(data, rng)
        names.append(mutation.__name__)
    return bytes(data), "+".join(names)


def _mutate_structure(seed: bytes, rng: random.Random) -> tuple[bytes, str] | None:
    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(seed, 0))
    names = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        mutation = rng.choice(STRUCTURE_MUTATIONS)
        mutation(model, rng, schema)
        names.append(mutation.__name__)
    try:
        return pack(model), "+".join(names)
    except (struct.error, OverflowError, TypeError, ValueError):
        return None
