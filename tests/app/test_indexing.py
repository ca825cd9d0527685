"""First run, adding folders, progress, pause, errors, the model missing, quitting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt

from app.views.main_window import GRID, RESULTS, WELCOME
from tests.app.helpers import colours, settle
from tests.images import write


def test_first_run_welcome_then_indexing_to_done(
    qtbot: Any, make_window: Any, photos: Path, picture_library: Any
) -> None:
    window = make_window()
    assert window.pages.currentIndex() == WELCOME
    qtbot.waitUntil(lambda: window.welcome.model_headline.text().startswith("● Ready"))
    assert "the CPU" in window.welcome.model_details.text()
    assert not window.welcome.start_button.isEnabled()  # nothing chosen yet

    window.welcome.add_path(str(photos))
    progress: list[tuple[int, int]] = []
    window.bridge.progress.connect(lambda p: progress.append((p.done, p.total)))
    qtbot.mouseClick(window.welcome.start_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentIndex() == RESULTS  # usable at once

    total = sum(len(v) for v in picture_library.values())
    qtbot.waitUntil(lambda: bool(progress) and progress[-1] == (total, total), timeout=10_000)
    bar = window.index_status.bar
    assert (bar.value(), bar.maximum()) == (total, total)
    qtbot.waitUntil(lambda: "10 files indexed" in window.index_status.counts.text())
    qtbot.waitUntil(lambda: window.model.rowCount() == total)  # recent files appear
    qtbot.keyClicks(window.search, "red")
    settle(window)
    assert colours(window)[:3] == ["red"] * 3


def test_progress_bar_moves_while_indexing(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path
) -> None:
    window = make_window()
    more = tmp_path / "more"
    for i in range(40):
        write(more / f"purple-{i}.png", "purple", seed=i, size=(64, 48))
    seen: list[int] = []
    window.bridge.progress.connect(lambda p: seen.append(window.index_status.bar.value()))
    window.bridge.add_folders([str(more)])
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 40, timeout=10_000)
    assert not window.index_status.bar.isVisible()  # hidden once done
    qtbot.keyClicks(window.search, "purple")
    settle(window)
    assert colours(window)[:5] == ["purple"] * 5


def test_pause_and_resume(qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path) -> None:
    window = make_window()
    status = window.index_status
    status.pause.setChecked(True)
    assert window.bridge.paused and status.pause.text() == "Resume"
    more = tmp_path / "more"
    for i in range(12):
        write(more / f"orange-{i}.png", "orange", seed=i, size=(64, 48))
    seen: list[int] = []
    window.bridge.progress.connect(lambda p: seen.append(p.done))
    window.bridge.add_folders([str(more)])
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    qtbot.wait(600)
    assert max(seen) < 12  # held while paused
    status.pause.setChecked(False)
    qtbot.waitUntil(lambda: seen[-1] == 12, timeout=10_000)


def test_errors_are_listed_and_can_be_retried(
    qtbot: Any, make_window: Any, photos: Path, picture_library: Any
) -> None:
    broken = photos / "broken.jpg"
    broken.write_bytes(b"not a picture at all")
    window = make_window()
    window.welcome.add_path(str(photos))
    qtbot.mouseClick(window.welcome.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.index_status.errors.isVisible(), timeout=10_000)
    assert "1 error" in window.index_status.errors.text()
    window.index_status.errors.click()
    dialog = window._errors_dialog
    qtbot.waitUntil(lambda: dialog.tree.topLevelItemCount() == 1)
    assert dialog.tree.topLevelItem(0).text(0).endswith("broken.jpg")
    assert dialog.tree.topLevelItem(0).text(1)
    write(broken, "red", seed=11)  # fixed by the user
    dialog.retry_button.click()
    qtbot.waitUntil(lambda: not window.index_status.errors.isVisible(), timeout=10_000)


def test_model_missing_is_explained(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path
) -> None:
    window = make_window(model_dir=tmp_path / "no-model")
    assert window._status["model_error"]
    assert window.banner.isVisible()
    assert "model is missing" in window.banner.text.text()
    assert window.banner.action.text() == "Choose model folder…"
    qtbot.keyClicks(window.search, "sunset")  # no file holds the word: by meaning only
    settle(window)
    assert window.model.rowCount() == 0
    message = window.message.text()
    assert "needs the model" in message and "File › Get the model…" in message
    # The window's own words, not the command line's hint ("point --model at a folder").
    assert "--model" not in message and "`lanterna" not in message, message


def test_without_the_model_exact_words_still_find_files(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path, picture_library: Any
) -> None:
    window = make_window(model_dir=tmp_path / "no-model")
    qtbot.keyClicks(window.search, "red")  # the photos' names hold it: found by name
    settle(window)
    entries = [window.model.entry(i) for i in range(window.model.rowCount())]
    assert {e.path for e in entries if e} == {str(p) for p in picture_library["red"]}
    count = window.filters.count.text()
    assert count.endswith("holding these words (by meaning once the model is there)"), count
    assert window.results_stack.currentIndex() == GRID


def test_choosing_the_model_folder_cures_it(
    qtbot: Any, make_window: Any, indexed: Path, tmp_path: Path, toy_model: Path
) -> None:
    window = make_window(model_dir=tmp_path / "no-model")
    assert window.banner.isVisible()
    window.set_model_dir(str(toy_model))
    qtbot.waitUntil(
        lambda: window._status.get("provider") == "CPUExecutionProvider", timeout=10_000
    )
    assert not window.banner.isVisible()
    qtbot.keyClicks(window.search, "rouge")
    settle(window)
    assert colours(window)[0] == "red"


def test_first_run_without_model(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    window = make_window(model_dir=tmp_path / "none")
    assert window.pages.currentIndex() == WELCOME
    assert window.welcome.model_headline.text().startswith("▲")
    assert "jina-clip-v2" in window.welcome.model_details.text()
    assert window.welcome.model_button.isVisible()
    assert not window.banner.isVisible()  # the welcome page says it already
    window._welcome_start([str(tmp_path)])
    assert window.banner.isVisible()


def test_quits_cleanly_and_saves_geometry(
    qtbot: Any, make_window: Any, indexed: Path, qsettings: QSettings
) -> None:
    window = make_window()
    thread = window.bridge._thread
    assert thread is not None and thread.is_alive()
    window.resize(760, 520)
    size = (window.width(), window.height())
    window.close()
    assert not thread.is_alive()
    assert window.bridge._lib is None
    assert isinstance(qsettings.value("window/geometry"), QByteArray)
    again = make_window()
    assert (again.width(), again.height()) == size


def test_without_a_tray_closing_quits(
    qtbot: Any, make_window: Any, indexed: Path, qsettings: QSettings
) -> None:
    from PySide6.QtWidgets import QSystemTrayIcon

    qsettings.setValue("tray", True)  # wanted, but this desktop (offscreen) has no tray
    window = make_window()
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    assert window._tray is None
    thread = window.bridge._thread
    window.close()
    assert thread is not None and not thread.is_alive()
