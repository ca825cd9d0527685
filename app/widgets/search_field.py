"""The search box and the image chip beside it."""

from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPixmap,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget

from app.qt import Signal
from app.tasks import Tasks
from app.thumbnails import ThumbnailCache, image_from_bytes
from app.widgets import drops
from app.widgets.panel import Panel

CHIP_SIDE = 64


class SearchField(QLineEdit):
    """A line edit that takes images too: a dropped image file or image data, or Ctrl+V of an
    image, becomes an image query instead of text."""

    image_given = Signal(object)  # str path or bytes
    escape = Signal()
    down = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Search your photos and documents — type, drop or paste an image")
        self.setClearButtonEnabled(True)
        self.setAccessibleName("Search")
        self.setMinimumHeight(34)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if drops.has_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if drops.has_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        image = drops.image_query(event.mimeData())
        if image is not None:
            event.acceptProposedAction()
            self.image_given.emit(image)
        else:
            super().dropEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            image = drops.pasted_image(QGuiApplication.clipboard().mimeData())
            if image is not None:
                self.image_given.emit(image)
                return
        if event.key() == Qt.Key.Key_Escape:
            self.escape.emit()
            return
        if event.key() == Qt.Key.Key_Down:
            self.down.emit()
            return
        super().keyPressEvent(event)


class QueryChip(Panel):
    """The query image, shown beside the text as a small removable chip; its +/− button makes
    it count for the query ("more like this") or against it ("less like this")."""

    removed = Signal()
    sign_changed = Signal(bool)  # True: the image counts against the query

    def __init__(
        self, thumbnails: ThumbnailCache, tasks: Tasks, parent: QWidget | None = None
    ) -> None:
        super().__init__("neutral", parent)
        self._thumbs = thumbnails
        self._tasks = tasks
        self._image: str | bytes | None = None
        thumbnails.ready.connect(self._thumbnail_ready)
        self.setObjectName("queryChip")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(6)
        self.thumb = QLabel()
        self.thumb.setFixedSize(QSize(28, 28))
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label = QLabel()
        self.sign_button = QToolButton()
        self.sign_button.setCheckable(True)
        self.sign_button.setAutoRaise(True)
        self.sign_button.setAccessibleName("Count the image for or against the query")
        self.sign_button.toggled.connect(self._sign_toggled)
        self._sign_toggled(False, emit=False)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Remove the image from the query")
        self.close_button.setAccessibleName("Remove image")
        self.close_button.clicked.connect(self.removed)
        layout.addWidget(self.sign_button)
        layout.addWidget(self.thumb)
        layout.addWidget(self.label)
        layout.addWidget(self.close_button)
        self.setVisible(False)

    def show_image(self, image: str | bytes, similar: bool = False) -> None:
        if isinstance(image, str):
            name = os.path.basename(image)
            text = f"like {name}" if similar else name
            self.setToolTip(image)
        else:
            text = "pasted image"
            self.setToolTip("An image from the clipboard or dragged from another app")
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, 180))
        self.thumb.clear()
        self._image = image
        self.setVisible(True)
        if isinstance(image, str):
            self._thumbnail_ready(image)
        else:
            # Pasted screenshots can be large: decoded on a worker like any thumbnail.
            self._tasks.submit(
                lambda: image_from_bytes(image, CHIP_SIDE), self._decoded, lambda _exc: None
            )

    @property
    def negative(self) -> bool:
        return self.sign_button.isChecked()

    def _sign_toggled(self, negative: bool, emit: bool = True) -> None:
        self.sign_button.setText("−" if negative else "+")
        self.sign_button.setToolTip(
            "Less like this image: click to count it for the query"
            if negative
            else "More like this image: click to count it against the query"
        )
        if emit:
            self.sign_changed.emit(negative)

    def clear(self) -> None:
        self._image = None
        self.thumb.clear()
        self.sign_button.setChecked(False)
        self.setVisible(False)

    def _thumbnail_ready(self, path: str) -> None:
        if isinstance(self._image, str) and path == self._image:
            pixmap = self._thumbs.get(path, CHIP_SIDE)
            if pixmap is not None:
                self.set_thumbnail(pixmap)

    def _decoded(self, image: QImage | None) -> None:
        if image is not None and isinstance(self._image, bytes):
            self.set_thumbnail(QPixmap.fromImage(image))

    def set_thumbnail(self, pixmap: QPixmap) -> None:
        self.thumb.setPixmap(
            pixmap.scaled(
                self.thumb.size(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
