"""Shared fixtures: every user folder redirected, a toy model folder built once per session, and
``logfail``: a test fails when anything logs an error it did not declare."""

from __future__ import annotations

import logging
import os
import re
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


class LogFail(logging.Handler):
    """Collects every record of level ERROR or above (qutebrowser's logfail, for the engine).

    A test declares the errors it provokes, by ``logfail.expect(pattern)`` or with
    ``@pytest.mark.expect_log_errors(pattern, ...)``; any other error fails it.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._allowed: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def expect(self, pattern: str) -> None:
        """Errors whose message matches ``pattern`` (a regular expression) are expected."""
        self._allowed.append(re.compile(pattern))

    def seen(self, pattern: str) -> list[logging.LogRecord]:
        return [r for r in self.records if re.search(pattern, r.getMessage())]

    def unexpected(self) -> list[logging.LogRecord]:
        return [r for r in self.records if not any(p.search(r.getMessage()) for p in self._allowed)]


@pytest.fixture(autouse=True)
def logfail(request: pytest.FixtureRequest) -> Iterator[LogFail]:
    handler = LogFail()
    for marker in request.node.iter_markers("expect_log_errors"):
        for pattern in marker.args:
            handler.expect(pattern)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
    bad = handler.unexpected()
    if bad:
        lines = "\n".join(f"  {r.levelname} {r.name}: {r.getMessage()}" for r in bad)
        pytest.fail(f"errors were logged that the test did not expect:\n{lines}", pytrace=False)


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
