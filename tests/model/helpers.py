"""Stand-ins for the official release, made from the toy model: combined graphs, broken towers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SHARED = {"norm_eps"}  # the same constant in both toy towers: kept once, used by both
VISION_IO = {"pixel_values", "image_embeddings", "l2norm_image_embeddings"}


def _renamed(name: str) -> str:
    return name if not name or name in VISION_IO or name in SHARED else f"vision/{name}"


def make_combined(toy: Path) -> onnx.ModelProto:
    """One graph with the official inputs and outputs, made of the toy's two towers."""
    text = onnx.load(str(toy / "text.onnx"))
    vision = onnx.load(str(toy / "vision.onnx"))
    for node in vision.graph.node:
        node.input[:] = [_renamed(n) for n in node.input]
        node.output[:] = [_renamed(n) for n in node.output]
        node.name = _renamed(node.name)
    for tensor in vision.graph.initializer:
        tensor.name = _renamed(tensor.name)
    for info in vision.graph.value_info:
        info.name = _renamed(info.name)
    text_inits = {t.name for t in text.graph.initializer}
    graph = helper.make_graph(
        [*text.graph.node, *vision.graph.node],
        "toy_combined",
        [*text.graph.input, *vision.graph.input],
        [*text.graph.output, *vision.graph.output],
        initializer=[
            *text.graph.initializer,
            *(t for t in vision.graph.initializer if t.name not in text_inits),
        ],
    )
    model = helper.make_model(graph, opset_imports=text.opset_import, ir_version=text.ir_version)
    onnx.checker.check_model(model)
    return model


def write_release(
    toy: Path, folder: Path, *, variant: str = "fp16", tokenizer: bool = True
) -> Path:
    """A folder laid out like the official repository (fp16: one file; fp32: external data)."""
    model = make_combined(toy)
    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    if variant == "fp32":
        onnx.save(
            model,
            str(folder / "onnx" / "model.onnx"),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx_data",
            size_threshold=1024,
        )
    else:
        name = {"fp16": "model_fp16.onnx", "int8": "model_int8.onnx"}[variant]
        onnx.save(model, str(folder / "onnx" / name))
    if tokenizer:
        (folder / "tokenizer.json").write_bytes((toy / "tokenizer.json").read_bytes())
    return folder


def constant_vision_graph(dim: int = 1024, image_size: int = 512) -> onnx.ModelProto:
    """A broken vision tower: the same vector for every image (the fp16-on-CUDA trap)."""
    pixels = helper.make_tensor_value_info(
        "pixel_values", TensorProto.FLOAT, ["batch", 3, image_size, image_size]
    )
    out = helper.make_tensor_value_info(
        "l2norm_image_embeddings", TensorProto.FLOAT, ["batch", dim]
    )
    vector = np.random.default_rng(1).normal(size=(1, dim)).astype(np.float32)
    vector /= np.linalg.norm(vector)
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["zeros"]),
        helper.make_node("Unsqueeze", ["zeros", "axis_1"], ["column"]),
        helper.make_node("Add", ["column", "vector"], ["l2norm_image_embeddings"]),
    ]
    inits = [
        numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "axis_1"),
        numpy_helper.from_array(vector, "vector"),
    ]
    graph = helper.make_graph(nodes, "constant_vision", [pixels], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def manifest(folder: Path) -> dict[str, object]:
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)
