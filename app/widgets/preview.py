"""The preview pane: a larger picture of the current result and what is known about it."""

from __future__ import annotations

import time

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.bridge import FileInfo
from app.models.results import Entry
from app.qt import Signal
from app.thumbnails import ThumbnailCache

PREVIEW_SIDE = 768


def human_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def human_date(ts: float | None) -> str:
    if ts is None:
        return "—"
    return time.strftime("%d %b %Y, %H:%M", time.localtime(ts))


class _Picture(QWidget):
    """The picture at the pane's width, as tall as its aspect ratio says (capped), so the
    details sit right under it whatever its shape."""

    def __init__(self) -> None:
        super().__init__()
        self._pixmap: QPixmap | None = None
        self._text = ""
        self.setMinimumSize(QSize(160, 120))
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_picture(self, pixmap: QPixmap | None, fallback: str = "") -> None:
        self._pixmap = pixmap
        self._text = fallback
        self.updateGeometry()
        self.update()

    def _aspect(self) -> float:
        if self._pixmap is None or self._pixmap.isNull() or self._pixmap.width() == 0:
            return 0.75
        return min(self._pixmap.height() / self._pixmap.width(), 1.4)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return max(120, int(width * self._aspect()))

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._pixmap is None or self._pixmap.isNull():
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._text)
            return
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.rect().center())
        target.moveTop(0)
        painter.drawPixmap(target, self._pixmap)


class PreviewPane(QWidget):
    info_wanted = Signal(str)  # path: the owner fetches FileInfo and calls show_info

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preview")
        self._thumbs = thumbnails
        self._entry: Entry | None = None
        thumbnails.ready.connect(self._thumbnail_ready)

        self.picture = _Picture()
        self.name = QLabel()
        self.name.setWordWrap(True)
        font = self.name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name.setFont(font)
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.folder = self._value()
        self.file_size = self._value()
        self.dimensions = self._value()
        self.taken = self._value()
        self.score = self._value()

        self._form = form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Folder", self.folder)
        form.addRow("Size", self.file_size)
        form.addRow("Dimensions", self.dimensions)
        form.addRow("Taken", self.taken)
        form.addRow("Score", self.score)

        self.empty = QLabel("Select a result to see it here.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.picture)
        layout.addSpacing(6)
        layout.addWidget(self.name)
        layout.addWidget(self.why)
        layout.addLayout(form)
        layout.addWidget(self.empty, 1)
        layout.addStretch(0)
        self.show_entry(None)

    @staticmethod
    def _value() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    @property
    def entry(self) -> Entry | None:
        return self._entry

    def show_entry(self, entry: Entry | None) -> None:
        self._entry = entry
        details = (self.picture, self.name, self.why, self.folder, self.file_size, self.dimensions)
        for w in (*details, self.taken, self.score):
            w.setVisible(entry is not None)
        for row in range(self._form.rowCount()):
            self._form.setRowVisible(row, entry is not None)
        self.empty.setVisible(entry is None)
        if entry is None:
            return
        self.name.setText(entry.name)
        self.why.setText(entry.why())
        self.folder.setText(entry.folder)
        self.file_size.setText(human_size(entry.size))
        self.dimensions.setText(
            f"{entry.width} × {entry.height}" if entry.width and entry.height else "—"
        )
        self.taken.setText(human_date(entry.taken))
        self.score.setText(f"{entry.score:.3f}" if entry.score is not None else "")
        self._form.setRowVisible(self.score, entry.score is not None)
        self._load_picture()
        self.info_wanted.emit(entry.path)

    def show_info(self, info: FileInfo) -> None:
        if self._entry is None or info.path != self._entry.path:
            return
        self.file_size.setText(human_size(info.size))
        if info.width and info.height:
            self.dimensions.setText(f"{info.width} × {info.height}")
        if info.taken is not None:
            self.taken.setText(human_date(info.taken))
        elif info.mtime is not None:
            self.taken.setText(f"{human_date(info.mtime)} (modified)")

    def _load_picture(self) -> None:
        entry = self._entry
        if entry is None:
            return
        pixmap = self._thumbs.get(entry.path, PREVIEW_SIDE)
        if pixmap is None:
            # The grid's smaller thumbnail stands in until the larger one arrives.
            pixmap = self._thumbs.get(entry.path, 256)
        if pixmap is not None:
            self.picture.set_picture(pixmap)
        elif self._thumbs.failed(entry.path, PREVIEW_SIDE):
            self.picture.set_picture(None, "No preview for this file")
        else:
            self.picture.set_picture(None, "Loading…")

    def _thumbnail_ready(self, path: str) -> None:
        if self._entry is not None and path == self._entry.path:
            self._load_picture()
