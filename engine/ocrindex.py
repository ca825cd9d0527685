"""The indexing stage that reads text in pictures: photos, screenshots, scanned PDF pages.

It runs after the vision stage of each indexing run (so every new photo is findable by its look
first) and gives way as soon as new files wait for the vision tower. For each indexed file
whose current content has not been read it asks the OCR worker (engine.ocr) for the lines of
text, groups them into passages, embeds them with the text tower and writes them as items of the
file (``source = 'ocr'``, with the lines' boxes), so that the full-text index and the vector
search find them with everything else. What was read is recorded per file and content hash: a
stopped run resumes with the next file; a changed file is read again; a file that changed on
disk while it was read is left for the next run.

Scanned PDF pages are the pages with a picture but (almost) no text layer; they are rendered at
reading size by the PDF worker and read like photos.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .embedder import Embedder
from .errors import DecodeError, FileVanishedError
from .indexer import Progress
from .ocr import OcrWorker, Reading
from .ocrlines import Line
from .scanner import DOCUMENT, IMAGE
from .store import FileRow, ItemVector, Store

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

SETTING = "ocr"  # the settings key: read text in pictures (default on)
PAGE_SIDE = 2200  # a scanned page is rendered this long for reading (about 190 dpi for A4)
MIN_TEXT_LAYER = 16  # characters: a page with less text of its own is treated as a scan
MAX_PAGES = 200  # scanned pages read per document (the rest stay findable by their look)
READ_KINDS = (IMAGE, DOCUMENT)


def default_enabled() -> bool:
    """On, unless $LANTERNA_OCR says off (for a machine, or a test suite, that should not read
    text in pictures unless asked); the setting, once made, wins."""
    return os.environ.get("LANTERNA_OCR", "on").strip().lower() not in ("0", "off", "no", "false")


@dataclass
class OcrRunStats:
    files: int = 0  # files read (whatever they held)
    with_text: int = 0
    lines: int = 0
    errors: int = 0
    skipped: int = 0  # gone or changed meanwhile: read on a later run
    gave_way: bool = False  # stopped so that new files get their vectors first
    cancelled: bool = False
    seconds: float = 0.0


def passages(reading: Reading, chunk: Callable[[str], list[str]]) -> list[tuple[str, list[Line]]]:
    """The reading's lines joined in reading order and cut into passages the way document text
    is (``chunk``: the text tower's chunker), each with the lines it holds."""
    lines = list(reading.lines)
    if not lines:
        return []
    spans = []
    pos = 0
    for line in lines:
        spans.append((pos, pos + len(line.text)))
        pos += len(line.text) + 1
    text = "\n".join(line.text for line in lines)
    out = []
    cursor = 0
    for piece in chunk(text):
        start = text.find(piece, cursor)
        if start < 0:
            start = max(0, text.find(piece))
        end = start + len(piece)
        cursor = start + 1
        members = [ln for ln, (a, b) in zip(lines, spans, strict=True) if a < end and b > start]
        out.append((piece, members or lines))
    return out


def boxes_json(reading: Reading, lines: Sequence[Line]) -> str:
    return json.dumps(
        {"size": [reading.width, reading.height], "lines": [ln.as_json() for ln in lines]},
        ensure_ascii=False,
        separators=(",", ":"),
    )


class OcrIndexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        worker: OcrWorker,
        *,
        render_page: Callable[[str, int, int], Any] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.worker = worker
        from .documents import render_page as render_with_pdfium

        self._render_page = render_page or render_with_pdfium

    def _pending(self) -> Iterator[FileRow]:
        after = 0
        while True:
            rows = self.store.ocr_pending(64, READ_KINDS, after_id=after)
            if not rows:
                return
            yield from rows
            after = rows[-1].id

    def run(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
        give_way: Callable[[], bool] = lambda: False,
    ) -> OcrRunStats:
        """Read every indexed file not read yet; stops early when ``give_way()`` says new files
        wait for the vision tower, or when cancelled."""
        cancel = cancel or threading.Event()
        stats = OcrRunStats()
        started = time.monotonic()
        total = self.store.count_ocr_pending(READ_KINDS)

        def report(path: str | None) -> None:
            if progress is not None:
                done = stats.files + stats.skipped
                progress(
                    Progress(
                        done,
                        max(total, done),
                        stats.errors,
                        stats.with_text,
                        path,
                        time.monotonic() - started,
                        stage="text",
                    )
                )

        report(None)
        for row in self._pending():
            if cancel.is_set():
                stats.cancelled = True
                break
            if give_way():
                stats.gave_way = True
                break
            while pause is not None and pause.is_set() and not cancel.is_set():
                time.sleep(0.1)
            self._read_one(row, stats, cancel)
            report(row.path)
        stats.seconds = time.monotonic() - started
        return stats

    def _read_one(self, row: FileRow, stats: OcrRunStats, cancel: threading.Event) -> None:
        try:
            before = os.stat(row.path)
        except OSError:
            stats.skipped += 1  # gone: the scanner or the watcher will forget it
            return
        if (before.st_size, before.st_mtime_ns) != (row.size, row.mtime_ns):
            stats.skipped += 1  # changed since it was embedded: it is pending again soon
            return
        items: list[ItemVector] = []
        lines = pages = 0
        error = None
        try:
            if row.kind == IMAGE:
                readings = [(1, self.worker.read_file(row.path))]
            else:
                readings = list(self._read_pages(row, cancel))
                if cancel.is_set():
                    return  # not recorded: read again next time
            for page, reading in readings:
                pages += 1
                lines += len(reading.lines)
                found = passages(reading, self.embedder.chunk_text)
                if not found:
                    continue
                vectors = self.embedder.embed_texts([t for t, _ in found], query=False)
                items.extend(
                    ItemVector(
                        page=page,
                        type="text",
                        vector=vec,
                        text=text,
                        source="ocr",
                        boxes=boxes_json(reading, members),
                    )
                    for (text, members), vec in zip(found, vectors, strict=True)
                )
        except FileVanishedError:
            stats.skipped += 1
            return
        except DecodeError as exc:
            log.info("cannot read the text in %s: %s", row.path, exc.detail)
            error = exc.detail
            stats.errors += 1
        try:
            after = os.stat(row.path)
        except OSError:
            stats.skipped += 1
            return
        if (after.st_size, after.st_mtime_ns) != (row.size, row.mtime_ns):
            stats.skipped += 1
            return
        if self.store.store_ocr(row, items, lines=lines, pages=pages, error=error):
            stats.files += 1
            stats.lines += lines
            stats.with_text += bool(lines)
        else:
            stats.skipped += 1

    def _read_pages(self, row: FileRow, cancel: threading.Event) -> Iterator[tuple[int, Reading]]:
        if not row.path.lower().endswith(".pdf"):
            return
        for page in self.store.pages_without_text(row.id, MIN_TEXT_LAYER)[:MAX_PAGES]:
            if cancel.is_set():
                return
            picture = self._render_page(row.path, page, PAGE_SIDE)
            yield page, self.worker.read_picture(picture)
