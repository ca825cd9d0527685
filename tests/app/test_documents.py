"""Documents in the window: the page that matched, its render, its number and its passage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPixmap

from app.models.results import THUMB_ROLE, THUMB_SIZE, Entry, snippet_html, snippet_text
from app.thumbnails import cache_file
from app.widgets.preview import PREVIEW_SIDE
from app.widgets.tiles import TYPE_COLOURS
from tests import documents
from tests.app.helpers import names, settle

REPORT_PAGES = [
    "Quarterly report\nSales went well this quarter.",
    "Le ciel est bleu\nau-dessus de la mer.",
    "Invoice INV-2024-0042\nTotal due: 420 EUR",
]


@pytest.fixture
def papers(photos: Path, picture_library: Any) -> Path:
    """The picture library, with a folder of documents beside the photos."""
    folder = photos / "Papers"
    documents.pdf(folder / "report.pdf", REPORT_PAGES)
    documents.docx(
        folder / "letter.docx",
        [["Dear Sam,", "the garden party is on Saturday; bring the red chairs."]],
    )
    return folder


@pytest.fixture
def doc_window(
    make_window: Any, data_dir: Path, toy_model: Path, photos: Path, papers: Path
) -> Any:
    from engine.library import Library

    with Library(data_dir, toy_model, device="cpu") as lib:
        lib.add_folders([photos])
        report = lib.index()
        assert report.run.errors == 0
    window = make_window()
    settle(window)
    return window


def search(qtbot: Any, window: Any, text: str) -> Entry:
    qtbot.keyClicks(window.search, text)
    settle(window)
    top = window.model.entries[0]
    assert window.preview.entry == top
    return top


def test_an_exact_number_finds_the_invoice_page(qtbot: Any, doc_window: Any) -> None:
    top = search(qtbot, doc_window, "INV-2024-0042")
    assert (top.name, top.kind, top.page, top.type) == ("report.pdf", "document", 3, "text")
    pane = doc_window.preview
    assert pane.why.text() == "Matched text on page 3 · good match"
    assert pane.snippet_box.isVisible()
    assert "<b>INV-2024-0042</b>" in pane.snippet.text()
    assert "[" not in pane.snippet.text()
    assert pane.page.text() == "3"
    assert pane._form.isRowVisible(pane.page)
    assert not pane._form.isRowVisible(pane.dimensions)  # a page has no pixel size
    tooltip = doc_window.model.data(doc_window.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "Matched text on page 3 · good match: “Invoice INV-2024-0042" in tooltip


def test_a_query_in_another_language_finds_the_page(qtbot: Any, doc_window: Any) -> None:
    kind = doc_window.filters.kind
    kind.setCurrentIndex(kind.findData("document"))
    settle(doc_window)
    top = search(qtbot, doc_window, "blue sky")
    assert set(names(doc_window)) <= {"report.pdf", "letter.docx"}
    assert (top.name, top.page) == ("report.pdf", 2)
    assert doc_window.preview.why.text() == "Matched text on page 2 · strong match"
    assert "Le ciel est bleu" in doc_window.preview.snippet.text()


def test_the_pdf_shows_the_render_of_its_page(qtbot: Any, doc_window: Any, tmp_path: Path) -> None:
    top = search(qtbot, doc_window, "INV-2024-0042")
    model = doc_window.model
    qtbot.waitUntil(lambda: isinstance(model.data(model.index(0), THUMB_ROLE), QPixmap))
    thumb = model.data(model.index(0), THUMB_ROLE)
    assert (thumb.width(), thumb.height()) == (198, 256)  # a Letter page, not a photo's shape
    assert cache_file(tmp_path / "thumbs", top.path, THUMB_SIZE, 3).exists()
    assert not cache_file(tmp_path / "thumbs", top.path, THUMB_SIZE, 2).exists()
    # A page with words: dark ink on white paper, where the first line is.
    image = thumb.toImage()
    ink = [image.pixelColor(x, y).lightness() for x in range(20, 120) for y in range(18, 34)]
    assert min(ink) < 120 and max(ink) > 240
    pane = doc_window.preview
    qtbot.waitUntil(
        lambda: pane.picture.pixmap is not None and pane.picture.pixmap.height() == PREVIEW_SIDE
    )
    assert cache_file(tmp_path / "thumbs", top.path, PREVIEW_SIDE, 3).exists()


def test_other_documents_show_a_type_tile(qtbot: Any, doc_window: Any) -> None:
    search(qtbot, doc_window, "garden party")
    model, grid = doc_window.model, doc_window.grid
    row = names(doc_window).index("letter.docx")
    assert model.data(model.index(row), THUMB_ROLE) is None  # nothing to render or decode
    grid.setCurrentIndex(model.index(row))
    assert doc_window.preview.picture.pixmap is not None  # the tile, not "Loading…"
    cell = grid.visualRect(model.index(row))
    shot = grid.viewport().grab(cell).toImage()
    blue = QColor(TYPE_COLOURS["DOCX"])
    hits = sum(
        1
        for x in range(0, shot.width(), 2)
        for y in range(0, shot.height(), 2)
        if shot.pixelColor(x, y) == blue
    )
    assert hits > 50  # the DOCX label on its tile


def test_double_click_opens_the_pdf(qtbot: Any, doc_window: Any, opened_urls: Any) -> None:
    top = search(qtbot, doc_window, "INV-2024-0042")
    centre: QPoint = doc_window.grid.visualRect(doc_window.model.index(0)).center()
    viewport = doc_window.grid.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
    assert opened_urls.paths == [top.path]


def test_snippets_are_escaped_then_marked() -> None:
    raw = "a <script>x</script> & [sky] is [blue] [1"
    assert (
        snippet_html(raw) == "a &lt;script&gt;x&lt;/script&gt; &amp; <b>sky</b> is <b>blue</b> [1"
    )
    assert snippet_text("the\n[sky]  is\tblue") == "the sky is blue"
    long = "word " * 200 + "[end]"
    assert len(snippet_html(long, 60)) <= 61 and snippet_html(long, 60).endswith("…")
