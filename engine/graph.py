"""What an ONNX file declares, read without loading it: IR version, opsets, inputs and outputs.

A model file is a protobuf ``ModelProto``; its weights are almost all of its bytes. This reads
the few top-level fields and the graph's inputs and outputs and seeks over everything else, so a
1.7 GB tower is described in milliseconds without importing ``onnx``. :func:`runtime_refusal`
then asks the installed onnxruntime whether it reads that IR version and those opsets, on a
one-node graph that carries the same header, so "too new for this onnxruntime" is said in so many
words before any session is made (onnxruntime's own message for a whole tower is otherwise taken
for a damaged file).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5
# ModelProto, GraphProto, ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto fields
M_IR, M_GRAPH, M_OPSET = 1, 7, 8
G_INPUT, G_OUTPUT = 11, 12


class GraphFormatError(ValueError):
    """The file is not a readable ONNX model."""


@dataclass(frozen=True)
class Port:
    name: str
    elem_type: int | None = None
    shape: tuple[int | str | None, ...] | None = None
    """Each dimension: a fixed size, a symbolic name, or None when unknown."""


@dataclass
class GraphInfo:
    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    inputs: list[Port] = field(default_factory=list)
    outputs: list[Port] = field(default_factory=list)

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    @property
    def output_names(self) -> list[str]:
        return [p.name for p in self.outputs]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise GraphFormatError("a number runs past the end of its field")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of a message held in memory."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire == BYTES:
            size, at = _varint(data, at)
            if at + size > len(data):
                raise GraphFormatError("a field runs past the end of its message")
            yield number, wire, data[at : at + size]
            at += size
        elif wire in (FIXED64, FIXED32):
            at += 8 if wire == FIXED64 else 4
        else:
            raise GraphFormatError(f"unknown protobuf wire type {wire}")


class _Stream:
    """Field-by-field reading of a file, seeking over what is not wanted."""

    def __init__(self, fh: BinaryIO, end: int) -> None:
        self.fh = fh
        self.end = end

    def varint(self) -> int:
        value = shift = 0
        while True:
            byte = self.fh.read(1)
            if not byte or shift > 63:
                raise GraphFormatError("the file ends inside a field")
            value |= (byte[0] & 0x7F) << shift
            if not byte[0] & 0x80:
                return value
            shift += 7

    def fields(self, end: int) -> Iterator[tuple[int, int, int]]:
        """(field number, wire type, value or length); the caller reads or skips the bytes."""
        while self.fh.tell() < end:
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == VARINT:
                yield number, wire, self.varint()
            elif wire == BYTES:
                size = self.varint()
                if self.fh.tell() + size > end:
                    raise GraphFormatError("a field runs past the end of the file")
                yield number, wire, size
            elif wire in (FIXED64, FIXED32):
                self.fh.seek(8 if wire == FIXED64 else 4, 1)
            else:
                raise GraphFormatError(f"unknown protobuf wire type {wire}")


MAX_PORT_BYTES = 1 << 20  # an input's or output's description; more means this is not ONNX


def _port(data: bytes) -> Port:
    name, elem, shape = "", None, None
    for number, _wire, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            name = value.decode("utf-8", "replace")
        elif number == 2 and isinstance(value, bytes):  # TypeProto
            for tn, _w, tv in _fields(value):
                if tn == 1 and isinstance(tv, bytes):  # tensor_type
                    for n, _w2, v in _fields(tv):
                        if n == 1 and isinstance(v, int):
                            elem = v
                        elif n == 2 and isinstance(v, bytes):
                            shape = _shape(v)
    return Port(name, elem, shape)


def _shape(data: bytes) -> tuple[int | str | None, ...]:
    dims: list[int | str | None] = []
    for number, _wire, value in _fields(data):
        if number != 1 or not isinstance(value, bytes):
            continue
        dim: int | str | None = None
        for n, _w, v in _fields(value):
            if n == 1 and isinstance(v, int):
                dim = v
            elif n == 2 and isinstance(v, bytes):
                dim = v.decode("utf-8", "replace")
        dims.append(dim)
    return tuple(dims)


def read(path: Path) -> GraphInfo:
    """The header, inputs and outputs of the ONNX file at ``path`` (GraphFormatError if it is
    not one, OSError if it cannot be read)."""
    info = GraphInfo()
    seen_graph = False
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        fh.seek(0)
        stream = _Stream(fh, end)
        for number, wire, value in stream.fields(end):
            if wire != BYTES:
                if number == M_IR and wire == VARINT:
                    info.ir_version = value
                continue
            start = fh.tell()
            if number == M_OPSET and value < MAX_PORT_BYTES:
                domain, version = "", 0
                for n, _w, v in _fields(fh.read(value)):
                    if n == 1 and isinstance(v, bytes):
                        domain = v.decode("utf-8", "replace")
                    elif n == 2 and isinstance(v, int):
                        version = v
                info.opsets[domain or "ai.onnx"] = version
            elif number == M_GRAPH:
                seen_graph = True
                for gn, gw, gv in stream.fields(start + value):
                    if gw != BYTES:
                        continue
                    at = fh.tell()
                    if gn in (G_INPUT, G_OUTPUT):
                        if gv > MAX_PORT_BYTES:
                            raise GraphFormatError("an input or output description is too large")
                        port = _port(fh.read(gv))
                        (info.inputs if gn == G_INPUT else info.outputs).append(port)
                    fh.seek(at + gv)
            fh.seek(start + value)
    if not seen_graph or info.ir_version == 0:
        raise GraphFormatError("no ONNX model header or graph was found")
    return info


# -- what the installed onnxruntime reads ----------------------------------------------------


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _key(number, BYTES) + _encode_varint(len(payload)) + payload


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# One Identity node from a float input x to an output y: the smallest graph every opset has.
_TENSOR_TYPE = _bytes_field(1, _key(1, VARINT) + _encode_varint(1))  # TypeProto{tensor{FLOAT}}
_PROBE_GRAPH = (
    _bytes_field(1, _bytes_field(1, b"x") + _bytes_field(2, b"y") + _bytes_field(4, b"Identity"))
    + _bytes_field(2, b"probe")
    + _bytes_field(11, _bytes_field(1, b"x") + _bytes_field(2, _TENSOR_TYPE))
    + _bytes_field(12, _bytes_field(1, b"y") + _bytes_field(2, _TENSOR_TYPE))
)


def probe_model(ir_version: int, opsets: dict[str, int]) -> bytes:
    """A one-node model with this IR version and these opset imports."""
    out = _key(M_IR, VARINT) + _encode_varint(ir_version) + _bytes_field(M_GRAPH, _PROBE_GRAPH)
    if "ai.onnx" not in opsets:
        opsets = {**opsets, "ai.onnx": 7}  # Identity needs the default domain
    for domain, version in sorted(opsets.items()):
        body = b"" if domain == "ai.onnx" else _bytes_field(1, domain.encode())
        out += _bytes_field(M_OPSET, body + _key(2, VARINT) + _encode_varint(version))
    return out


_IR = re.compile(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)")
_OPSET = re.compile(r"Opset (\d+) is under development.*?domain (\S+) is till opset (\d+)", re.S)


@functools.lru_cache(maxsize=32)
def _refusal(ir_version: int, opsets: tuple[tuple[str, int], ...]) -> str | None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    try:
        ort.InferenceSession(
            probe_model(ir_version, dict(opsets)),
            sess_options=opts,
            providers=["CPUExecutionProvider"],
        )
    except Exception as exc:
        return str(exc)
    return None


def runtime_refusal(info: GraphInfo) -> str | None:
    """Why the installed onnxruntime would refuse a graph with this header, in words, or None.

    Only a too-new IR version or opset is reported; anything else the probe meets (an opset
    domain of a custom-operator library, say) is left to the real session to judge.
    """
    import onnxruntime as ort

    if info.ir_version > 0x7FFFFFFF or any(v > 0x7FFFFFFF for v in info.opsets.values()):
        return "its version numbers are out of range"
    message = _refusal(info.ir_version, tuple(sorted(info.opsets.items())))
    if message is None:
        return None
    found = _IR.search(message)
    if found:
        return (
            f"it is ONNX IR version {found.group(1)}, and the installed onnxruntime "
            f"{ort.__version__} reads IR versions up to {found.group(2)}"
        )
    found = _OPSET.search(message)
    if found:
        return (
            f"it uses opset {found.group(1)} of {found.group(2)}, and the installed onnxruntime "
            f"{ort.__version__} supports that domain up to opset {found.group(3)}"
        )
    return None
