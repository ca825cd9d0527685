"""``lanterna model info`` and ``lanterna model verify``: fields, self-test, tamper detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import onnx
import pytest

from engine import model as model_folder
from engine.cli import main
from engine.errors import ModelError
from onnx_models.manifest import read_manifest, write_manifest
from onnx_models.verify import self_test
from tests.model.helpers import constant_vision_graph, flip_byte


@pytest.fixture
def model_copy(toy_model: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(toy_model, folder)
    return folder


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_json_fields(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "--data-dir", str(tmp_path / "d"), "--model", str(model_copy), "--device", "cpu",
        "model", "info", "--json",
    )  # fmt: skip
    assert code == 0
    info = json.loads(out)
    assert info["id"] == "lanterna/toy-clip"
    assert info["revision"] == "toy-1"
    assert info["licence"] == "CC0-1.0"
    assert info["dim"] == 1024 and info["stored_dims"] == 256
    assert 256 in info["matryoshka_dims"]
    assert info["checksums"] == "ok"
    assert info["provider"] == "CPUExecutionProvider"
    assert info["provider_note"] == "running on the CPU as asked"
    assert info["device"] == "cpu"
    names = [f["name"] for f in info["files"]]
    assert names == ["text.onnx", "vision.onnx", "tokenizer.json"]
    for f in info["files"]:
        assert f["bytes"] == (model_copy / f["name"]).stat().st_size
        assert len(f["sha256"]) == 64
    assert info["total_bytes"] == sum(f["bytes"] for f in info["files"])
    assert info["model_dir"] == str(model_copy)
    # the verified checksums are cached where the engine looks for them
    assert (tmp_path / "d" / "cache" / "model-checksums.json").is_file()


def test_info_text_and_missing_model(
    model_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--model", str(model_copy), "--device", "cpu", "model", "info")
    assert code == 0
    assert "licence    CC0-1.0" in out and "checksums  ok" in out
    assert "provider   CPUExecutionProvider — running on the CPU as asked" in out
    code, _, err = _run(capsys, "--model", str(tmp_path / "none"), "model", "info")
    assert code == 1
    assert err.strip().splitlines() == [
        f"lanterna: Model error: no model folder at {tmp_path / 'none'}",
        "hint: download the model with `lanterna model download`, or point --model at a folder",
    ]


def test_verify_passes_on_the_toy(model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--model", str(model_copy), "--device", "cpu", "model", "verify")
    assert code == 0, err
    assert "file       text.onnx" in out and "ok" in out
    assert "self-test  two different images give different vectors: ok" in out
    assert "self-test  a text gives the same vector alone and batched: ok" in out
    assert "verified   lanterna/toy-clip toy-1" in out
    code, out, _ = _run(
        capsys, "--model", str(model_copy), "--device", "cpu", "model", "verify", "--json"
    )
    report = json.loads(out)
    assert code == 0 and report["passed"] is True
    assert report["self_test"]["provider"] == "CPUExecutionProvider"
    assert all(c["passed"] for c in report["self_test"]["checks"])


def test_verify_fails_on_a_vision_tower_that_ignores_its_image(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onnx.save(constant_vision_graph(), str(model_copy / "vision.onnx"))
    write_manifest(model_copy, read_manifest(model_copy))  # checksums match: only the test can tell
    code, out, err = _run(capsys, "--model", str(model_copy), "--device", "cpu", "model", "verify")
    assert code == 1
    assert "two different images give different vectors: FAILED (cosine 1.000000)" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("hint: ")
    assert lines[0].startswith(
        "lanterna: Model self-test failed: two different images give different vectors: no"
    )


def test_tampered_tower_fails_verify_with_a_clear_error(
    model_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flip_byte(model_copy / "text.onnx")
    with pytest.raises(ModelError) as caught:
        model_folder.verify(model_folder.load(model_copy))
    assert "text.onnx" in str(caught.value) and "does not match its checksum" in str(caught.value)
    code, out, err = _run(capsys, "--model", str(model_copy), "--device", "cpu", "model", "verify")
    assert code == 1
    assert "text.onnx" in out and "mismatch" in out
    assert err.strip().splitlines() == [
        f"lanterna: Model error: text.onnx in {model_copy} does not match its checksum "
        "(damaged or altered)",
        "hint: download or import the model again",
    ]
    code, out, _ = _run(capsys, "--model", str(model_copy), "model", "info", "--json")
    info = json.loads(out)
    assert "does not match its checksum" in info["checksums"] and info["provider"] is None


def test_self_test_checks_batch_independence(toy_model: Path) -> None:
    model = model_folder.load(toy_model)
    result = self_test(model, device="cpu")
    assert result.passed
    assert [c.name for c in result.checks] == [
        "two different images give different vectors",
        "an image gives the same vector alone and batched",
        "a text gives the same vector alone and batched",
        "two different texts give different vectors",
        "vectors are finite and of unit length",
    ]
    # a tower whose answer depends on the batch is caught
    from engine.embedder import Embedder

    original = Embedder.embed_texts

    def leaky(self: Embedder, texts: list[str], *, query: bool = False) -> object:
        out = original(self, texts, query=query)
        if len(texts) > 1:
            out[0] = out[1]
        return out

    with mock.patch.object(Embedder, "embed_texts", leaky):
        result = self_test(model, device="cpu")
    assert not result.passed
    failed = [c.name for c in result.checks if not c.passed]
    assert failed == ["a text gives the same vector alone and batched"]
