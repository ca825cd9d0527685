"""A rounded, tinted panel drawn from the current palette (so it follows light and dark)."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QFrame, QWidget

TINTS = {
    "neutral": None,  # the palette's highlight, faintly
    "ok": QColor(46, 160, 67),
    "warning": QColor(219, 142, 20),
    "error": QColor(207, 34, 46),
}


class Panel(QFrame):
    def __init__(self, tint: str = "neutral", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tint = tint
        self.setFrameShape(QFrame.Shape.NoFrame)

    def set_tint(self, tint: str) -> None:
        self._tint = tint
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        base = TINTS.get(self._tint) or self.palette().color(QPalette.ColorRole.Highlight)
        fill = QColor(base)
        fill.setAlpha(38)
        edge = QColor(base)
        edge.setAlpha(140)
        painter.setPen(QPen(edge, 1))
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 7, 7)
        painter.end()
        super().paintEvent(event)
