"""The context menu's actions: open, reveal, copy path, copy image, find similar."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtGui import QGuiApplication

from tests.app.helpers import colours, settle


def first_of(qtbot: Any, window: Any, text: str) -> Any:
    qtbot.keyClicks(window.search, text)
    settle(window)
    entry = window.grid.current_entry()
    assert entry is not None and entry == window.model.entries[0]
    return entry


def test_context_menu_holds_the_actions(qtbot: Any, window: Any) -> None:
    first_of(qtbot, window, "red")
    pos = window.grid.visualRect(window.model.index(1)).center()
    window.grid.customContextMenuRequested.emit(pos)
    texts = [a.text().replace("&", "") for a in window.actions_.menu.actions() if a.text()]
    assert texts == ["Open", "Reveal in folder", "Copy path", "Copy image", "Find similar"]
    assert window.grid.currentIndex().row() == 1  # right-click makes the item current
    window.actions_.menu.close()


def test_copy_path(qtbot: Any, window: Any) -> None:
    entry = first_of(qtbot, window, "green")
    window.actions_.act_copy_path.trigger()
    assert QGuiApplication.clipboard().text() == entry.path
    urls = QGuiApplication.clipboard().mimeData().urls()
    assert [u.toLocalFile() for u in urls] == [entry.path]


def test_copy_image(qtbot: Any, window: Any) -> None:
    first_of(qtbot, window, "yellow")
    QGuiApplication.clipboard().clear()
    window.actions_.act_copy_image.trigger()
    clipboard = QGuiApplication.clipboard()
    qtbot.waitUntil(lambda: (m := clipboard.mimeData()) is not None and m.hasImage())
    image = QGuiApplication.clipboard().image()
    assert (image.width(), image.height()) == (160, 120)


def test_open_and_reveal_go_to_the_desktop(qtbot: Any, window: Any, opened_urls: Any) -> None:
    entry = first_of(qtbot, window, "blue")
    window.actions_.act_open.trigger()
    window.actions_.act_reveal.trigger()
    assert opened_urls.paths == [entry.path, os.path.dirname(entry.path)]


def test_double_click_opens(qtbot: Any, window: Any, opened_urls: Any) -> None:
    from PySide6.QtCore import Qt

    entry = first_of(qtbot, window, "red")
    rect = window.grid.visualRect(window.model.index(0))
    # A real double click is a click, then a double-click event (QTest sends only the latter).
    qtbot.mouseClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(window.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert opened_urls.paths == [entry.path]


def test_find_similar(qtbot: Any, window: Any, picture_library: dict[str, list[Path]]) -> None:
    entry = first_of(qtbot, window, "blue")
    window.search.clear()
    window.actions_.act_similar.trigger()
    settle(window)
    assert window.chip.isVisible() and window.chip.label.text().startswith("like ")
    paths = [e.path for e in window.model.entries]
    assert entry.path not in paths  # the file itself is left out
    assert colours(window)[:2] == ["blue", "blue"]


def test_preview_shows_details(qtbot: Any, window: Any) -> None:
    entry = first_of(qtbot, window, "red")
    pane = window.preview
    assert pane.name.text() == entry.name
    # the file names hold the colour, so the exact word matched first
    assert pane.why.text() == "Matched the file name · strong match"
    qtbot.waitUntil(lambda: pane.dimensions.text() == "160 × 120")
    assert pane.file_size.text().endswith(("bytes", "KB"))
    assert pane.folder.text() == os.path.dirname(entry.path)


def test_preview_shows_the_match_in_words_not_a_cosine(qtbot: Any, window: Any) -> None:
    entry = first_of(qtbot, window, "rouge")
    assert entry.match is not None
    assert window.preview.score.text() == f"strong match ({entry.match:.2f})"
