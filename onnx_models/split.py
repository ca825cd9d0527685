"""Split the official combined jina-clip-v2 graph into a text tower and a vision tower.

The release publishes one graph with inputs ``input_ids`` and ``pixel_values`` and outputs
``text_embeddings``, ``image_embeddings``, ``l2norm_text_embeddings`` and
``l2norm_image_embeddings``; it needs both inputs to run at all. Each tower is the subgraph from
its input to its ``l2norm_*`` output (:class:`onnx.utils.Extractor`, extended to follow names that
control-flow subgraphs take from the outer scope).

Weights are never all held in memory when they live in external data: the graph is read without
its weights, and each tensor's bytes are copied from the source data file straight into the
tower's own data file (``text.onnx.data`` beside ``text.onnx``). A tower whose weights exceed
:data:`EXTERNAL_DATA_THRESHOLD` keeps external data (protobuf cannot hold more than 2 GiB); a
smaller one is written as one self-contained file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import onnx
import onnx.utils
from onnx import TensorProto, helper, numpy_helper

from .errors import SplitError

EXTERNAL_DATA_THRESHOLD = 2_000_000_000
"""Bytes of weights above which a tower is saved with external data (protobuf's hard limit is
2 GiB for the whole file, graph included)."""

MAX_INLINE = 2_100_000_000
INLINE_BELOW = 1024
"""With external data, tensors smaller than this stay in the graph file."""
ALIGNMENT = 4096
"""Large tensors start on a page boundary in the data file, so ONNX Runtime can map them."""
ALIGN_FROM = 1 << 20
_CHUNK = 1 << 24


@dataclass(frozen=True)
class Tower:
    name: str
    input: str
    output: str
    file: str


TOWERS = (
    Tower("text", "input_ids", "l2norm_text_embeddings", "text.onnx"),
    Tower("vision", "pixel_values", "l2norm_image_embeddings", "vision.onnx"),
)


def data_file_name(graph_file: str) -> str:
    """The contract's name for a tower's external data: ``text.onnx`` → ``text.onnx.data``."""
    return graph_file + ".data"


# --- reading --------------------------------------------------------------------------------


def load_graph(path: Path) -> onnx.ModelProto:
    """Load a graph without its external weights (they are read tensor by tensor later)."""
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise SplitError(f"cannot read {path.name} as an ONNX model: {exc}") from exc


def _subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def _outer_scope_names(node: onnx.NodeProto) -> set[str]:
    """Names a node's control-flow subgraphs use without defining them (outer-scope values)."""
    used: set[str] = set()
    for graph in _subgraphs(node):
        defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
        for inner in graph.node:
            used.update(n for n in inner.input if n and n not in defined)
            used.update(n for n in _outer_scope_names(inner) if n not in defined)
            defined.update(inner.output)
    return used


class _Extractor(onnx.utils.Extractor):
    """:class:`onnx.utils.Extractor` that also keeps what subgraphs take from the outer scope."""

    def _dfs_search_reachable_nodes(
        self, node_output_name: str, graph_input_names: set[str], reachable: set[int]
    ) -> None:
        stack = [node_output_name]
        while stack:
            name = stack.pop()
            if name in graph_input_names:
                continue
            index = self.outmap.get(name)
            if index is None or index in reachable:
                continue
            reachable.add(index)
            node = self.graph.node[index]
            stack.extend(i for i in node.input if i)
            stack.extend(_outer_scope_names(node))

    def _collect_reachable_tensors(
        self, nodes: list[onnx.NodeProto]
    ) -> tuple[list[onnx.TensorProto], list[onnx.ValueInfoProto]]:
        initializers, value_info = super()._collect_reachable_tensors(nodes)
        have = {t.name for t in initializers}
        implicit: set[str] = set()
        for node in nodes:
            implicit |= _outer_scope_names(node)
        for name in sorted(implicit - have):
            if name in self.initializers:
                initializers.append(self.initializers[name])
        return initializers, value_info


def check_combined(model: onnx.ModelProto, where: str) -> None:
    """Refuse a graph that is not the combined two-tower graph, saying what it has instead."""
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    missing = [t.input for t in TOWERS if t.input not in inputs]
    missing += [t.output for t in TOWERS if t.output not in outputs]
    if missing:
        raise SplitError(
            f"{where} is not the combined jina-clip-v2 graph: it lacks {', '.join(missing)} "
            f"(inputs: {', '.join(sorted(inputs)) or 'none'}; "
            f"outputs: {', '.join(sorted(outputs)) or 'none'})"
        )


def _check_closed(model: onnx.ModelProto, tower: Tower) -> None:
    """Every value the tower uses must come from its input, its weights or its own nodes."""
    defined = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        needs = [n for n in node.input if n] + sorted(_outer_scope_names(node))
        missing = [n for n in needs if n not in defined]
        if missing:
            raise SplitError(
                f"the {tower.name} tower cannot be cut out at {tower.input}: node "
                f"{node.name or node.op_type} also needs {', '.join(missing)}"
            )
        defined.update(node.output)
    if tower.output not in defined:
        raise SplitError(f"the {tower.name} tower's output {tower.output} is never computed")


