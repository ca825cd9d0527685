"""The optional tray icon: with it, closing the window hides it and indexing goes on."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QSystemTrayIcon

from app.icon import app_icon


def available() -> bool:
    return bool(QSystemTrayIcon.isSystemTrayAvailable())


def make_tray(window: QMainWindow, quit_action: QAction) -> QSystemTrayIcon:
    def show() -> None:
        window.showNormal()
        window.raise_()
        window.activateWindow()

    tray = QSystemTrayIcon(app_icon(), window)
    tray.setToolTip("Lanterna keeps your index up to date")
    menu = QMenu(window)
    menu.addAction("Show Lanterna", show)
    menu.addAction(quit_action)
    tray.setContextMenu(menu)
    tray.activated.connect(lambda _reason: show())
    tray.show()
    return tray
