"""What a new user met in the window (issue 15), each fixed and checked on the real widgets."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from app.models.results import Entry, ResultsModel
from app.widgets.grid import ResultsView
from engine import paths
from tests.app.helpers import colours, settle
from tests.images import write

CLI_WORDS = ("`lanterna", "--model", "--data-dir", "docs/", "lanterna model")


def _texts(window: Any) -> str:
    """Everything the window says in words, where a model error can show."""
    parts = [window.banner.text.text(), window.message.text(), window.index_status.counts.text()]
    parts += [window.welcome.model_headline.text(), window.welcome.model_details.text()]
    return "\n".join(parts)


def test_the_grid_leaves_no_empty_band_at_any_width(qtbot: Any) -> None:
    model = ResultsModel()
    view = ResultsView()
    view.setModel(model)
    qtbot.addWidget(view)
    model.set_entries([Entry(path=f"/nowhere/{i}.jpg", score=1.0) for i in range(60)])
    view.show()
    bands = []
    for width in range(380, 1700, 13):
        view.resize(width, 500)
        QApplication.processEvents()
        columns = len({view.visualRect(model.index(i)).x() for i in range(60)})
        band = view.viewport().width() - columns * view.gridSize().width()
        if band > 8:
            bands.append((width, band))
    assert bands == [], "widths where a column's worth of space is left empty"


def test_the_window_keeps_a_usable_minimum_size(qtbot: Any, window: Any) -> None:
    window.resize(300, 200)
    QApplication.processEvents()
    assert window.width() >= 800 and window.height() >= 540
    bar = window.filters
    for child in (bar.kind, bar.folder, bar.date_from, bar.date_to, bar.reset_button):
        assert bar.rect().contains(child.geometry()), f"{child} is cut off"
        assert child.width() >= child.minimumSizeHint().width()
    window.grid.setCurrentIndex(window.model.index(0))
    QApplication.processEvents()
    pane = window.preview
    picture = QRect(pane.picture.mapTo(pane, pane.picture.rect().topLeft()), pane.picture.size())
    name = QRect(pane.name.mapTo(pane, pane.name.rect().topLeft()), pane.name.size())
    assert pane.name.isVisible() and not picture.intersects(name), "the title is drawn over"


@pytest.mark.qt_log_ignore(r"does not support QPlatformServices::openDocument")
def test_open_says_so_when_nothing_opens_the_file(qtbot: Any, window: Any) -> None:
    """The offscreen platform has no file opener: like a desktop without xdg-open."""
    settle(window)
    window.grid.setCurrentIndex(window.model.index(0))
    entry = window.grid.current_entry()
    window.actions_.act_open.trigger()
    said = window.statusBar().currentMessage()
    assert said == f"No application on this system opens {entry.name}"
    window.statusBar().clearMessage()
    window.open_top()
    assert window.statusBar().currentMessage().startswith("No application on this system opens")


def test_a_missing_model_is_explained_in_the_window_s_words(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path
) -> None:
    window = make_window(model_dir=tmp_path / "no-model")
    qtbot.keyClicks(window.search, "sunset")  # in no file's name: needs meaning
    settle(window)
    assert "needs the model" in window.message.text()
    said = _texts(window)
    assert "no model folder at" in said
    assert not [w for w in CLI_WORDS if w in said], said


def test_find_similar_replaces_the_text_query(qtbot: Any, window: Any) -> None:
    qtbot.keyClicks(window.search, "bleu")
    settle(window)
    source = window.model.entries[0]
    assert source.name.startswith("blue")
    window.actions_.act_similar.trigger()
    settle(window)
    assert window.search.text() == ""
    assert window._request.text == "" and window._request.image_indexed
    assert source.path not in [e.path for e in window.model.entries]
    assert colours(window)[:2] == ["blue", "blue"]


def test_the_label_says_paused_while_paused(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path
) -> None:
    window = make_window()
    status = window.index_status
    more = tmp_path / "more"
    for i in range(12):
        write(more / f"orange-{i}.png", "orange", seed=i, size=(64, 48))
    status.pause.setChecked(True)
    seen: list[int] = []
    window.bridge.progress.connect(lambda p: seen.append(p.done))
    window.bridge.add_folders([str(more)])
    qtbot.waitUntil(lambda: bool(seen) and status.indexing, timeout=10_000)
    assert status.counts.text().startswith("Paused: "), status.counts.text()
    status.pause.setChecked(False)
    qtbot.waitUntil(lambda: status.counts.text().startswith("Indexing… ") or not status.indexing)
    qtbot.waitUntil(lambda: seen[-1] == 12, timeout=20_000)


def test_the_preview_shows_the_current_result_after_indexing(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path
) -> None:
    """New files push the item the user looked at down the recent list: it stays current,
    selected, in sight and in the preview."""
    window = make_window()
    window.resize(1000, 640)
    settle(window)
    last = window.model.index(window.model.rowCount() - 1)
    window.grid.setCurrentIndex(last)
    chosen = window.grid.current_entry()
    assert window.preview._entry == chosen
    more = tmp_path / "more"
    for i in range(40):
        write(more / f"purple-{i}.png", "purple", seed=i, size=(64, 48))
    done: list[Any] = []
    window.bridge.indexed.connect(done.append)
    window.bridge.add_folders([str(more)])
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)
    qtbot.waitUntil(lambda: window.model.rowCount() > 40, timeout=10_000)
    settle(window)
    current = window.grid.currentIndex()
    assert window.grid.current_entry() == chosen
    assert window.grid.selectionModel().isSelected(current)
    assert window.grid.viewport().rect().intersects(window.grid.visualRect(current))
    assert window.preview._entry == chosen


def test_an_empty_result_clears_the_preview(qtbot: Any, window: Any) -> None:
    settle(window)
    window.grid.setCurrentIndex(window.model.index(0))
    assert window.preview._entry is not None
    window.filters.kind.setCurrentIndex(window.filters.kind.findData("document"))
    settle(window)
    assert window.model.rowCount() == 0
    assert window.preview._entry is None


def test_a_data_folder_that_is_a_file_says_so(qtbot: Any, make_window: Any, data_dir: Path) -> None:
    data_dir.write_text("a file, not a folder")
    window = make_window(wait_open=False)
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10_000)
    assert f"the data folder {data_dir} is a file, not a folder" in window.banner.text.text()
    assert "is a file, not a folder" in window.message.text()
    assert window.index_status.counts.text() != "Opening the index…"
    assert "Opening the index" not in window.message.text()


def test_an_unexpected_error_says_where_the_log_is(tmp_path: Path) -> None:
    from app.tasks import where_the_log_is

    handler = logging.FileHandler(tmp_path / "lanterna-gui.log")
    logging.getLogger().addHandler(handler)
    try:
        assert where_the_log_is() == f"details are in the log, {tmp_path / 'lanterna-gui.log'}"
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_the_model_folder_chosen_in_the_window_is_the_command_line_s_too(
    qtbot: Any,
    make_window: Any,
    indexed: Path,
    data_dir: Path,
    tmp_path: Path,
    toy_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from engine.cli import main

    window = make_window(model_dir=None)
    assert window._status["model_error"]
    window.set_model_dir(str(toy_model))
    qtbot.waitUntil(lambda: window._status.get("provider") is not None, timeout=10_000)
    assert paths.recorded_model_dir(data_dir) == toy_model
    capsys.readouterr()
    assert main(["--data-dir", str(data_dir), "--device", "cpu", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["model_dir"] == str(toy_model) and status["model_error"] is None


def test_a_choice_kept_in_the_qt_settings_moves_to_the_data_folder(
    qsettings: Any, tmp_path: Path, toy_model: Path
) -> None:
    from app.main import model_choice, parse_args

    qsettings.setValue("model_dir", str(toy_model))
    data = tmp_path / "data"
    assert model_choice(parse_args([]), data, qsettings) is None
    assert paths.recorded_model_dir(data) == toy_model
    assert qsettings.value("model_dir") is None
    assert model_choice(parse_args(["--model", "/x"]), data, qsettings) == "/x"


def test_an_index_of_another_model_is_explained_in_the_window_s_words(
    qtbot: Any, make_window: Any, indexed: Path, other_toy_model: Path
) -> None:
    window = make_window(model_dir=other_toy_model)
    qtbot.waitUntil(lambda: window.banner.kind == "mismatch", timeout=10_000)
    said = window.banner.text.text()
    assert "made with another model" in said and window.banner.action.text() == "Rebuild index"
    assert not [w for w in CLI_WORDS if w in said], said
