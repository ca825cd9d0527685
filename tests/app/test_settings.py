"""Folders & settings: folders, exclude patterns, the device in use, the index, the theme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from app.theme import DARK, LIGHT, ThemeFollower, is_dark
from app.views.settings import SettingsDialog
from tests.images import write


def dialog_for(qtbot: Any, window: Any) -> SettingsDialog:
    window.bridge.refresh_status()
    qtbot.waitUntil(lambda: window._status.get("provider") is not None)
    dialog = SettingsDialog(
        window.bridge, window._status, device="cpu", theme="system", tray=False, parent=window
    )
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.excludes.toPlainText() != "")
    return dialog


def test_settings_show_what_is_in_use(qtbot: Any, window: Any, photos: Path) -> None:
    dialog = dialog_for(qtbot, window)
    assert dialog.in_use.text() == "the CPU"
    assert dialog.device.currentData() == "cpu"
    assert [dialog.folder_list.item(i).text() for i in range(dialog.folder_list.count())] == [
        str(photos)
    ]
    assert dialog.index_path.text().endswith("index.db")
    assert dialog.index_size.text() != "—"
    assert "node_modules" in dialog.excludes.toPlainText()
    assert "10 files indexed" in dialog.index_counts.text()


def test_exclude_patterns_apply(qtbot: Any, window: Any, photos: Path) -> None:
    dialog = dialog_for(qtbot, window)
    dialog.excludes.setPlainText("red-*")
    window._apply(dialog)
    qtbot.waitUntil(lambda: window._status["files"]["indexed"] == 7, timeout=10_000)


def test_add_and_remove_a_folder(qtbot: Any, window: Any, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    write(extra / "white-1.png", "white")
    dialog = dialog_for(qtbot, window)
    window.bridge.add_folders([str(extra)])
    qtbot.waitUntil(lambda: dialog.folder_list.count() == 2, timeout=10_000)
    qtbot.waitUntil(lambda: window._status["files"]["indexed"] == 11, timeout=10_000)
    assert window.filters.folder.findData(str(extra)) > 0
    dialog.folder_list.setCurrentRow(
        [dialog.folder_list.item(i).text() for i in range(2)].index(str(extra))
    )
    from PySide6.QtWidgets import QMessageBox

    QTimer.singleShot(0, lambda: _answer(QMessageBox.StandardButton.Yes))
    dialog._remove_folder()
    qtbot.waitUntil(lambda: dialog.folder_list.count() == 1, timeout=10_000)


def _answer(button: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        box.button(button).click()


def test_rebuild_embeds_everything_again(qtbot: Any, window: Any) -> None:
    totals: list[int] = []
    window.bridge.progress.connect(lambda p: totals.append(p.total))
    window.bridge.rebuild()
    qtbot.waitUntil(lambda: 10 in totals, timeout=10_000)
    qtbot.waitUntil(lambda: window._status["files"]["indexed"] == 10, timeout=10_000)


def test_palettes_follow_the_choice(qapp: Any) -> None:
    follower = ThemeFollower(qapp, DARK)
    assert qapp.palette().window().color().lightness() < 80
    follower.set_mode(LIGHT)
    assert qapp.palette().window().color().lightness() > 200
    follower.set_mode("system")
    assert is_dark("system") == (qapp.palette().window().color().lightness() < 80)


def test_dialog_cancels_without_changes(qtbot: Any, window: Any) -> None:
    dialog = dialog_for(qtbot, window)
    QTimer.singleShot(0, dialog.reject)
    assert dialog.exec() == QDialog.DialogCode.Rejected
