"""The preview pane: a larger picture of the current result and what is known about it.

A document shows the page that matched (a PDF page's render, else its file-type tile), the page
number, why it matched and the matching passage with the matched words in bold. Where the match
is text read from the picture (OCR), the line is shown and its place on the picture is marked.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from app.bridge import FileInfo
from app.models.results import THUMB_SIZE, Entry, snippet_html
from app.qt import Signal
from app.thumbnails import ThumbnailCache
from app.widgets.panel import Panel
from app.widgets.tiles import EDGE, tile_pixmap

PREVIEW_SIDE = 768
TILE = QSize(180, 234)
PAGE_MAX_H = 380  # a page is tall: capped, so the passage and the details stay in view
MARK = QColor(255, 196, 0)  # the box around text that matched: a highlighter's yellow
MARK_FILL = QColor(255, 214, 0, 70)


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
        self._framed = False
        self._max_h: int | None = None
        self._upscale = True
        self._marks: tuple[tuple[float, float, float, float], ...] = ()
        self.setMinimumSize(QSize(160, 120))
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_picture(
        self,
        pixmap: QPixmap | None,
        fallback: str = "",
        *,
        framed: bool = False,
        max_height: int | None = None,
        upscale: bool = True,
    ) -> None:
        """``framed``: a thin edge (a white page on a white pane); ``max_height`` caps a tall
        picture; without ``upscale`` a small picture (a tile) keeps its own size."""
        self._pixmap = pixmap
        self._text = fallback
        self._framed = framed
        self._max_h = max_height
        self._upscale = upscale
        self.updateGeometry()
        self.update()

    def set_marks(self, marks: tuple[tuple[float, float, float, float], ...]) -> None:
        """Boxes to mark on the picture: (left, top, right, bottom), 0..1 of its size."""
        self._marks = marks
        self.update()

    @property
    def marks(self) -> tuple[tuple[float, float, float, float], ...]:
        return self._marks

    @property
    def pixmap(self) -> QPixmap | None:
        return self._pixmap

    def _aspect(self) -> float:
        if self._pixmap is None or self._pixmap.isNull() or self._pixmap.width() == 0:
            return 0.75
        return min(self._pixmap.height() / self._pixmap.width(), 1.4)

    def _natural(self) -> QSize | None:
        if self._pixmap is None or self._pixmap.isNull():
            return None
        return self._pixmap.deviceIndependentSize().toSize()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        natural = self._natural()
        if natural is not None and not self._upscale:
            width = min(width, natural.width())
        height = int(width * self._aspect())
        if self._max_h is not None:
            height = min(height, self._max_h)
        return max(120, height)

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        natural = self._natural()
        if self._pixmap is None or natural is None:
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._text)
            return
        bounds = self.size()
        if not self._upscale:
            bounds = bounds.boundedTo(natural)
        size = natural.scaled(bounds, Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(self.rect().center())
        target.moveTop(0)
        painter.drawPixmap(target, self._pixmap)
        if self._framed:
            painter.setPen(EDGE)
            painter.drawRect(target.adjusted(0, 0, -1, -1))
        if self._marks:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(MARK, 2.5))
            painter.setBrush(MARK_FILL)
            pad = 3.0
            for left, top, right, bottom in self._marks:
                box = QRectF(
                    target.x() + left * target.width() - pad,
                    target.y() + top * target.height() - pad,
                    (right - left) * target.width() + 2 * pad,
                    (bottom - top) * target.height() + 2 * pad,
                )
                painter.drawRoundedRect(box, 3.0, 3.0)


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
        self.name.setTextFormat(Qt.TextFormat.PlainText)  # a file may be called "<b>.pdf"
        font = self.name.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.name.setFont(font)
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setTextFormat(Qt.TextFormat.PlainText)
        self.snippet = QLabel()
        self.snippet.setObjectName("snippet")
        self.snippet.setWordWrap(True)
        self.snippet.setTextFormat(Qt.TextFormat.RichText)
        self.snippet.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.snippet.setAccessibleName("Matching passage")
        self.snippet_box = Panel("neutral")
        box = QVBoxLayout(self.snippet_box)
        box.setContentsMargins(10, 8, 10, 8)
        box.addWidget(self.snippet)
        self.folder = self._value()
        self.page = self._value()
        self.file_size = self._value()
        self.dimensions = self._value()
        self.taken = self._value()
        self.score = self._value()

        self._form = form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.addRow("Folder", self.folder)
        form.addRow("Page", self.page)
        form.addRow("Size", self.file_size)
        form.addRow("Dimensions", self.dimensions)
        form.addRow("Taken", self.taken)
        form.addRow("Match", self.score)
        self._taken_label = form.labelForField(self.taken)

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
        layout.addWidget(self.snippet_box)
        layout.addSpacing(4)
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
            self.snippet_box.setVisible(False)
            return
        document = entry.is_document
        self.name.setText(entry.name)
        self.why.setText(entry.why())
        snippet = entry.snippet if entry.score is not None and entry.type == "text" else None
        if entry.score is not None and entry.source == "ocr" and entry.line:
            snippet = entry.line  # the line read from the picture, marked on it below
        self.snippet.setText(snippet_html(snippet) if snippet else "")
        self.snippet_box.setVisible(bool(snippet))
        self.picture.set_marks(entry.boxes if entry.score is not None else ())
        self.folder.setText(entry.folder)
        self.page.setText(str(entry.page))
        self._form.setRowVisible(self.page, document)
        self.file_size.setText(human_size(entry.size))
        self.dimensions.setText(
            f"{entry.width} × {entry.height}" if entry.width and entry.height else "—"
        )
        self._form.setRowVisible(self.dimensions, not document)
        if isinstance(self._taken_label, QLabel):
            self._taken_label.setText("Modified" if document else "Taken")
        self.taken.setText(human_date(entry.taken))
        # the calibrated match in words, not the raw cosine (not comparable across kinds)
        self.score.setText(
            f"{entry.strength} ({entry.match:.2f})" if entry.match is not None else ""
        )
        self._form.setRowVisible(self.score, entry.match is not None)
        self._load_picture()
        self.info_wanted.emit(entry.path)

    def show_info(self, info: FileInfo) -> None:
        if self._entry is None or info.path != self._entry.path:
            return
        self.file_size.setText(human_size(info.size))
        if info.width and info.height:
            self.dimensions.setText(f"{info.width} × {info.height}")
        if self._entry.is_document:
            if info.mtime is not None:
                self.taken.setText(human_date(info.mtime))
        elif info.taken is not None:
            self.taken.setText(human_date(info.taken))
        elif info.mtime is not None:
            self.taken.setText(f"{human_date(info.mtime)} (modified)")

    def _load_picture(self) -> None:
        entry = self._entry
        if entry is None:
            return
        if not entry.has_picture:
            ratio = self.devicePixelRatioF()
            self.picture.set_picture(tile_pixmap(entry.type_label, TILE, ratio), upscale=False)
            return
        page = entry.picture_page
        pixmap = self._thumbs.get(entry.path, PREVIEW_SIDE, page)
        if pixmap is None:
            # The grid's smaller thumbnail stands in until the larger one arrives.
            pixmap = self._thumbs.get(entry.path, THUMB_SIZE, page)
        framed = entry.is_document
        max_h = PAGE_MAX_H if entry.is_document else None
        if pixmap is not None:
            self.picture.set_picture(pixmap, framed=framed, max_height=max_h)
        elif self._thumbs.failed(entry.path, PREVIEW_SIDE, page):
            if entry.is_document:  # a damaged or locked PDF: its tile, as for other documents
                tile = tile_pixmap(entry.type_label, TILE, self.devicePixelRatioF())
                self.picture.set_picture(tile, upscale=False)
            else:
                self.picture.set_picture(None, "No preview for this file")
        else:
            self.picture.set_picture(None, "Loading…", max_height=max_h)

    def _thumbnail_ready(self, path: str) -> None:
        if self._entry is not None and path == self._entry.path:
            self._load_picture()
