"""Typing, Enter, Esc, filters and recent files, through the real window and engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication

from app.bridge import SearchRequest
from tests.app.helpers import colours, settle


def test_empty_query_shows_recent_files(
    window: Any, picture_library: dict[str, list[Path]]
) -> None:
    total = sum(len(v) for v in picture_library.values())
    assert window.model.rowCount() == total
    assert all(e.score is None for e in window.model.entries)
    assert window.results_stack.currentWidget() is window.grid


def test_typing_a_query_fills_the_grid_best_first(qtbot: Any, window: Any) -> None:
    qtbot.keyClicks(window.search, "rouge")
    settle(window)
    assert colours(window)[:3] == ["red", "red", "red"]
    top = window.model.entries[0]
    assert top.match is not None and top.match >= window.model.entries[-1].match
    assert set(colours(window)) == {"red"}  # only what matches: the cut-off hides the rest
    assert window.preview.entry == top  # the top result is current and previewed
    tip = window.model.data(window.model.index(0), Qt.ItemDataRole.ToolTipRole)
    assert "strong match" in tip and "Score" not in tip  # a word people read, not a cosine


def test_no_good_matches_then_the_nearest_anyway(qtbot: Any, window: Any) -> None:
    qtbot.keyClicks(window.search, "Zanzibar ")
    settle(window)
    assert window.model.rowCount() == 0
    assert "No good matches" in window.message.text()
    assert window.show_nearest.isVisibleTo(window)
    window.show_nearest.click()
    settle(window)
    assert window.show_weak.isChecked() and window.model.rowCount() > 0
    assert all(e.weak and e.strength == "weak match" for e in window.model.entries)
    assert window.filters.count.text().startswith("0 good, then ")
    window.show_weak.setChecked(False)
    settle(window)
    assert window.model.rowCount() == 0


def type_text(widget: Any, text: str) -> None:
    """As an input method commits text (QTest can only type Latin-1 keys)."""
    event = QInputMethodEvent()
    event.setCommitString(text)
    QApplication.sendEvent(widget, event)


def test_multilingual_queries(qtbot: Any, window: Any) -> None:
    for text, colour in (
        ("blau", "blue"),
        ("緑", "green"),
        ("jaune", "yellow"),
        ("красный", "red"),
    ):
        window.search.clear()
        type_text(window.search, text)
        settle(window)
        assert colours(window)[0] == colour, text


def test_enter_opens_the_top_result(qtbot: Any, window: Any, opened_urls: Any) -> None:
    qtbot.keyClicks(window.search, "blue")
    qtbot.keyClick(window.search, Qt.Key.Key_Return)  # before the debounce fires
    settle(window)
    qtbot.waitUntil(lambda: len(opened_urls.urls) == 1)
    assert Path(opened_urls.paths[0]).name.startswith("blue-")


def test_escape_clears_and_shows_recent_files(qtbot: Any, window: Any) -> None:
    qtbot.keyClicks(window.search, "red")
    settle(window)
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    settle(window)
    assert window.search.text() == ""
    assert all(e.score is None for e in window.model.entries)


def test_ctrl_f_and_ctrl_l_focus_the_search_box(qtbot: Any, window: Any) -> None:
    window.activateWindow()
    window.grid.setFocus()
    window.act_find.trigger()
    assert window.search.hasFocus() or window.focusWidget() is window.search


def test_down_moves_into_the_grid_and_up_comes_back(qtbot: Any, window: Any) -> None:
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Down)
    assert window.focusWidget() is window.grid
    assert window.grid.currentIndex().row() == 0
    qtbot.keyClick(window.grid, Qt.Key.Key_Up)
    assert window.focusWidget() is window.search
    qtbot.keyClick(window.search, Qt.Key.Key_Down)
    qtbot.keyClick(window.grid, Qt.Key.Key_Right)
    assert window.grid.currentIndex().row() == 1
    assert window.preview.entry == window.model.entries[1]
    qtbot.keyClick(window.grid, Qt.Key.Key_Escape)
    assert window.focusWidget() is window.search


def test_kind_filter(qtbot: Any, window: Any) -> None:
    qtbot.keyClicks(window.search, "red")
    settle(window)
    window.filters.kind.setCurrentIndex(window.filters.kind.findData("document"))
    settle(window)
    assert window.model.rowCount() == 0
    assert "No good matches" in window.message.text()
    window.filters.reset()
    settle(window)
    assert window.model.rowCount() > 0


def test_folder_filter(
    qtbot: Any, make_window: Any, data_dir: Path, toy_model: Path, tmp_path: Path
) -> None:
    from engine.library import Library
    from tests.images import write

    a, b = tmp_path / "a", tmp_path / "b"
    write(a / "red-a.png", "red")
    write(b / "red-b.png", "red", seed=1)
    with Library(data_dir, toy_model, device="cpu") as lib:
        lib.add_folders([a, b])
        lib.index()
    window = make_window()
    qtbot.keyClicks(window.search, "red")
    settle(window)
    assert sorted(e.name for e in window.model.entries) == ["red-a.png", "red-b.png"]
    combo = window.filters.folder
    combo.setCurrentIndex(combo.findData(str(b)))
    settle(window)
    assert [e.name for e in window.model.entries] == ["red-b.png"]


def test_stale_results_are_dropped(qtbot: Any, window: Any) -> None:
    settle(window)
    seen: list[SearchRequest] = []
    window.bridge.search_done.connect(lambda req, _entries: seen.append(req))
    # Typed over before the first answer came: through the window's own path, so that a
    # refresh of its own (indexing going on) asks for the current query again, never another.
    window.search.setText("red")
    window.run_search()
    window.search.setText("blue")
    window.run_search()
    qtbot.waitUntil(lambda: any(r.text == "blue" for r in seen), timeout=15_000)
    settle(window)
    assert {r.text for r in seen} == {"blue"}  # red's answer, now stale, never arrived
    assert window._shown is not None and window._shown.text == "blue"


def test_a_refresh_of_the_same_query_keeps_the_place(qtbot: Any, window: Any) -> None:
    window.resize(760, 520)  # held at the window's minimum size
    window.splitter.setSizes([200, 600])  # one column, so that the results overflow the grid
    qtbot.keyClicks(window.search, "red")
    settle(window)
    bar = window.grid.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    window.grid.setCurrentIndex(window.model.index(window.model.rowCount() - 1))
    bar.setValue(bar.maximum())
    before = (bar.value(), window.grid.currentIndex().row())
    window._live_refresh(force=True)  # as when indexing goes on
    settle(window)
    assert (bar.value(), window.grid.currentIndex().row()) == before
