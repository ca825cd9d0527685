"""The grid stays smooth with 10 000 results: setting, scrolling and painting are cheap."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from app.models.results import Entry, ResultsModel
from app.thumbnails import ThumbnailCache
from app.widgets.grid import ResultsView


def test_ten_thousand_results(qtbot: Any, tmp_path: Path) -> None:
    thumbs = ThumbnailCache(tmp_path / "thumbs")
    model = ResultsModel(thumbs)
    view = ResultsView()
    view.setModel(model)
    view.resize(1200, 800)
    qtbot.addWidget(view)
    view.show()
    entries = [
        Entry(path=str(tmp_path / f"missing-{i}.jpg"), score=1 - i / 10_000) for i in range(10_000)
    ]
    start = time.perf_counter()
    model.set_entries(entries)
    QApplication.processEvents()
    set_s = time.perf_counter() - start

    worst = 0.0
    bar = view.verticalScrollBar()
    for step in range(40):
        t = time.perf_counter()
        bar.setValue(bar.maximum() * step // 39)
        view.viewport().repaint()
        worst = max(worst, time.perf_counter() - t)
    print(
        f"\n10 000 results: set+layout {set_s * 1000:.0f} ms, "
        f"worst scroll+paint {worst * 1000:.1f} ms"
    )
    assert bar.maximum() > 0  # the times are figures (printed above), not limits
    thumbs.wait(5000)


def test_load_more_appends_without_losing_the_place(qtbot: Any) -> None:
    model = ResultsModel()
    first = [Entry(path=f"/p/{i}.jpg", score=1.0) for i in range(200)]
    model.set_entries(first, may_have_more=True)
    inserted: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, a, b: inserted.append((a, b)))
    wanted: list[bool] = []
    model.more_wanted.connect(lambda: wanted.append(True))
    from PySide6.QtCore import QModelIndex

    assert model.canFetchMore(QModelIndex())
    model.fetchMore(QModelIndex())
    assert wanted == [True] and not model.canFetchMore(QModelIndex())
    model.set_entries(first + [Entry(path=f"/q/{i}.jpg") for i in range(600)])
    assert inserted == [(200, 799)]


def test_files_known_by_name_only_get_a_type_tile() -> None:
    assert Entry(path="/p/a.jpg", kind="image").has_picture
    assert Entry(path="/p/a.pdf", kind="document").has_picture
    assert not Entry(path="/p/a.docx", kind="document").has_picture
    assert not Entry(path="/p/movie.mkv", kind="other", type="name").has_picture
    assert Entry(path="/p/movie.mkv", kind="other").type_label == "MKV"
