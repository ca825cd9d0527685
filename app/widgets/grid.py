"""The results grid: a virtualised QListView in icon mode with a painting delegate.

Uniform item sizes and a static layout keep 10 000 results cheap: Qt lays out by arithmetic and
the delegate paints only visible cells, asking the thumbnail cache for just those. A document shows
the render of the page that matched (a PDF) or a file-type tile, with its page number.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPainterPath, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.models.results import ENTRY_ROLE, THUMB_ROLE, Entry
from app.qt import Signal
from app.widgets.tiles import EDGE, paint_tile

MIN_CELL_W = 180
CELL = QSize(MIN_CELL_W, 196)
THUMB_H = 150
TEXT_H = 24

Index = QModelIndex | QPersistentModelIndex


class ThumbnailDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return CELL

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        entry = index.data(ENTRY_ROLE)
        if not isinstance(entry, Entry):
            return
        pal: QPalette = option.palette
        rect: QRect = option.rect
        state = option.state
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        cell = rect.adjusted(4, 4, -4, -4)
        selected = bool(state & QStyle.StateFlag.State_Selected)
        hovered = bool(state & QStyle.StateFlag.State_MouseOver)
        if selected or hovered:
            colour = QColor(pal.color(QPalette.ColorRole.Highlight))
            colour.setAlpha(255 if selected else 60)
            path = QPainterPath()
            path.addRoundedRect(cell, 8, 8)
            painter.fillPath(path, colour)

        box = QRect(cell.left() + 8, cell.top() + 8, cell.width() - 16, THUMB_H)
        pixmap = index.data(THUMB_ROLE)
        picture = box
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
            picture = QRect(0, 0, size.width(), size.height())
            picture.moveCenter(box.center())
            painter.drawPixmap(picture, pixmap)
            if entry.is_document:  # white paper on a white view needs an edge
                painter.setPen(EDGE)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(picture.adjusted(0, 0, -1, -1))
        elif entry.is_document:
            picture = paint_tile(painter, box.adjusted(0, 6, 0, -6), entry.type_label).toRect()
        else:
            self._placeholder(painter, box, entry, pal)

        if entry.is_document:
            self._badge(painter, picture, f"p. {entry.page}")

        text_rect = QRect(cell.left() + 6, box.bottom() + 8, cell.width() - 12, TEXT_H)
        painter.setPen(
            pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        )
        name = painter.fontMetrics().elidedText(
            entry.name, Qt.TextElideMode.ElideMiddle, text_rect.width()
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        if state & QStyle.StateFlag.State_HasFocus:
            pen = painter.pen()
            pen.setColor(pal.color(QPalette.ColorRole.Highlight).lighter(130))
            pen.setWidth(2)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(cell, 8, 8)
        painter.restore()

    @staticmethod
    def _placeholder(painter: QPainter, box: QRect, entry: Entry, pal: QPalette) -> None:
        inner = box.adjusted(24, 24, -24, -24)
        colour = QColor(pal.color(QPalette.ColorRole.Mid))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(inner, 6, 6)
        painter.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(inner, Qt.AlignmentFlag.AlignCenter, entry.type_label)

    @staticmethod
    def _badge(painter: QPainter, box: QRect, text: str) -> None:
        """A dark pill in the picture's lower right corner."""
        metrics = painter.fontMetrics()
        w = metrics.horizontalAdvance(text) + 12
        h = metrics.height() + 4
        badge = QRect(box.right() - w - 4, box.bottom() - h - 4, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(badge, h / 2, h / 2)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)


class ResultsView(QListView):
    """Icon-mode grid; Enter opens, Up from the first row returns to the search box."""

    activated_entry = Signal(object)  # Entry
    leave_top = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setGridSize(CELL)
        self.setSpacing(0)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)  # hover highlight
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setItemDelegate(ThumbnailDelegate(self))
        self.setAccessibleName("Results")
        self.setFrameShape(QListView.Shape.NoFrame)
        # Always on, so the columns do not jump when a list grows past one screen.
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.doubleClicked.connect(self._open)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Cells share out the whole width, so no ragged empty band is left on the right. Qt
        # wraps a row whose cells would fill the width exactly, so they leave it one pixel.
        width = self.viewport().width()
        cell_w = (width - 1) // max(1, width // MIN_CELL_W)
        if cell_w != self.gridSize().width():
            self.setGridSize(QSize(cell_w, CELL.height()))

    def _open(self, index: QModelIndex) -> None:
        entry = index.data(ENTRY_ROLE)
        if isinstance(entry, Entry):
            self.activated_entry.emit(entry)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self._open(self.currentIndex())
            return
        if key == Qt.Key.Key_Escape:
            self.leave_top.emit()
            return
        if key == Qt.Key.Key_Up:
            current = self.currentIndex()
            if (
                not current.isValid()
                or self.visualRect(current).top() <= self.visualRect(self.model().index(0, 0)).top()
            ):
                self.leave_top.emit()
                return
        super().keyPressEvent(event)

    def current_entry(self) -> Entry | None:
        entry = self.currentIndex().data(ENTRY_ROLE)
        return entry if isinstance(entry, Entry) else None

    def selected_entries(self) -> list[Entry]:
        rows = sorted(i.row() for i in self.selectionModel().selectedIndexes())
        model = self.model()
        out = []
        for row in rows:
            entry = model.index(row, 0).data(ENTRY_ROLE)
            if isinstance(entry, Entry):
                out.append(entry)
        return out
