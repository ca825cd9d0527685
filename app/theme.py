"""Light and dark palettes that follow the system (Qt 6.5+ colour scheme), or a user's choice.

Fusion is used where Qt's native style does not switch palettes itself (Linux, Windows), as Anki
does; macOS keeps its native style, which follows the system already.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

SYSTEM, LIGHT, DARK = "system", "light", "dark"

_DARK = {
    QPalette.ColorRole.Window: "#202124",
    QPalette.ColorRole.WindowText: "#e8eaed",
    QPalette.ColorRole.Base: "#17181a",
    QPalette.ColorRole.AlternateBase: "#26282c",
    QPalette.ColorRole.ToolTipBase: "#303134",
    QPalette.ColorRole.ToolTipText: "#e8eaed",
    QPalette.ColorRole.PlaceholderText: "#9aa0a6",
    QPalette.ColorRole.Text: "#e8eaed",
    QPalette.ColorRole.Button: "#2d2f33",
    QPalette.ColorRole.ButtonText: "#e8eaed",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: "#c77d1e",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#f0a54a",
    QPalette.ColorRole.Light: "#3c4043",
    QPalette.ColorRole.Midlight: "#34363a",
    QPalette.ColorRole.Mid: "#2a2c30",
    QPalette.ColorRole.Dark: "#111214",
    QPalette.ColorRole.Shadow: "#000000",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f3f3f1",
    QPalette.ColorRole.WindowText: "#1f1f1f",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f6f5f2",
    QPalette.ColorRole.ToolTipBase: "#fffbe6",
    QPalette.ColorRole.ToolTipText: "#1f1f1f",
    QPalette.ColorRole.PlaceholderText: "#80868b",
    QPalette.ColorRole.Text: "#1f1f1f",
    QPalette.ColorRole.Button: "#ebeae6",
    QPalette.ColorRole.ButtonText: "#1f1f1f",
    QPalette.ColorRole.BrightText: "#ffffff",
    QPalette.ColorRole.Highlight: "#d9861c",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#a65f00",
    QPalette.ColorRole.Light: "#ffffff",
    QPalette.ColorRole.Midlight: "#f0efeb",
    QPalette.ColorRole.Mid: "#c9c7c1",
    QPalette.ColorRole.Dark: "#9f9d97",
    QPalette.ColorRole.Shadow: "#5f5e5a",
}

_DISABLED_DARK = {
    QPalette.ColorRole.WindowText: "#7f8388",
    QPalette.ColorRole.Text: "#7f8388",
    QPalette.ColorRole.ButtonText: "#7f8388",
}
_DISABLED_LIGHT = {
    QPalette.ColorRole.WindowText: "#9c9c9c",
    QPalette.ColorRole.Text: "#9c9c9c",
    QPalette.ColorRole.ButtonText: "#9c9c9c",
}


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return bool(hints.colorScheme() == Qt.ColorScheme.Dark)


def palette(dark: bool) -> QPalette:
    pal = QPalette()
    for role, colour in (_DARK if dark else _LIGHT).items():
        pal.setColor(role, QColor(colour))
    for role, colour in (_DISABLED_DARK if dark else _DISABLED_LIGHT).items():
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return pal


def is_dark(mode: str) -> bool:
    return mode == DARK or (mode == SYSTEM and system_is_dark())


def apply(app: QApplication, mode: str = SYSTEM) -> bool:
    """Set the palette for ``mode``; returns whether it is dark."""
    if sys.platform != "darwin" and app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    dark = is_dark(mode)
    app.setPalette(palette(dark))
    app.setProperty("lanterna_dark", dark)
    return dark


class ThemeFollower:
    """Re-applies the palette when the system switches between light and dark."""

    def __init__(self, app: QApplication, mode: str = SYSTEM) -> None:
        self.app = app
        self.mode = mode
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._system_changed)
        apply(app, mode)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        apply(self.app, mode)

    def _system_changed(self, _scheme: Qt.ColorScheme) -> None:
        if self.mode == SYSTEM:
            apply(self.app, SYSTEM)
