"""Thumbnails for the grid, the preview and the query chip: decoded off the GUI thread, cached.

Three levels: QPixmaps in memory (a small LRU, GUI thread only), JPEG files on disk in the data
folder's cache (keyed by path, size, mtime, side and, for a document, page, so an edited file gets a
new thumbnail), and the source: a photo decoded by the engine's :func:`engine.preprocess.thumbnail`
(draft-mode JPEG decode, EXIF rotation), a PDF page rendered by
:func:`engine.documents.render_page`. Requests are served newest first: while the user scrolls, what
is on screen now matters more than what flew past, and stale requests beyond a bound are dropped
(the view asks again if it paints them again). Page renders go one at a time, as the engine's one
PDF reader process serves them in turn (and indexing too): they must not hold up every photo.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThreadPool
from PySide6.QtGui import QImage, QPixmap

from app.qt import Signal
from app.tasks import InlinePool, Tasks

log = logging.getLogger(__name__)

MEMORY_ITEMS = 600
MAX_WAITING = 256
DISK_BUDGET = 1 << 30  # bytes of thumbnails kept on disk; the least recently used go first

Key = tuple[str, int, int | None]  # path, side, page (None: a photo)


def cache_key(path: str, side: int, page: int | None = None) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    raw = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{side}"
    if page is not None:
        raw += f"\0page {page}"
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def cache_file(cache_dir: Path, path: str, side: int, page: int | None = None) -> Path | None:
    """Where the thumbnail of ``path`` (at ``side``, of ``page``) is kept on disk."""
    key = cache_key(path, side, page)
    return cache_dir / key[:2] / f"{key}.jpg" if key is not None else None


def load_thumbnail(
    path: str, side: int, cache_dir: Path | None, page: int | None = None
) -> QImage | None:
    """Runs on a worker thread: the cached file when there is one, else decode (a photo) or
    render (page ``page`` of a PDF) and cache."""
    cached = cache_file(cache_dir, path, side, page) if cache_dir is not None else None
    if cached is not None and cached.exists():
        image = QImage(str(cached))
        if not image.isNull():
            return image
    try:
        if page is None:
            from engine.preprocess import thumbnail

            picture = thumbnail(path, side)
        else:
            from engine.documents import render_page

            picture = render_page(path, page, side)
    except Exception as exc:  # any unreadable file just has no thumbnail
        log.debug("no thumbnail for %s (page %s): %s", path, page, exc)
        return None
    if picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".part")
            # Pages are text: a little more quality keeps the letters clean.
            picture.save(tmp, "JPEG", quality=85 if page is None else 92)
            os.replace(tmp, cached)
        except OSError as exc:
            log.warning("cannot write the thumbnail cache: %s", exc)
    return pil_to_qimage(picture)


def pil_to_qimage(picture: object) -> QImage:
    from PIL import Image

    assert isinstance(picture, Image.Image)
    rgb = picture.convert("RGB")
    data = rgb.tobytes()
    image = QImage(data, rgb.width, rgb.height, rgb.width * 3, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: `data` dies with this frame


def image_from_bytes(data: bytes, side: int) -> QImage | None:
    """A small preview of pasted or dropped image data (worker thread)."""
    image = QImage.fromData(data)
    if image.isNull():
        try:
            import io

            from PIL import Image

            with Image.open(io.BytesIO(data)) as picture:
                picture.thumbnail((side, side))
                return pil_to_qimage(picture)
        except Exception:
            return None
    return image.scaled(
        side,
        side,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


def prune(cache_dir: Path, budget: int = DISK_BUDGET) -> int:
    """Keep the disk cache under ``budget`` bytes, dropping the least recently used files
    (by access time where the file system keeps it, else by modification time)."""
    files = []
    total = 0
    for entry in cache_dir.glob("*/*.jpg"):
        try:
            st = entry.stat()
        except OSError:
            continue
        files.append((max(st.st_atime, st.st_mtime), st.st_size, entry))
        total += st.st_size
    removed = 0
    for _when, size, entry in sorted(files):
        if total <= budget * 0.8:  # some headroom, so pruning is rare
            break
        try:
            entry.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed


class ThumbnailCache(QObject):
    ready = Signal(str)  # a path whose thumbnail (of some size or page) has arrived

    def __init__(
        self,
        cache_dir: Path | None,
        pool: QThreadPool | InlinePool | None = None,
        threads: int = 2,
    ) -> None:
        super().__init__()
        self.cache_dir = cache_dir
        self._tasks = Tasks(pool, threads)
        self._threads = threads if pool is None or isinstance(pool, QThreadPool) else 1
        self._memory: OrderedDict[Key, QPixmap] = OrderedDict()
        self._failed: set[Key] = set()
        self._waiting: OrderedDict[Key, None] = OrderedDict()
        self._running: set[Key] = set()
        self._rendered = False  # a PDF page was asked for: the reader process may be running

    def get(self, path: str, side: int, page: int | None = None) -> QPixmap | None:
        """The thumbnail if it is in memory; otherwise None, and it is fetched (see ``ready``).
        With ``page``, the picture is that page of a PDF."""
        key = (path, side, page)
        pixmap = self._memory.get(key)
        if pixmap is not None:
            self._memory.move_to_end(key)
            return pixmap
        if key not in self._failed and key not in self._running:
            self._waiting[key] = None
            self._waiting.move_to_end(key)
            while len(self._waiting) > MAX_WAITING:
                self._waiting.popitem(last=False)
            self._pump()
        return None

    def failed(self, path: str, side: int, page: int | None = None) -> bool:
        return (path, side, page) in self._failed

    def prune_later(self, budget: int = DISK_BUDGET) -> None:
        if self.cache_dir is not None and self.cache_dir.is_dir():
            cache_dir = self.cache_dir
            self._tasks.submit(lambda: prune(cache_dir, budget), None, lambda _exc: None)

    def forget(self) -> None:
        """Drop what waits (a new result list): the new list asks for what it shows."""
        self._waiting.clear()

    def _next(self) -> Key | None:
        """The newest request that may start now: a page render waits for the one running."""
        rendering = any(k[2] is not None for k in self._running)
        for key in reversed(self._waiting):
            if key[2] is None or not rendering:
                del self._waiting[key]
                return key
        return None

    def _pump(self) -> None:
        while len(self._running) < self._threads and (key := self._next()) is not None:
            self._running.add(key)
            path, side, page = key
            self._rendered = self._rendered or page is not None

            def work(
                path: str = path,
                side: int = side,
                page: int | None = page,
                cache_dir: Path | None = self.cache_dir,
            ) -> QImage | None:
                return load_thumbnail(path, side, cache_dir, page)

            self._tasks.submit(
                work,
                on_done=functools.partial(self._arrived, key),
                on_error=functools.partial(self._failed_to_load, key),
            )

    def _failed_to_load(self, key: Key, _exc: object) -> None:
        self._arrived(key, None)

    def _arrived(self, key: Key, image: QImage | None) -> None:
        self._running.discard(key)
        if image is None or image.isNull():
            self._failed.add(key)
        else:
            self._memory[key] = QPixmap.fromImage(image)
            while len(self._memory) > MEMORY_ITEMS:
                self._memory.popitem(last=False)
        self.ready.emit(key[0])
        self._pump()

    def wait(self, msecs: int = -1) -> bool:
        return self._tasks.wait(msecs)

    def close(self, msecs: int = 5000) -> None:
        """Drop what waits, let running jobs end, and stop the previews' PDF reader if pages
        were rendered (quitting); the indexer's reader is the library's own."""
        self.forget()
        self.wait(msecs)
        if self._rendered:
            from engine.documents import PREVIEWS, close_worker

            close_worker(PREVIEWS)
