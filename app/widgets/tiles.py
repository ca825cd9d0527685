"""File-type tiles: what a document shows until its page is rendered, or instead of a render.

PDF pages have pictures; a DOCX, a Markdown note or an EPUB has none worth showing (its text is
what was indexed). Such a file gets a sheet of paper with a folded corner, a few faint lines and its
type on a coloured label, drawn with QPainter at any size, so the grid and the preview share it.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPixmap, QPolygonF

SHEET_RATIO = 0.77  # width ÷ height, about A4 and Letter

# The colours people know these types by (the suites' own), muted a little.
TYPE_COLOURS = {
    "PDF": "#c9372c",
    "DOCX": "#2f5b9c",
    "DOC": "#2f5b9c",
    "ODT": "#2a72b5",
    "RTF": "#2f5b9c",
    "PPTX": "#c4532d",
    "ODP": "#c4532d",
    "EPUB": "#5a8a2b",
    "HTML": "#d0602a",
    "MD": "#4a5568",
    "RST": "#4a5568",
    "TXT": "#5f6873",
}
OTHER_COLOUR = "#6b6f76"
PAPER = QColor("#fbfbfa")
EDGE = QColor(0, 0, 0, 55)
FOLD = QColor("#dfe2e6")
LINES = QColor("#d7dade")


def sheet_rect(box: QRect | QRectF) -> QRectF:
    """The largest sheet of paper (at :data:`SHEET_RATIO`) centred in ``box``."""
    box = QRectF(box)
    h = min(box.height(), box.width() / SHEET_RATIO)
    w = h * SHEET_RATIO
    return QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h)


def paint_tile(painter: QPainter, box: QRect | QRectF, label: str) -> QRectF:
    """Paint the tile for a file of type ``label`` ("DOCX", "MD"…) in ``box``; returns the
    sheet's rectangle."""
    label = (label or "FILE").upper()[:5]
    sheet = sheet_rect(box)
    fold = sheet.width() * 0.24
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)

    outline = QPainterPath()
    outline.moveTo(sheet.topLeft())
    outline.lineTo(sheet.right() - fold, sheet.top())
    outline.lineTo(sheet.right(), sheet.top() + fold)
    outline.lineTo(sheet.bottomRight())
    outline.lineTo(sheet.bottomLeft())
    outline.closeSubpath()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 28))  # a soft shadow, so white paper shows on white
    painter.drawPath(outline.translated(0, max(1.0, sheet.height() * 0.012)))
    painter.setBrush(PAPER)
    painter.setPen(EDGE)
    painter.drawPath(outline)
    corner = QPolygonF(
        [
            QPointF(sheet.right() - fold, sheet.top()),
            QPointF(sheet.right() - fold, sheet.top() + fold),
            QPointF(sheet.right(), sheet.top() + fold),
        ]
    )
    painter.setBrush(FOLD)
    painter.drawPolygon(corner)

    # Faint lines of "text" above the label.
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(LINES)
    margin = sheet.width() * 0.14
    line_h = max(1.5, sheet.height() * 0.026)
    y = sheet.top() + fold + line_h
    for width in (0.55, 0.72, 0.64, 0.7):
        length = (sheet.width() - 2 * margin) * width / 0.72
        painter.drawRoundedRect(
            QRectF(sheet.left() + margin, y, length, line_h), line_h / 2, line_h / 2
        )
        y += line_h * 2.1

    # The label sits above the lower quarter, which the grid's page badge may cover.
    pill_h = sheet.height() * 0.2
    pill = QRectF(
        sheet.left() + margin * 0.7,
        sheet.top() + sheet.height() * 0.5,
        sheet.width() - margin * 1.4,
        pill_h,
    )
    painter.setBrush(QColor(TYPE_COLOURS.get(label, OTHER_COLOUR)))
    painter.drawRoundedRect(pill, pill_h * 0.22, pill_h * 0.22)
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(max(6, int(pill_h * (0.5 if len(label) <= 4 else 0.42))))
    painter.setFont(font)
    painter.setPen(QColor("white"))
    painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, label)
    painter.restore()
    return sheet


def tile_pixmap(label: str, size: QSize, ratio: float = 1.0) -> QPixmap:
    """The tile as a picture of ``size`` (logical pixels) on a clear background."""
    pixmap = QPixmap(size * ratio)
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    paint_tile(painter, QRectF(0, 0, size.width(), size.height()), label)
    painter.end()
    return pixmap
