"""The shape-true stand-ins (onnx_models.standin): they follow the model contract, and the engine
indexes and searches with them.

Two forms. The default run builds a *miniature* stand-in (the same graph code and tokenizer
with tiny widths, in seconds) in fp32, fp16 and int8. The marked test ``standin`` runs on a
full-size stand-in (EVA02-L/14 at 512 px, XLM-R-large: 0.8–3.3 GB, seconds per photo on a CPU),
made once with ``python -m onnx_models.standin DIR --precision int8`` and named by
``LANTERNA_STANDIN_MODEL``; it skips, saying why, when that folder is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from PIL import Image

from engine import model as model_folder
from engine.embedder import Embedder
from engine.library import Library
from engine.search import Query
from onnx_models.standin import (
    IR_VERSION,
    OPSET,
    STANDIN_ID,
    TextShape,
    VisionShape,
    build_standin,
)

TINY_VISION = VisionShape(image_size=56, width=64, layers=2, heads=4, mlp=96, out_dim=256)
TINY_TEXT = TextShape(vocab=80_000, width=64, layers=2, heads=4, mlp=128, out_dim=256)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("standin")
    fp32 = build_standin(root / "fp32", "fp32", vision=TINY_VISION, text=TINY_TEXT)
    out = {"fp32": fp32}
    for precision in ("fp16", "int8"):
        out[precision] = build_standin(
            root / precision, precision, source=fp32, vision=TINY_VISION, text=TINY_TEXT
        )
    return out


def _photos(folder: Path, count: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    out = []
    for i in range(count):
        low = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(low, "RGB").resize((640, 480), Image.Resampling.BICUBIC)
        path = folder / f"holiday_{i}.jpg"
        img.save(path, quality=90)
        out.append(path)
    return out


def check_contract(folder: Path, vision: VisionShape, text: TextShape) -> None:
    """What MODEL_CONTRACT.md asks of a folder, checked on the files themselves."""
    manifest = json.loads((folder / "manifest.json").read_text())
    model = model_folder.load(folder)
    model_folder.verify(model)  # every listed checksum matches
    assert manifest["format"] == 1 and model.id == STANDIN_ID
    assert set(manifest["sha256"]) >= {
        "text.onnx",
        "text.onnx.data",
        "vision.onnx",
        "tokenizer.json",
    }
    assert 256 in model.matryoshka_dims
    for name, shape, tower in (("vision.onnx", vision, "vision"), ("text.onnx", text, "text")):
        graph = onnx.load(str(folder / name), load_external_data=False)
        assert graph.ir_version == IR_VERSION
        assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
        inputs = {i.name: i.type.tensor_type for i in graph.graph.input}
        outputs = [o.name for o in graph.graph.output]
        assert manifest[tower]["output"] in outputs
        if tower == "vision":
            assert list(inputs) == ["pixel_values"]
            t = inputs["pixel_values"]
            assert t.elem_type == onnx.TensorProto.FLOAT
            dims = [d.dim_value or d.dim_param for d in t.shape.dim]
            assert dims == ["batch", 3, shape.image_size, shape.image_size]
        else:
            # the real tower takes no attention_mask: it derives it from pad_id
            assert list(inputs) == ["input_ids"]
            assert inputs["input_ids"].elem_type == onnx.TensorProto.INT64
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size() == text.vocab
    assert tok.token_to_id("<pad>") == manifest["text"]["pad_id"] == 1
    ids = tok.encode(manifest["text"]["query_prefix"] + "a red car").ids
    assert ids[0] == 0 and ids[-1] == 2 and 3 not in ids  # <s> … </s>, no <unk>


def check_engine(folder: Path, tmp: Path) -> None:
    """Vectors that do not depend on the batch; the engine indexes and searches with them."""
    model = model_folder.load(folder)
    emb = Embedder(model, device="cpu", batch_size=8)  # a real batch: padding in play
    try:
        texts = ["a red car", "a much longer description of a family holiday by the sea"]
        together = emb.embed_texts(texts)
        alone = np.concatenate([emb.embed_texts([t]) for t in texts])
        if json.loads((folder / "manifest.json").read_text())["variant"] == "int8":
            # dynamic int8 scales activations per batch: batched vectors move a little, which
            # is one reason the CPU runs batch 1 (engine.embedder.tuning_for)
            assert float(np.min(np.sum(together * alone, axis=1))) > 0.95
            assert Embedder(model, device="cpu").text_batch_size == 1
        else:
            assert np.allclose(together, alone, atol=1e-4)  # padding is masked out
        assert float(together[0] @ together[1]) < 0.9999
        assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    finally:
        emb.close()
    photos = _photos(tmp / "photos")
    with Library(tmp / "data", folder, device="cpu", quiet=0.1) as lib:
        lib.add_folders([tmp / "photos"])
        report = lib.index()
        assert report.run.errors == 0 and report.run.embedded == len(photos)
        assert lib.store.counts()["vectors"] == len(photos)
        # random weights mean nothing, but an indexed photo is its own nearest neighbour
        found = lib.search(Query(image=str(photos[1]), k=3, show_all=True))  # no cut-off
        assert found and Path(found[0].path).name == photos[1].name
        assert lib.search(Query(text="holiday", k=3))  # the text tower and the fusion run


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_miniature_standin_follows_the_contract(tiny: dict[str, Path], precision: str) -> None:
    check_contract(tiny[precision], TINY_VISION, TINY_TEXT)
    assert model_folder.load(tiny[precision]).revision == "standin-1-seed0"


def test_miniature_int8_is_smaller_and_close_to_fp32(tiny: dict[str, Path]) -> None:
    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.iterdir())

    assert size(tiny["int8"]) < 0.6 * size(tiny["fp32"])
    pixels = np.random.default_rng(0).normal(size=(2, 3, 56, 56)).astype(np.float32)
    vectors = {}
    for precision in ("fp32", "int8", "fp16"):
        emb = Embedder(model_folder.load(tiny[precision]), device="cpu")
        vectors[precision] = emb.embed_pixels(pixels)
        emb.close()
    for precision in ("int8", "fp16"):
        cos = np.sum(vectors["fp32"] * vectors[precision], axis=1)
        assert float(cos.min()) > 0.95, (precision, cos)


def test_same_seed_same_files_other_seed_other_weights(
    tmp_path: Path, tiny: dict[str, Path]
) -> None:
    again = build_standin(tmp_path / "again", "fp32", vision=TINY_VISION, text=TINY_TEXT)
    other = build_standin(tmp_path / "other", "fp32", seed=1, vision=TINY_VISION, text=TINY_TEXT)
    first = json.loads((tiny["fp32"] / "manifest.json").read_text())["sha256"]
    assert json.loads((again / "manifest.json").read_text())["sha256"] == first
    assert (
        json.loads((other / "manifest.json").read_text())["sha256"]["vision.onnx.data"]
        != (first["vision.onnx.data"])
    )


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_miniature_standin_indexes_and_searches(
    tiny: dict[str, Path], tmp_path: Path, precision: str
) -> None:
    check_engine(tiny[precision], tmp_path)


def test_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    from engine.errors import ModelError
    from onnx_models.standin import main

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(ModelError):
        build_standin(tmp_path / "busy", vision=TINY_VISION, text=TINY_TEXT)
    assert main([str(tmp_path / "busy")]) == 1
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"


@pytest.mark.standin
def test_full_size_standin(tmp_path: Path) -> None:
    value = os.environ.get("LANTERNA_STANDIN_MODEL")
    if not value:
        pytest.skip(
            "LANTERNA_STANDIN_MODEL is not set: make a full-size stand-in with "
            "`python -m onnx_models.standin DIR --precision int8` (0.8 GB, a minute) and point "
            "the variable at it"
        )
    folder = Path(value).expanduser()
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"LANTERNA_STANDIN_MODEL={folder} holds no model folder")
    check_contract(folder, VisionShape(), TextShape())
    shapes = json.loads((folder / "manifest.json").read_text())["shapes"]
    assert shapes["vision"]["width"] == 1024 and shapes["text"]["vocab"] == 250_002
    check_engine(folder, tmp_path)