def _rename_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new
        for sub in _subgraphs(node):
            if old not in {i.name for i in sub.input}:
                _rename_uses(sub, old, new)


def _rename_value_info(graph: onnx.GraphProto, old: str, new: str) -> None:
    for info in graph.value_info:
        if info.name == old:
            info.name = new


def _float32_io(model: onnx.ModelProto) -> None:
    """The contract wants float32 in and out: wrap a float16 input or output in a Cast."""
    graph = model.graph
    casts_in: list[onnx.NodeProto] = []
    for value in graph.input:
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type == TensorProto.FLOAT16:
            inner = f"{value.name}__float16"
            _rename_uses(graph, value.name, inner)
            _rename_value_info(graph, value.name, inner)
            tensor_type.elem_type = TensorProto.FLOAT
            casts_in.append(helper.make_node("Cast", [value.name], [inner], to=TensorProto.FLOAT16))
    for value in graph.output:
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type == TensorProto.FLOAT16:
            inner = f"{value.name}__float16"
            for node in graph.node:
                for i, name in enumerate(node.output):
                    if name == value.name:
                        node.output[i] = inner
            _rename_uses(graph, value.name, inner)
            _rename_value_info(graph, value.name, inner)
            tensor_type.elem_type = TensorProto.FLOAT
            graph.node.append(helper.make_node("Cast", [inner], [value.name], to=TensorProto.FLOAT))
    for i, cast in enumerate(casts_in):
        graph.node.insert(i, cast)


def extract_tower(model: onnx.ModelProto, tower: Tower) -> onnx.ModelProto:
    """The subgraph from ``tower.input`` to ``tower.output``, with float32 input and output."""
    try:
        sub = _Extractor(model).extract_model([tower.input], [tower.output])
    except (ValueError, KeyError, AssertionError) as exc:
        raise SplitError(f"cannot extract the {tower.name} tower: {exc}") from exc
    _check_closed(sub, tower)
    _float32_io(sub)
    sub.producer_name = "lanterna.onnx_models.split"
    sub.doc_string = (
        f"jina-clip-v2 {tower.name} tower: {tower.input} -> {tower.output}, "
        "cut from the combined graph"
    )
    return sub


# --- weights --------------------------------------------------------------------------------


def _initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for sub in _subgraphs(node):
            yield from _initializers(sub)


def _attribute_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t
            elif attr.type == onnx.AttributeProto.TENSORS:
                yield from attr.tensors
        for sub in _subgraphs(node):
            yield from _attribute_tensors(sub)


def _all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    yield from _initializers(model.graph)
    yield from _attribute_tensors(model.graph)


def _is_external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == TensorProto.EXTERNAL


