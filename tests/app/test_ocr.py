"""Text in pictures in the window: the hit says so, shows the line and marks it; the setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.views.settings import SettingsDialog
from tests import ocr_images
from tests.app.helpers import settle

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def receipts(
    data_dir: Path, toy_model: Path, photos: Path, picture_library: Any, monkeypatch: Any
) -> Path:
    """The picture library, plus a photographed receipt and a screenshot, indexed with OCR."""
    from engine.library import Library

    monkeypatch.setenv("LANTERNA_OCR", "on")
    ocr_images.receipt(photos / "IMG_2041.jpg")
    ocr_images.screenshot(photos / "Screenshot.png")
    with Library(data_dir, toy_model, device="cpu") as lib:
        lib.add_folders([photos])
        report = lib.index()
        assert report.run.errors == 0 and report.run.ocr_files == 12
    return photos


def test_an_ocr_hit_says_so_shows_the_line_and_marks_it(
    qtbot: Any, make_window: Any, receipts: Path
) -> None:
    window = make_window()
    settle(window)
    qtbot.keyClicks(window.search, "INV-2024-0042")
    settle(window)
    top = window.model.entries[0]
    assert top.name == "IMG_2041.jpg"
    assert window.preview.entry == top
    assert window.preview.why.text().startswith("Matched text in the image")
    assert window.preview.snippet_box.isVisible() or not window.isVisible()
    assert window.preview.snippet.text() == f"Invoice {ocr_images.INVOICE}"
    (mark,) = window.preview.picture.marks
    left, top_edge, right, bottom = mark
    assert 0 < left < right < 1 and 0 < top_edge < bottom < 1
    tip = window.model.data(window.model.index(0), 3)  # ToolTipRole
    assert f"“Invoice {ocr_images.INVOICE}”" in tip

    window.search.clear()
    qtbot.keyClicks(window.search, "red")
    settle(window)
    red = window.model.entries[0]
    assert red.source is None and window.preview.picture.marks == ()


def test_the_setting_turns_reading_off_without_new_vectors(
    qtbot: Any, make_window: Any, receipts: Path
) -> None:
    window = make_window()
    settle(window)
    window.bridge.refresh_status()
    qtbot.waitUntil(lambda: bool(window._status.get("ocr")), timeout=10_000)
    vectors = window._status["vectors"]
    dialog = SettingsDialog(
        window.bridge, window._status, device="cpu", theme="system", tray=False, parent=window
    )
    qtbot.addWidget(dialog)
    assert dialog.ocr.isChecked()
    assert "2 images with text" in dialog.ocr_counts.text()
    dialog.ocr.setChecked(False)
    window._apply(dialog)
    qtbot.waitUntil(lambda: not window._status["ocr"]["enabled"], timeout=10_000)
    assert window._status["vectors"] < vectors  # the passages went, the pictures stayed
    assert window._status["files"]["indexed"] == 12
    qtbot.keyClicks(window.search, "INV-2024-0042")
    settle(window)
    assert all(e.source is None for e in window.model.entries)


def test_status_bar_says_when_text_is_being_read(qtbot: Any) -> None:
    from app.widgets.status import IndexStatus

    bar = IndexStatus()
    qtbot.addWidget(bar)
    bar.show_progress(3, 12, 0, 20.0)
    assert bar.counts.text().startswith("Indexing…")
    bar.show_progress(1, 4, 0, 5.0, "text")
    assert bar.counts.text().startswith("Reading text in pictures… 1 file of 4")
