"""Parity and self-test on the real jina-clip-v2 files, when a machine has them.

Set ``LANTERNA_REAL_MODEL`` to a folder with the official combined graph and ``tokenizer.json``
(for instance ``hf download jinaai/jina-clip-v2 onnx/model_fp16.onnx tokenizer.json --local-dir
DIR``), or to an installed model folder (then only the self-test runs). ``LANTERNA_DEVICE``
(auto, cpu, cuda) picks where the towers run; run it on a machine with an NVIDIA GPU when there
is one, since the contract's known traps are GPU traps.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine import model as model_folder
from engine.preprocess import VisionSpec, to_tensor
from onnx_models.importer import find_combined, import_model
from onnx_models.split import split_combined
from onnx_models.verify import sample_images, self_test
from tests.model.helpers import cosine_rows

pytestmark = pytest.mark.real_model

DEVICE = os.environ.get("LANTERNA_DEVICE", "auto")


@pytest.fixture(scope="module")
def real_source() -> Path:
    value = os.environ.get("LANTERNA_REAL_MODEL")
    if not value:
        pytest.skip(
            "LANTERNA_REAL_MODEL is not set: point it at the official jina-clip-v2 ONNX files "
            "(or an installed model folder) to run the real-model checks"
        )
    path = Path(value).expanduser()
    if not path.exists():
        pytest.skip(f"LANTERNA_REAL_MODEL={value} does not exist")
    return path


def _providers() -> list[str]:
    import onnxruntime as ort

    if DEVICE != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _session(path: Path) -> object:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=opts, providers=_providers())


def test_split_towers_match_the_combined_graph(real_source: Path, tmp_path: Path) -> None:
    if (real_source / "manifest.json").is_file():
        pytest.skip("LANTERNA_REAL_MODEL is an installed folder: parity needs the combined graph")
    from tokenizers import Tokenizer

    from onnx_models.manifest import jina_clip_v2_manifest

    graph, _ = find_combined(real_source, None, DEVICE)
    tokenizer_path = next(
        p / "tokenizer.json"
        for p in (graph.parent, graph.parent.parent, real_source)
        if (p / "tokenizer.json").is_file()
    )
    split_combined(graph, tmp_path)
    spec = VisionSpec.from_manifest(jina_clip_v2_manifest(revision="x")["vision"])
    pixels = np.stack([to_tensor(im, spec) for im in sample_images()])
    tok = Tokenizer.from_file(str(tokenizer_path))
    encodings = tok.encode_batch(["a red bicycle", "ein Teller Spaghetti mit Tomatensoße"])
    ids = np.full((2, max(len(e.ids) for e in encodings)), 1, dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
    combined = _session(graph)
    want_text, want_image = combined.run(  # type: ignore[attr-defined]
        ["l2norm_text_embeddings", "l2norm_image_embeddings"],
        {"input_ids": ids, "pixel_values": pixels},
    )
    del combined
    got_text = _session(tmp_path / "text.onnx").run(None, {"input_ids": ids})[0]  # type: ignore[attr-defined]
    got_image = _session(tmp_path / "vision.onnx").run(None, {"pixel_values": pixels})[0]  # type: ignore[attr-defined]
    assert cosine_rows(got_text, want_text).min() >= 0.9999
    assert cosine_rows(got_image, want_image).min() >= 0.9999


def test_self_test_passes_on_the_real_model(real_source: Path, tmp_path: Path) -> None:
    if (real_source / "manifest.json").is_file():
        folder = real_source
    else:
        folder = import_model(real_source, tmp_path / "model", run_self_test=False).model_dir
    model = model_folder.load(folder)
    model_folder.verify(model)
    result = self_test(model, device=DEVICE)
    assert result.passed, result.as_json()


def test_preprocessing_matches_the_reference_pipeline(real_source: Path) -> None:
    """Our resize and crop against torchvision's (the reference), through the real vision tower."""
    transforms = pytest.importorskip("torchvision.transforms", reason="needs torchvision")
    if not (real_source / "manifest.json").is_file():
        pytest.skip("needs an installed model folder (LANTERNA_REAL_MODEL with a manifest.json)")
    from engine.embedder import Embedder

    model = model_folder.load(real_source)
    spec = model.vision
    reference = transforms.Compose(
        [
            transforms.Resize(spec.image_size, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(spec.image_size),
            transforms.ToTensor(),
            transforms.Normalize(spec.mean, spec.std),
        ]
    )
    images = sample_images()
    ours = np.stack([to_tensor(im, spec) for im in images])
    theirs = np.stack([reference(im).numpy() for im in images]).astype(np.float32)
    emb = Embedder(model, device=DEVICE)
    try:
        got, want = emb.embed_pixels(ours), emb.embed_pixels(theirs)
    finally:
        emb.close()
    assert cosine_rows(got, want).min() >= 1 - 1e-3
