"""``lanterna model import``: contract folders, official release folders, the checks on the way."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine import model as model_folder
from engine.cli import main
from engine.embedder import Embedder
from engine.errors import ModelError
from onnx_models.importer import import_model
from tests.images import picture
from tests.model.helpers import COMMIT, flip_byte, manifest, sha256, write_release


def _vectors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from engine.preprocess import to_tensor

    model = model_folder.load(folder)
    emb = Embedder(model, device="cpu", threads=1)
    try:
        texts = emb.embed_texts(["rouge", "a blue car", "grün"])
        pixels = np.stack(
            [to_tensor(picture(c, seed=i), model.vision) for i, c in enumerate(["red", "blue"])]
        )
        return texts, emb.embed_pixels(pixels)
    finally:
        emb.close()


def test_import_contract_folder(toy_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "data" / "model"
    installed = import_model(toy_model, target, device="cpu")
    assert installed.id == "lanterna/toy-clip"
    assert installed.self_test is not None and installed.self_test.passed
    data = manifest(target)
    assert data["sha256"] == {
        name: sha256(target / name) for name in ("text.onnx", "vision.onnx", "tokenizer.json")
    }
    model_folder.verify(model_folder.load(target))
    assert not list(target.parent.glob(".model.*")), "staging folders are cleaned up"


def test_import_adds_missing_checksums(toy_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(toy_model, src)
    data = manifest(src)
    del data["sha256"]
    (src / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    target = tmp_path / "model"
    import_model(src, target, device="cpu", run_self_test=False)
    assert set(manifest(target)["sha256"]) == {"text.onnx", "vision.onnx", "tokenizer.json"}  # type: ignore[arg-type]


def test_import_refuses_a_tampered_folder_and_keeps_the_old_model(
    toy_model: Path, other_toy_model: Path, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    import_model(other_toy_model, target, device="cpu", run_self_test=False)
    before = manifest(target)
    src = tmp_path / "src"
    shutil.copytree(toy_model, src)
    flip_byte(src / "text.onnx")
    with pytest.raises(ModelError, match=r"text\.onnx .* does not match its checksum"):
        import_model(src, target, device="cpu")
    assert manifest(target) == before


def test_import_release_folder_splits_the_combined_graph(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp16")
    target = tmp_path / "model"
    installed = import_model(release, target, device="cpu")
    assert installed.variant == "fp16"
    data = manifest(target)
    assert data["id"] == "jinaai/jina-clip-v2"
    assert data["licence"] == "CC-BY-NC-4.0"
    assert data["variant"] == "fp16"
    assert str(data["revision"]).startswith("local-")
    assert data["text"]["pad_id"] == 1  # type: ignore[index]
    assert data["vision"]["image_size"] == 512  # type: ignore[index]
    assert set(data["sha256"]) == {"text.onnx", "vision.onnx", "tokenizer.json"}  # type: ignore[arg-type]
    # the split towers, run by the engine, answer exactly like the towers they were made from
    want_text, want_images = _vectors(toy_model)
    got_text, got_images = _vectors(target)
    np.testing.assert_allclose(got_text, want_text, atol=1e-5)
    np.testing.assert_allclose(got_images, want_images, atol=1e-5)


def test_import_fp32_release_keeps_external_data(
    toy_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp32")
    target = tmp_path / "model"
    installed = import_model(release, target, device="cpu", threshold=1000)
    assert installed.variant == "fp32"
    listed = manifest(target)["sha256"]
    assert set(listed) == {  # type: ignore[arg-type]
        "text.onnx",
        "text.onnx.data",
        "vision.onnx",
        "vision.onnx.data",
        "tokenizer.json",
    }
    flip_byte(target / "text.onnx.data")
    with pytest.raises(ModelError, match=r"text\.onnx\.data .* does not match its checksum"):
        model_folder.verify(model_folder.load(target))


def test_import_uses_and_checks_what_the_hub_client_recorded(
    toy_model: Path, tmp_path: Path
) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp16")
    meta = release / ".cache" / "huggingface" / "download"
    for name in ("onnx/model_fp16.onnx", "tokenizer.json"):
        (meta / name).parent.mkdir(parents=True, exist_ok=True)
        (meta / f"{name}.metadata").write_text(f"{COMMIT}\n{sha256(release / name)}\n1.0\n")
    target = tmp_path / "model"
    import_model(release, target, device="cpu", run_self_test=False)
    assert manifest(target)["revision"] == COMMIT
    flip_byte(release / "onnx" / "model_fp16.onnx", offset=-100)
    with pytest.raises(ModelError, match="does not match the checksum the Hub gave"):
        import_model(release, tmp_path / "other", device="cpu", run_self_test=False)


def test_import_picks_a_graph_file_and_the_variant(toy_model: Path, tmp_path: Path) -> None:
    release = write_release(toy_model, tmp_path / "release", variant="fp16")
    write_release(toy_model, release, variant="int8", tokenizer=False)
    target = tmp_path / "model"
    assert import_model(release, target, device="cpu", run_self_test=False).variant == "int8"
    assert import_model(release, target, device="cuda", run_self_test=False).variant == "fp16"
    assert import_model(release, target, variant="int8", run_self_test=False).variant == "int8"
    graph = release / "onnx" / "model_fp16.onnx"
    assert import_model(graph, target, run_self_test=False).variant == "fp16"
    with pytest.raises(ModelError, match="no fp32 graph"):
        import_model(release, target, variant="fp32")


def test_import_refusals(toy_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file or folder"):
        import_model(tmp_path / "nowhere", tmp_path / "model")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelError, match="neither a model folder"):
        import_model(empty, tmp_path / "model")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="not a model folder, so it is left alone"):
        import_model(toy_model, busy)
    assert (busy / "notes.txt").read_text() == "mine"
    release = write_release(toy_model, tmp_path / "release", tokenizer=False)
    with pytest.raises(ModelError, match=r"no tokenizer\.json"):
        import_model(release, tmp_path / "model")


def test_cli_import_then_replace(
    toy_model: Path, other_toy_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "model"
    base = ["--model", str(target), "--device", "cpu", "model", "import"]
    assert main([*base, str(toy_model)]) == 0
    out = capsys.readouterr().out
    assert f"installed lanterna/toy-clip toy-1 in {target}" in out
    assert "self-test passed on CPUExecutionProvider" in out
    assert main([*base, str(other_toy_model)]) == 0
    out = capsys.readouterr().out
    assert "replaced lanterna/toy-clip toy-1" in out and "--reembed" in out
    assert main([*base, str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lanterna: no such file or folder: {tmp_path / 'missing'}"]


def test_import_from_a_hub_cache_snapshot(toy_model: Path, tmp_path: Path) -> None:
    """The Hub cache keeps files as links into blobs/ named by their checksum."""
    plain = write_release(toy_model, tmp_path / "plain", variant="fp32")
    repo = tmp_path / "hub" / "models--jinaai--jina-clip-v2"
    snapshot = repo / "snapshots" / COMMIT
    for name in ("onnx/model.onnx", "onnx/model.onnx_data", "tokenizer.json"):
        blob = repo / "blobs" / sha256(plain / name)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes((plain / name).read_bytes())
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).symlink_to(os.path.relpath(blob, (snapshot / name).parent))
    target = tmp_path / "model"
    installed = import_model(snapshot, target, device="cpu", run_self_test=False)
    assert installed.revision == COMMIT and installed.variant == "fp32"
    model_folder.verify(model_folder.load(target))
    flip_byte(repo / "blobs" / sha256(plain / "tokenizer.json"))
    with pytest.raises(ModelError, match=r"tokenizer\.json does not match the checksum"):
        import_model(snapshot, tmp_path / "other", run_self_test=False)


def test_import_contract_folder_with_towers_in_a_subfolder(toy_model: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "towers").mkdir(parents=True)
    for name in ("text.onnx", "vision.onnx"):
        shutil.copyfile(toy_model / name, src / "towers" / name)
    shutil.copyfile(toy_model / "tokenizer.json", src / "tokenizer.json")
    data = manifest(toy_model)
    data["text"]["file"] = "towers/text.onnx"  # type: ignore[index]
    data["vision"]["file"] = "towers/vision.onnx"  # type: ignore[index]
    data["sha256"] = {}
    (src / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    target = tmp_path / "model"
    import_model(src, target, device="cpu")
    assert set(manifest(target)["sha256"]) == {  # type: ignore[arg-type]
        "towers/text.onnx",
        "towers/vision.onnx",
        "tokenizer.json",
    }


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (  # Hugging Face's CLIP image processor
            {
                "crop_size": {"height": 224, "width": 224},
                "do_center_crop": True,
                "image_mean": [0.5, 0.5, 0.5],
                "image_std": [0.25, 0.25, 0.25],
                "resample": 2,
                "size": {"shortest_edge": 224},
            },
            {"image_size": 224, "mean": [0.5] * 3, "std": [0.25] * 3, "resample": "bilinear",
             "resize": "shortest_edge_then_center_crop"},
        ),
        (  # SigLIP: resized straight to a square, no crop
            {"size": {"height": 384, "width": 384}, "do_center_crop": False, "resample": 3},
            {"image_size": 384, "resample": "bicubic", "resize": "squash"},
        ),
        (  # jina-clip's own processor
            {"size": 512, "mean": [0.1, 0.2, 0.3], "std": [0.3, 0.2, 0.1],
             "interpolation": "bicubic", "resize_mode": "shortest"},
            {"image_size": 512, "mean": [0.1, 0.2, 0.3], "std": [0.3, 0.2, 0.1],
             "resample": "bicubic", "resize": "shortest_edge_then_center_crop"},
        ),
    ],
)  # fmt: skip
def test_preprocessor_config_becomes_the_vision_block(
    config: dict[str, object], expected: dict[str, object]
) -> None:
    from onnx_models.manifest import preprocessor_vision

    got = preprocessor_vision(config)
    assert {k: got[k] for k in expected} == expected


def test_a_release_of_another_image_size_imports_with_its_own_preprocessing(
    tmp_path: Path,
) -> None:
    """The importer reads the graph's input shape and preprocessor_config.json: a 96 px graph is
    fed 96 px images with the folder's mean and std, not the official release's 512 px."""
    from onnx_models.toy import build_toy_model

    toy96 = build_toy_model(tmp_path / "toy96", image_size=96)
    release = write_release(toy96, tmp_path / "release")
    (release / "preprocessor_config.json").write_text(
        json.dumps({"size": 512, "mean": [0.4, 0.4, 0.4], "std": [0.3, 0.3, 0.3]})
    )
    steps: list[str] = []
    installed = import_model(release, tmp_path / "model", device="cpu", report=steps.append)
    assert installed.self_test is not None and installed.self_test.passed
    vision = manifest(tmp_path / "model")["vision"]
    assert isinstance(vision, dict)
    assert vision["image_size"] == 96
    assert vision["mean"] == [0.4] * 3 and vision["std"] == [0.3] * 3
    assert any("takes 96 px images, not the 512 px" in s for s in steps)
    vectors = Embedder(model_folder.load(tmp_path / "model"), device="cpu").embed_pixels(
        np.zeros((1, 3, 96, 96), np.float32)
    )
    assert vectors.shape == (1, 256)
