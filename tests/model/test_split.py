"""Splitting a combined graph into towers: same answers, external data, odd graphs refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_models.errors import SplitError
from onnx_models.split import graph_files, split_combined
from tests.model.helpers import cosine_rows, make_combined, write_release


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _inputs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    ids = rng.integers(2, 60, size=(3, 9)).astype(np.int64)
    ids[0, 5:] = 1  # padding
    pixels = rng.normal(size=(3, 3, 512, 512)).astype(np.float32)
    return ids, pixels


def _assert_parity(combined: Path, towers: Path) -> None:
    ids, pixels = _inputs()
    want_text, want_image = _session(combined).run(
        ["l2norm_text_embeddings", "l2norm_image_embeddings"],
        {"input_ids": ids, "pixel_values": pixels},
    )
    text = _session(towers / "text.onnx")
    vision = _session(towers / "vision.onnx")
    assert [i.name for i in text.get_inputs()] == ["input_ids"]
    assert [i.name for i in vision.get_inputs()] == ["pixel_values"]
    got_text = text.run(["l2norm_text_embeddings"], {"input_ids": ids})[0]
    got_image = vision.run(["l2norm_image_embeddings"], {"pixel_values": pixels})[0]
    assert cosine_rows(got_text, want_text).min() >= 0.9999
    assert cosine_rows(got_image, want_image).min() >= 0.9999


def test_split_inline_combined_gives_the_same_vectors(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp16")
    combined = release / "onnx" / "model_fp16.onnx"
    written = split_combined(combined, tmp_path / "towers")
    assert [p.name for p in written["text"]] == ["text.onnx"]
    assert [p.name for p in written["vision"]] == ["vision.onnx"]
    _assert_parity(combined, tmp_path / "towers")
    # each tower keeps only its own weights (and the constant both share)
    text = onnx.load(str(tmp_path / "towers" / "text.onnx"))
    names = {t.name for t in text.graph.initializer}
    assert "token_table" in names and "norm_eps" in names
    assert not any(n.startswith("vision/") for n in names)


def test_split_external_source_and_external_towers(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp32")
    combined = release / "onnx" / "model.onnx"
    assert (release / "onnx" / "model.onnx_data").is_file()
    # a tiny threshold forces the code path the real > 2 GB fp32 text tower takes
    written = split_combined(combined, tmp_path / "towers", threshold=1000)
    assert [p.name for p in written["text"]] == ["text.onnx", "text.onnx.data"]
    assert [p.name for p in written["vision"]] == ["vision.onnx", "vision.onnx.data"]
    assert graph_files(tmp_path / "towers" / "text.onnx") == ["text.onnx", "text.onnx.data"]
    # the graph file holds no big weights; the data file holds them, page-aligned where large
    assert (tmp_path / "towers" / "text.onnx").stat().st_size < 50_000
    assert (tmp_path / "towers" / "text.onnx.data").stat().st_size > 1_000_000
    _assert_parity(combined, tmp_path / "towers")


def test_split_external_source_into_single_files(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp32")
    written = split_combined(release / "onnx" / "model.onnx", tmp_path / "towers")
    assert [p.name for p in written["text"]] == ["text.onnx"]
    assert not (tmp_path / "towers" / "text.onnx.data").exists()
    _assert_parity(release / "onnx" / "model.onnx", tmp_path / "towers")


def test_a_tower_graph_is_not_a_combined_graph(toy_model: Path, tmp_path: Path) -> None:
    with pytest.raises(SplitError, match=r"not the combined jina-clip-v2 graph.*pixel_values"):
        split_combined(toy_model / "text.onnx", tmp_path / "towers")


def test_external_data_outside_the_folder_is_refused(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp32")
    model = onnx.load(str(release / "onnx" / "model.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../../secret.bin"
    onnx.save(model, str(release / "onnx" / "model.onnx"))
    with pytest.raises(SplitError, match="outside"):
        split_combined(release / "onnx" / "model.onnx", tmp_path / "towers")


def _float16_combined() -> onnx.ModelProto:
    """A combined graph whose pixel_values and outputs are float16 (some fp16 exports do that)."""
    dim = 8
    rng = np.random.default_rng(0)
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    pixels = helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT16, ["batch", 3, 4, 4])
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT16, ["batch", dim])
        for name in ("l2norm_text_embeddings", "l2norm_image_embeddings")
    ]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0),
        helper.make_node("ReduceMean", ["tokens"], ["text32"], axes=[1], keepdims=0),
        helper.make_node("Cast", ["text32"], ["l2norm_text_embeddings"], to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["pixel_values"], ["pixels32"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["pixels32"], ["rgb"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["rgb", "projection"], ["image32"]),
        helper.make_node("Cast", ["image32"], ["l2norm_image_embeddings"], to=TensorProto.FLOAT16),
    ]
    inits = [
        numpy_helper.from_array(rng.normal(size=(64, dim)).astype(np.float32), "table"),
        numpy_helper.from_array(rng.normal(size=(3, dim)).astype(np.float32), "projection"),
    ]
    graph = helper.make_graph(nodes, "fp16_io", [ids, pixels], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_float16_inputs_and_outputs_become_float32(tmp_path: Path) -> None:
    combined = tmp_path / "model_fp16.onnx"
    onnx.save(_float16_combined(), str(combined))
    split_combined(combined, tmp_path / "towers")
    vision = _session(tmp_path / "towers" / "vision.onnx")
    assert vision.get_inputs()[0].type == "tensor(float)"
    assert vision.get_outputs()[0].type == "tensor(float)"
    pixels = np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype(np.float32)
    got = vision.run(None, {"pixel_values": pixels})[0]
    want = _session(combined).run(
        ["l2norm_image_embeddings"],
        {"pixel_values": pixels.astype(np.float16), "input_ids": np.ones((2, 1), np.int64)},
    )[0]
    assert got.dtype == np.float32
    assert cosine_rows(got, want.astype(np.float32)).min() >= 0.999
    text = _session(tmp_path / "towers" / "text.onnx")
    assert text.get_outputs()[0].type == "tensor(float)"


def test_make_combined_has_the_official_interface(toy_model: Path) -> None:
    model = make_combined(toy_model)
    assert [i.name for i in model.graph.input] == ["input_ids", "pixel_values"]
    assert {o.name for o in model.graph.output} == {
        "text_embeddings",
        "image_embeddings",
        "l2norm_text_embeddings",
        "l2norm_image_embeddings",
    }
