"""Shared fixtures: every user folder redirected, a toy model folder built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolate_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANTERNA_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.delenv("LANTERNA_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    # Reading text in pictures costs a worker process per library: only the tests about it
    # (tests/engine/test_ocr_index.py and the app's OCR tests) turn it on.
    monkeypatch.setenv("LANTERNA_OCR", "off")


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from onnx_models.toy import build_toy_model

    return build_toy_model(tmp_path_factory.mktemp("models") / "toy")


@pytest.fixture(scope="session")
def other_toy_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from onnx_models.toy import build_toy_model

    return build_toy_model(
        tmp_path_factory.mktemp("models") / "other",
        model_id="lanterna/other-toy",
        revision="other-1",
        seed=7,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


@pytest.fixture
def library(data_dir: Path, toy_model: Path) -> Iterator[object]:
    from engine.library import Library

    lib = Library(data_dir, toy_model, device="cpu", quiet=0.3)
    yield lib
    lib.close()
