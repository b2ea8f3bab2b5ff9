"""Load an `.ort` model so that onnxruntime can optimize it: ten times faster for Moonshine's decoder.

The `.ort` files in `moonshine-cpp` keep their weights as int8 and dequantize them in the graph (Cast, Add, Mul,
and a Transpose of the 32768 x 416 output matrix) on every run: a decoder step took ~250 ms on one core, of which
the matrix products were a tenth. onnxruntime folds such constant work away when it loads a model, but not for
`.ort` files, whose graph it takes as already optimized. So the model is loaded once as it is, written back out in
ONNX form (onnxruntime's `optimized_model_filepath`), and that is loaded again with every optimization: ~25 ms a
step, for float weights in memory (~4x the file's size).

onnxruntime writes the decoder's `If` branches as graphs without a name, which its own ONNX loader then refuses;
`name_subgraphs` gives them names by editing the protobuf wire format directly (the `onnx` package is not needed
for one field).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
from pathlib import Path

# Field numbers from onnx.proto.
MODEL_GRAPH = 7
GRAPH_NODE, GRAPH_NAME = 1, 2
NODE_ATTRIBUTE = 5
ATTRIBUTE_GRAPH, ATTRIBUTE_GRAPHS = 6, 11
LENGTH_DELIMITED = 2


def optimized_session(path: Path, options, providers: list[str]):
    """An onnxruntime session for the `.ort` model at `path`, with onnxruntime's full optimizations applied."""
    import onnxruntime

    plain = onnxruntime.SessionOptions()
    plain.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    with tempfile.TemporaryDirectory(prefix="earpiece-ort-") as folder:
        exported = Path(folder) / "model.onnx"
        plain.optimized_model_filepath = str(exported)
        onnxruntime.InferenceSession(str(path), plain, providers=providers)
        model = name_subgraphs(exported.read_bytes())
    session = onnxruntime.InferenceSession(model, options, providers=providers)
    del model
    _return_freed_memory()
    return session


def _return_freed_memory() -> None:
    """Hand the loading's freed memory back to the system: glibc keeps it otherwise, and the process looked twice
    its size (the decoder ~650 MB resident instead of ~350 MB)."""
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to do
        pass


def name_subgraphs(model: bytes) -> bytes:
    """A serialized ONNX ModelProto with every unnamed graph inside it named (the main graph is left alone)."""
    return _rewrite(model, {MODEL_GRAPH: lambda graph: _graph(graph, "main", top=True)})


def _graph(data: bytes, name: str, top: bool = False) -> bytes:
    counter = iter(range(1 << 30))
    branch = lambda graph: _graph(graph, f"{name}_branch{next(counter)}")  # noqa: E731
    nested = {GRAPH_NODE: lambda node: _rewrite(node, {NODE_ATTRIBUTE: lambda attribute: _rewrite(
        attribute, {ATTRIBUTE_GRAPH: branch, ATTRIBUTE_GRAPHS: branch})})}
    if not top:  # onnxruntime writes the field, empty (onnx.proto is proto2: a set empty string is kept)
        nested[GRAPH_NAME] = lambda old: old or name.encode()
    rewritten = _rewrite(data, nested)
    if top or any(field == GRAPH_NAME for field, _, _ in _fields(data)):
        return rewritten
    return rewritten + _key(GRAPH_NAME, LENGTH_DELIMITED) + _varint(len(name)) + name.encode()


def _rewrite(data: bytes, nested: dict) -> bytes:
    """The message with the length-delimited fields named in `nested` passed through their function."""
    if not any(field in nested for field, _, _ in _fields(data)):
        return data
    out = bytearray()
    for field, wire_type, (start, value_start, end) in _fields(data):
        if wire_type == LENGTH_DELIMITED and field in nested:
            value = nested[field](data[value_start:end])
            out += _key(field, wire_type) + _varint(len(value)) + value
        else:
            out += data[start:end]
    return bytes(out)


def _fields(data: bytes):
    """(field number, wire type, (field start, value start, end)) for each field of a protobuf message."""
    offset = 0
    while offset < len(data):
        start = offset
        key, offset = _read_varint(data, offset)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, offset = _read_varint(data, offset)
            value_start = start
        elif wire_type == 1:
            value_start, offset = offset, offset + 8
        elif wire_type == LENGTH_DELIMITED:
            length, value_start = _read_varint(data, offset)
            offset = value_start + length
        elif wire_type == 5:
            value_start, offset = offset, offset + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield field, wire_type, (start, value_start, offset)


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, offset


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)