def _external_info(tensor: onnx.TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def _computed_length(tensor: onnx.TensorProto) -> int:
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except Exception as exc:
        raise SplitError(f"tensor {tensor.name} has external data of unknown length") from exc
    return int(itemsize * math.prod(tensor.dims))


def _payload_size(tensor: onnx.TensorProto) -> int:
    if _is_external(tensor):
        info = _external_info(tensor)
        return int(info["length"]) if "length" in info else _computed_length(tensor)
    if tensor.raw_data:
        return len(tensor.raw_data)
    return int(tensor.ByteSize())


def external_data_files(model: onnx.ModelProto) -> list[str]:
    """The files a graph's tensors point at for their external data, as written in the graph."""
    names = {_external_info(t).get("location", "") for t in _all_tensors(model) if _is_external(t)}
    return sorted(n for n in names if n)


class _Sources:
    """Open source data files, each named inside the source folder.

    The check is on the name, not on where links point: a Hub cache keeps every file as a link
    into its ``blobs/`` folder, and that must keep working.
    """

    def __init__(self, stack: ExitStack, source_dir: Path) -> None:
        self.stack = stack
        self.root = Path(os.path.normpath(source_dir.absolute()))
        self.files: dict[str, BinaryIO] = {}

    def handle(self, location: str) -> BinaryIO:
        if location not in self.files:
            path = Path(os.path.normpath(self.root / location))
            if not path.is_relative_to(self.root) or Path(location).is_absolute():
                raise SplitError(f"external data {location!r} lies outside {self.root}")
            try:
                self.files[location] = self.stack.enter_context(path.open("rb"))
            except OSError as exc:
                raise SplitError(f"cannot read the external data file {location}: {exc}") from exc
        return self.files[location]

    def copy(self, tensor: onnx.TensorProto, out: BinaryIO | None = None) -> bytes:
        """Copy a tensor's external bytes to ``out`` (returned instead when ``out`` is None)."""
        info = _external_info(tensor)
        location = info.get("location", "")
        if not location:
            raise SplitError(f"tensor {tensor.name} is external but names no file")
        fh = self.handle(location)
        offset = int(info.get("offset", "0"))
        remaining = _payload_size(tensor)
        fh.seek(offset)
        parts: list[bytes] = []
        while remaining:
            chunk = fh.read(min(remaining, _CHUNK))
            if not chunk:
                raise SplitError(
                    f"the external data file {location} ends before tensor {tensor.name} "
                    "(damaged or incomplete download)"
                )
            remaining -= len(chunk)
            if out is None:
                parts.append(chunk)
            else:
                out.write(chunk)
        return b"".join(parts)


def _set_external(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    del tensor.external_data[:]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _make_inline(tensor: onnx.TensorProto, payload: bytes) -> None:
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT
    tensor.raw_data = payload


def _raw_payload(tensor: onnx.TensorProto) -> bytes | None:
    """An inline tensor's bytes in external-data layout, or None for types that cannot move."""
    if tensor.raw_data:
        return bytes(tensor.raw_data)
    if tensor.data_type == TensorProto.STRING:
        return None
    try:
        return bytes(numpy_helper.from_array(numpy_helper.to_array(tensor)).raw_data)
    except Exception:
        return None


def _clear_typed_fields(tensor: onnx.TensorProto) -> None:
    for field in (
        "float_data",
        "int32_data",
        "int64_data",
        "double_data",
        "uint64_data",
    ):
        tensor.ClearField(field)


def save_model(
    model: onnx.ModelProto,
    source_dir: Path,
    out_path: Path,
    *,
    threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> list[Path]:
    """Write ``model`` (whose external tensors are relative to ``source_dir``) to ``out_path``.

    Returns the files written: the graph, plus ``<name>.data`` when the weights exceed
    ``threshold`` bytes. Modifies ``model``'s tensors in place.
    """
    if threshold > MAX_INLINE:
        raise ValueError(f"threshold must be at most {MAX_INLINE} bytes (protobuf's limit)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    data_name = data_file_name(out_path.name)
    data_path = out_path.with_name(data_name)
    total = sum(_payload_size(t) for t in _all_tensors(model))
    written = [out_path]
    with ExitStack() as stack:
        sources = _Sources(stack, source_dir)
        # Attribute tensors (Constant values) always live in the graph file.
        for tensor in _attribute_tensors(model.graph):
            if _is_external(tensor):
                _make_inline(tensor, sources.copy(tensor))
        if total > threshold:
            out = stack.enter_context(data_path.open("wb"))
            for tensor in _initializers(model.graph):
                size = _payload_size(tensor)
                if size < INLINE_BELOW:  # small (shapes, axes): ONNX Runtime wants them inline
                    if _is_external(tensor):
                        _make_inline(tensor, sources.copy(tensor))
                    continue
                payload = None if _is_external(tensor) else _raw_payload(tensor)
                if not _is_external(tensor) and payload is None:
                    continue
                if size >= ALIGN_FROM and out.tell() % ALIGNMENT:
                    out.write(b"\0" * (ALIGNMENT - out.tell() % ALIGNMENT))
                offset = out.tell()
                if payload is None:
                    sources.copy(tensor, out)
                else:
                    out.write(payload)
                    _clear_typed_fields(tensor)
                _set_external(tensor, data_name, offset, size)
            written.append(data_path)
        else:
            for tensor in _initializers(model.graph):
                if _is_external(tensor):
                    _make_inline(tensor, sources.copy(tensor))
            data_path.unlink(missing_ok=True)
    try:
        # Written as bytes: onnx.save would try to (re)write external data itself.
        out_path.write_bytes(model.SerializeToString())
    except Exception as exc:
        raise SplitError(f"cannot write {out_path.name}: {exc}") from exc
    try:
        onnx.checker.check_model(str(out_path))
    except Exception as exc:
        raise SplitError(f"{out_path.name} does not pass the ONNX checker: {exc}") from exc
    return written


# --- the whole job --------------------------------------------------------------------------


def split_combined(
    combined: Path,
    out_dir: Path,
    *,
    threshold: int = EXTERNAL_DATA_THRESHOLD,
    towers: Iterable[Tower] = TOWERS,
) -> dict[str, list[Path]]:
    """Cut ``combined`` into the towers, written to ``out_dir``; returns each tower's files."""
    model = load_graph(combined)
    check_combined(model, combined.name)
    written: dict[str, list[Path]] = {}
    for tower in towers:
        sub = extract_tower(model, tower)
        written[tower.name] = save_model(
            sub, combined.parent, out_dir / tower.file, threshold=threshold
        )
        del sub
    return written


def repack(src: Path, dst: Path, *, threshold: int = EXTERNAL_DATA_THRESHOLD) -> list[Path]:
    """Copy a graph under a new name, with its external data renamed to match (``dst.data``)."""
    return save_model(load_graph(src), src.parent, dst, threshold=threshold)


def graph_files(path: Path) -> list[str]:
    """A graph file and the external data files it needs, as names relative to its folder."""
    model = load_graph(path)
    return [path.name, *(os.path.normpath(n) for n in external_data_files(model))]
