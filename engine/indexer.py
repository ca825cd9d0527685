"""Embedding what the scanner marked pending: read, hash, decode, embed in batches, write.

A pool of decode threads reads ahead of the towers through a bounded window (memory depends on
the batch and window sizes, never on the library's size), so inference is not starved by I/O.
Each file is read once: the same bytes are hashed and decoded. A file whose content hash is
unchanged is not re-embedded; one identical to a file already indexed gets that file's vectors.
One bad file is recorded with its error and the run goes on.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .documents import pages
from .embedder import Embedder
from .errors import DecodeError, FileVanishedError
from .preprocess import ImageInfo, pad_square, prepare, to_tensor
from .scanner import DOCUMENT, OTHER, bytes_hash, content_hash
from .schedule import pending_newest_first
from .store import FileRow, Indexed, ItemVector, Store

log = logging.getLogger(__name__)

READ_IN_MEMORY = 64 * 1024 * 1024  # larger files are hashed and decoded from disk
BUSY_ROUNDS = 3
BUSY_WAIT_S = 1.0


@dataclass
class Progress:
    done: int
    total: int
    errors: int
    embedded: int
    path: str | None
    elapsed: float
    stage: str = "index"  # "index": vectors of new files; "text": reading text in pictures

    @property
    def eta(self) -> float | None:
        if self.done == 0 or self.total <= self.done:
            return None
        return self.elapsed / self.done * (self.total - self.done)


@dataclass
class RunStats:
    done: int = 0
    embedded: int = 0
    unchanged: int = 0
    duplicates: int = 0
    errors: int = 0
    vanished: int = 0
    busy: int = 0
    cancelled: bool = False
    ocr_files: int = 0  # files whose text was read (engine.ocrindex), after the vectors


# Outcomes of reading one file --------------------------------------------------------------


@dataclass
class _Prepared:
    file: FileRow
    digest: str
    size: int
    mtime_ns: int
    pixels: npt.NDArray[np.float32]
    info: ImageInfo


@dataclass
class _Document:
    file: FileRow
    digest: str
    size: int
    mtime_ns: int


@dataclass
class _Unchanged:
    file: FileRow
    size: int
    mtime_ns: int


@dataclass
class _Duplicate:
    file: FileRow
    source_id: int
    digest: str
    size: int
    mtime_ns: int


@dataclass
class _Failed:
    file: FileRow
    message: str
    size: int | None = None
    mtime_ns: int | None = None


@dataclass
class _Vanished:
    file: FileRow


@dataclass
class _Busy:
    file: FileRow


_Outcome = _Prepared | _Document | _Unchanged | _Duplicate | _Failed | _Vanished | _Busy


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder | Callable[[], Embedder],
        *,
        workers: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        # Decoding is what keeps a GPU fed: use every core but one (for the GUI), up to 8.
        self.workers = workers or max(2, min(8, (os.cpu_count() or 2) - 1))
        self._batch_size = batch_size

    @property
    def embedder(self) -> Embedder:
        if not isinstance(self._embedder, Embedder):
            self._embedder = self._embedder()
        return self._embedder

    # -- reading (decode threads) ------------------------------------------------------------

    def _read(self, file: FileRow) -> _Outcome:
        path = file.path
        if file.kind == OTHER:  # found by name only: nothing to read (normally never pending)
            return _Unchanged(file, file.size, file.mtime_ns)
        try:
            before = os.stat(path)
            if not stat.S_ISREG(before.st_mode):
                return _Failed(file, "not a regular file")
            if before.st_size > READ_IN_MEMORY:
                digest = content_hash(path)
                source: str | bytes = path
                length = before.st_size
            else:
                with open(path, "rb") as fh:
                    data = fh.read()
                digest = bytes_hash(data)
                source = data
                length = len(data)
            after = os.stat(path)
        except FileNotFoundError:
            return _Vanished(file)
        except PermissionError:
            return _Failed(file, "permission denied")
        except OSError as exc:
            return _Failed(file, f"cannot read: {exc.strerror or exc}")
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
            length != after.st_size
        ):
            return _Busy(file)  # still being written; read it again once it settles
        size, mtime_ns = after.st_size, after.st_mtime_ns
        if file.hash is not None and file.hash == digest:
            return _Unchanged(file, size, mtime_ns)
        source_id = self.store.indexed_with_hash(digest, file.id)
        if source_id is not None:
            return _Duplicate(file, source_id, digest, size, mtime_ns)
        if file.kind == DOCUMENT:
            return _Document(file, digest, size, mtime_ns)  # read page by page on the run's thread
        try:
            pixels, info = prepare(source, self.embedder.model.vision)
        except FileVanishedError:
            return _Vanished(file)
        except DecodeError as exc:
            return _Failed(file, exc.detail, size, mtime_ns)
        except Exception as exc:
            log.exception("unexpected error decoding %s", path)
            return _Failed(file, f"unexpected error: {exc}", size, mtime_ns)
        return _Prepared(file, digest, size, mtime_ns, pixels, info)

    # -- the run -----------------------------------------------------------------------------

    def run(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> RunStats:
        """Embed every pending file; returns when none is left, or when cancelled."""
        cancel = cancel or threading.Event()
        stats = RunStats()
        embedder = self.embedder
        batch_size = self._batch_size or embedder.batch_size
        window = batch_size * 2 + self.workers
        start = time.monotonic()
        total = self.store.count_pending()
        last_path: str | None = None

        def report() -> None:
            if progress is not None:
                progress(
                    Progress(
                        stats.done,
                        max(total, stats.done),
                        stats.errors,
                        stats.embedded,
                        last_path,
                        time.monotonic() - start,
                    )
                )

        report()
        busy: list[FileRow] = []
        batch: list[_Prepared] = []
        with ThreadPoolExecutor(self.workers, thread_name_prefix="lanterna-decode") as pool:
            for round_ in range(BUSY_ROUNDS + 1):
                queue: deque[Future[_Outcome]] = deque()
                source = self._pending_source(busy if round_ else None)
                busy = []
                exhausted = False
                while not cancel.is_set():
                    while not exhausted and len(queue) < window:
                        nxt = next(source, None)
                        if nxt is None:
                            exhausted = True
                        else:
                            queue.append(pool.submit(self._read, nxt))
                    if not queue:
                        break
                    outcome = queue.popleft().result()
                    last_path = outcome.file.path
                    if isinstance(outcome, _Document):
                        self._index_document(outcome, stats, cancel)
                    elif isinstance(outcome, _Prepared):
                        batch.append(outcome)
                        if len(batch) >= batch_size or (exhausted and not queue):
                            self._flush(batch, stats)
                            batch = []
                    else:
                        self._settle(outcome, stats, busy)
                    if pause is not None:
                        while pause.is_set() and not cancel.is_set():
                            time.sleep(0.1)
                    total = max(total, stats.done + len(queue) + len(batch))
                    report()
                if batch and not cancel.is_set():
                    self._flush(batch, stats)
                batch = []
                if cancel.is_set():
                    for fut in queue:
                        fut.cancel()
                    stats.cancelled = True
                    break
                if not busy:
                    break
                if round_ < BUSY_ROUNDS:
                    cancel.wait(BUSY_WAIT_S)
            stats.busy = len(busy)
        report()
        return stats

    def _pending_source(self, only: list[FileRow] | None) -> Iterator[FileRow]:
        if only is not None:
            yield from only
            return
        yield from pending_newest_first(self.store)  # newest first: useful within minutes

    def _flush(self, batch: list[_Prepared], stats: RunStats) -> None:
        pixels = np.stack([p.pixels for p in batch])
        vectors = self.embedder.embed_pixels(pixels)
        self.store.store_indexed(
            [
                Indexed(
                    file=p.file,
                    items=[ItemVector(page=1, type="image", vector=vec)],
                    digest=p.digest,
                    size=p.size,
                    mtime_ns=p.mtime_ns,
                    taken=p.info.taken,
                    width=p.info.width,
                    height=p.info.height,
                )
                for p, vec in zip(batch, vectors, strict=True)
            ]
        )
        stats.embedded += len(batch)
        stats.done += len(batch)

    def _index_document(self, doc: _Document, stats: RunStats, cancel: threading.Event) -> None:
        """Embed a document's page renders and text passages, a few pages at a time."""
        emb = self.embedder
        spec = emb.model.vision
        items: list[ItemVector] = []
        renders: list[tuple[int, npt.NDArray[np.float32]]] = []
        passages: list[tuple[int, str]] = []

        def flush_renders() -> None:
            vectors = emb.embed_pixels(np.stack([r[1] for r in renders]))
            items.extend(
                ItemVector(page=p, type="image", vector=v)
                for (p, _), v in zip(renders, vectors, strict=True)
            )
            renders.clear()

        def flush_passages() -> None:
            vectors = emb.embed_texts([t for _, t in passages], query=False)
            items.extend(
                ItemVector(page=p, type="text", vector=v, text=t)
                for (p, t), v in zip(passages, vectors, strict=True)
            )
            passages.clear()

        try:
            for page in pages(doc.file.path, spec.image_size, cancel.is_set):
                if page.image is not None:
                    renders.append((page.number, to_tensor(pad_square(page.image), spec)))
                passages.extend((page.number, c) for c in emb.chunk_text(page.text))
                if len(renders) >= emb.batch_size:
                    flush_renders()
                if len(passages) >= emb.batch_size * 2:
                    flush_passages()
                if cancel.is_set():
                    return  # stays pending; nothing of it was written
            if renders:
                flush_renders()
            if passages:
                flush_passages()
        except FileVanishedError:
            self._settle(_Vanished(doc.file), stats, [])
            return
        except DecodeError as exc:
            self._settle(_Failed(doc.file, exc.detail, doc.size, doc.mtime_ns), stats, [])
            return
        self.store.store_indexed(
            [
                Indexed(
                    file=doc.file,
                    items=items,
                    digest=doc.digest,
                    size=doc.size,
                    mtime_ns=doc.mtime_ns,
                )
            ]
        )
        stats.embedded += 1
        stats.done += 1

    def _settle(self, outcome: _Outcome, stats: RunStats, busy: list[FileRow]) -> None:
        if isinstance(outcome, _Busy):
            busy.append(outcome.file)
            return
        stats.done += 1
        if isinstance(outcome, _Unchanged):
            self.store.mark_unchanged(outcome.file.id, outcome.size, outcome.mtime_ns)
            stats.unchanged += 1
        elif isinstance(outcome, _Duplicate):
            ok = self.store.copy_items(
                outcome.source_id,
                outcome.file,
                digest=outcome.digest,
                size=outcome.size,
                mtime_ns=outcome.mtime_ns,
            )
            stats.duplicates += ok
        elif isinstance(outcome, _Failed):
            log.info("cannot index %s: %s", outcome.file.path, outcome.message)
            self.store.mark_error(
                outcome.file.id, outcome.message, size=outcome.size, mtime_ns=outcome.mtime_ns
            )
            stats.errors += 1
        elif isinstance(outcome, _Vanished):
            self.store.delete_files([outcome.file.id])
            stats.vanished += 1
