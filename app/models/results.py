"""The results grid's model: a flat list of entries, cheap to reset and to grow.

Only what is painted asks for data, so a list of 10 000 entries costs a list of small objects;
thumbnails are looked up per painted row through the thumbnail cache.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QUrl,
)

from app.qt import Signal

if TYPE_CHECKING:
    from app.thumbnails import ThumbnailCache

Index = QModelIndex | QPersistentModelIndex

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
THUMB_ROLE = Qt.ItemDataRole.UserRole + 3
THUMB_SIZE = 256
SNIPPET_CHARS = 420  # of a passage, in the preview; the tooltip shows less

_MATCHED = re.compile(r"\[([^\[\]]+)\]")  # the engine's snippets put matched words in brackets
_SPACE = re.compile(r"\s+")


def _shorten(snippet: str, limit: int) -> str:
    text = _SPACE.sub(" ", snippet).strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit].rstrip(" ,;:.") + "…"


def snippet_text(snippet: str, limit: int = 160) -> str:
    """The snippet as plain text on one line: no brackets, at most ``limit`` characters."""
    return _MATCHED.sub(r"\1", _shorten(snippet, limit))


def snippet_html(snippet: str, limit: int = SNIPPET_CHARS) -> str:
    """The snippet as rich text with the matched words in bold (escaped first: a document's
    own text is never markup)."""
    return _MATCHED.sub(r"<b>\1</b>", html.escape(_shorten(snippet, limit), quote=False))


@dataclass(frozen=True)
class Entry:
    """One file in the grid: a search hit (with score and what matched) or a recent file."""

    path: str
    kind: str = "image"
    score: float | None = None
    page: int = 1
    type: str = "image"  # what matched: "image" (a photo or page render), "text" or "name"
    snippet: str | None = None
    taken: float | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    match: float | None = None  # calibrated, in [0, 1]; 0.5 is the cut-off
    weak: bool = False  # below the cut-off: shown only when asked for
    source: str | None = None  # "ocr": the text matched was read from the picture
    line: str | None = None  # that text's line that matched
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # where, 0..1 of the picture
    words_only: bool = False  # found by exact words alone: the model is not there yet

    @property
    def strength(self) -> str:
        """The match in a word people read (not a raw cosine)."""
        if self.match is None:
            return ""
        if self.match >= 0.85:
            return "strong match"
        return "good match" if self.match >= 0.5 else "weak match"

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.path)

    @property
    def is_document(self) -> bool:
        return self.kind == "document"

    @property
    def type_label(self) -> str:
        """The file's type in a few capitals ("PDF", "DOCX", "MD"), for tiles."""
        ext = os.path.splitext(self.path)[1].lstrip(".").upper()
        return {"MARKDOWN": "MD", "HTM": "HTML", "XHTML": "HTML", "TEXT": "TXT"}.get(ext, ext)[:5]

    @property
    def has_picture(self) -> bool:
        """Photos and PDF pages have a picture; other documents, and files known by their
        name only, show a file-type tile."""
        return self.kind == "image" or (self.is_document and self.path.lower().endswith(".pdf"))

    @property
    def picture_page(self) -> int | None:
        """The page to picture (the one that matched), or None for a photo."""
        return self.page if self.is_document else None

    def why(self) -> str:
        """Why this file is in the list, and how well it matched, in words."""
        if self.score is None:
            return "Recently added"
        if self.type == "name":
            reason = "Matched the file name"
        elif self.source == "ocr":
            if self.is_document:
                reason = f"Matched text in the scan of page {self.page}"
            else:
                reason = "Matched text in the image"
        elif self.type == "text":
            reason = f"Matched text on page {self.page}" if self.is_document else "Matched its text"
        elif self.is_document:
            reason = f"Matched the image of page {self.page}"
        else:
            reason = "Matched the image"
        return f"{reason} · {self.strength}" if self.strength else reason

    def why_in_full(self) -> str:
        """:meth:`why`, with the matching passage when there is one (tooltips, screen readers)."""
        if self.score is not None and self.source == "ocr" and self.line:
            return f"{self.why()}: “{self.line}”"
        if self.score is not None and self.type == "text" and self.snippet:
            return f"{self.why()}: “{snippet_text(self.snippet)}”"
        return self.why()


class ResultsModel(QAbstractListModel):
    more_wanted = Signal()  # the view scrolled to the end of a list that may hold more

    def __init__(self, thumbnails: ThumbnailCache | None = None) -> None:
        super().__init__()
        self._entries: list[Entry] = []
        self._rows: dict[str, list[int]] = {}
        self._thumbs = thumbnails
        self._may_have_more = False
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    # -- contents ----------------------------------------------------------------------------

    @property
    def entries(self) -> list[Entry]:
        return self._entries

    def set_entries(self, entries: list[Entry], may_have_more: bool = False) -> None:
        """Show a new list; a longer list that starts with the current one is appended to,
        so "load more" keeps the scroll position and the selection."""
        old = self._entries
        self._may_have_more = may_have_more
        if (
            old
            and len(entries) > len(old)
            and all(a.path == b.path for a, b in zip(old, entries, strict=False))
        ):
            self.beginInsertRows(QModelIndex(), len(old), len(entries) - 1)
            self._entries = list(entries)
            self._reindex()
            self.endInsertRows()
            return
        self.beginResetModel()
        self._entries = list(entries)
        self._reindex()
        self.endResetModel()

    def clear(self) -> None:
        self.set_entries([])

    def _reindex(self) -> None:
        self._rows = {}
        for row, e in enumerate(self._entries):
            self._rows.setdefault(e.path, []).append(row)

    def entry(self, row: int) -> Entry | None:
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def row_of(self, path: str) -> int | None:
        rows = self._rows.get(path)
        return rows[0] if rows else None

    def _thumbnail_ready(self, path: str) -> None:
        for row in self._rows.get(path, ()):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole, THUMB_ROLE])

    # -- QAbstractListModel ------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        e = self.entry(index.row()) if index.isValid() else None
        if e is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return e.name
        if role == ENTRY_ROLE:
            return e
        if role == PATH_ROLE:
            return e.path
        if role == THUMB_ROLE:
            if self._thumbs is None or not e.has_picture:
                return None
            return self._thumbs.get(e.path, THUMB_SIZE, e.picture_page)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [e.name]
            if e.match is not None:
                lines.append(f"Match {e.match:.2f} ({e.strength})")
            lines.append(e.why_in_full())
            lines.append(e.folder)
            return "\n".join(lines)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{e.name}, {e.why_in_full()}"
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """Dragging results out gives the files to other apps (a mail, a chat, a folder)."""
        mime = QMimeData()
        paths = [p for i in indexes if (p := self.data(i, PATH_ROLE))]
        mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
        mime.setData("text/plain", QByteArray("\n".join(paths).encode()))
        return mime

    def canFetchMore(self, parent: Index) -> bool:
        return not parent.isValid() and self._may_have_more

    def fetchMore(self, parent: Index) -> None:
        # Ask once per list: the owner reruns the query with a larger k and calls set_entries.
        self._may_have_more = False
        self.more_wanted.emit()
