"""Embedding what the scanner marked pending: read, hash, decode, embed in batches, write.

A pool of decode threads reads ahead of the towers through a bounded window (memory depends on
the batch and window sizes, never on the library's size), so inference is not starved by I/O.
The pool is the library's, long-lived (an indexer made without one makes its own for the run).
Each file is read once: the same bytes are hashed and decoded. A file whose content hash is
unchanged is not re-embedded; one identical to a file already indexed gets that file's vectors.

What is written is only what is still true: each commit checks that the file has the size,
mtime and inode that were read (see :meth:`engine.store.Store.store_indexed`); a file that
changed meanwhile is read again, one deleted meanwhile is skipped. Faults are told apart: a
damaged file is recorded with its error (and loses its old vectors), a file that cannot be read
just now (permissions, I/O) keeps its vectors and is retried later, a vanished one is
forgotten. One bad file never stops the run.
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
from .errors import DecodeError, FileVanishedError, ReadError
from .preprocess import ImageInfo, pad_square, prepare, to_tensor
from .scanner import DOCUMENT, OTHER, bytes_hash, content_hash
from .schedule import pending_newest_first
from .store import GONE, PENDING, STALE, WRITTEN, FileRow, Indexed, ItemVector, Store

log = logging.getLogger(__name__)

READ_IN_MEMORY = 64 * 1024 * 1024  # larger files are hashed and decoded from disk
# A pause (the user's, or the policy's: on battery, a busy machine) can last hours: the vision
# tower's memory goes back once it has waited this long, and loads again when indexing goes on.
RELEASE_VISION_PAUSED_S = 60.0
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
    # "words": documents' text into the keyword index, ahead of the vectors (engine.words);
    # "calibrate": the model's calibration probes, once per model (engine.search);
    # "index": vectors of new files; "text": reading text in pictures (engine.ocrindex)
    stage: str = "index"

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
    retrying: int = 0  # could not be read just now; old vectors kept, tried again later
    cancelled: bool = False
    ocr_files: int = 0  # files whose text was read (engine.ocrindex), after the vectors
    words: int = 0  # documents searchable by their words ahead of their vectors (engine.words)


# Outcomes of reading one file --------------------------------------------------------------


@dataclass
class _Prepared:
    file: FileRow
    digest: str
    size: int
    mtime_ns: int
    inode: int
    pixels: npt.NDArray[np.float32]
    info: ImageInfo


@dataclass
class _Document:
    file: FileRow
    digest: str
    size: int
    mtime_ns: int
    inode: int


@dataclass
class _Unchanged:
    file: FileRow
    size: int
    mtime_ns: int
    inode: int | None


@dataclass
class _Duplicate:
    file: FileRow
    source_id: int
    digest: str
    size: int
    mtime_ns: int
    inode: int


@dataclass
class _Failed:
    """The content cannot be indexed (damaged, unsupported)."""

    file: FileRow
    message: str
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None


@dataclass
class _Unreadable:
    """The file cannot be read just now: not a fault of its content."""

    file: FileRow
    message: str


@dataclass
class _Vanished:
    file: FileRow


@dataclass
class _Busy:
    file: FileRow


_Outcome = (
    _Prepared | _Document | _Unchanged | _Duplicate | _Failed | _Unreadable | _Vanished | _Busy
)


def _os_message(exc: OSError) -> str:
    return (
        "permission denied"
        if isinstance(exc, PermissionError)
        else (f"cannot read: {exc.strerror or exc}")
    )


def default_workers() -> int:
    """Decoding is what keeps a GPU fed: every core but one (for the GUI), 2 to 8."""
    return max(2, min(8, (os.cpu_count() or 2) - 1))


def decode_pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="lanterna-decode")


class Indexer:
    def __init__(
        self,
        store: Store,
        embedder: Embedder | Callable[[], Embedder],
        *,
        workers: int | None = None,
        batch_size: int | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        self.store = store
        self._embedder = embedder
        self.workers = workers or default_workers()
        self._batch_size = batch_size
        self._pool = pool

    @property
    def embedder(self) -> Embedder:
        if not isinstance(self._embedder, Embedder):
            self._embedder = self._embedder()
        return self._embedder

    # -- reading (decode threads) ------------------------------------------------------------

    def _read(self, file: FileRow) -> _Outcome:
        path = file.path
        if file.kind == OTHER:  # found by name only: nothing to read (normally never pending)
            return _Unchanged(file, file.size, file.mtime_ns, None)
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
        except (FileNotFoundError, NotADirectoryError):
            return _Vanished(file)
        except IsADirectoryError:
            return _Failed(file, "is a directory, not a file")
        except OSError as exc:  # permissions, I/O errors, a network share gone for a while
            return _Unreadable(file, _os_message(exc))
        if (
            (after.st_size, after.st_mtime_ns, after.st_ino)
            != (before.st_size, before.st_mtime_ns, before.st_ino)
        ) or length != after.st_size:
            return _Busy(file)  # still being written; read it again once it settles
        size, mtime_ns, inode = after.st_size, after.st_mtime_ns, after.st_ino
        if file.hash is not None and file.hash == digest:
            return _Unchanged(file, size, mtime_ns, inode)
        source_id = self.store.indexed_with_hash(digest, file.id)
        if source_id is not None:
            return _Duplicate(file, source_id, digest, size, mtime_ns, inode)
        if file.kind == DOCUMENT:
            # read page by page on the run's thread
            return _Document(file, digest, size, mtime_ns, inode)
        try:
            pixels, info = prepare(source, self.embedder.model.vision)
        except FileVanishedError:
            return _Vanished(file)
        except ReadError as exc:
            return _Unreadable(file, exc.detail)
        except DecodeError as exc:
            return _Failed(file, exc.detail, size, mtime_ns, inode)
        except Exception as exc:
            log.exception("unexpected error decoding %s", path)
            return _Failed(file, f"unexpected error: {exc}", size, mtime_ns, inode)
        return _Prepared(file, digest, size, mtime_ns, inode, pixels, info)

    # -- the run -----------------------------------------------------------------------------

    def run(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
        between: Callable[[], None] | None = None,
    ) -> RunStats:
        """Embed every pending file; returns when none is left, or when cancelled.

        ``between`` is called on this thread between files, where no document is being read
        (the words of documents that arrive meanwhile: engine.words)."""
        if self._pool is not None:
            return self._run(self._pool, cancel, pause, progress, between)
        with decode_pool(self.workers) as pool:
            return self._run(pool, cancel, pause, progress, between)

    def _run(
        self,
        pool: ThreadPoolExecutor,
        cancel: threading.Event | None,
        pause: threading.Event | None,
        progress: Callable[[Progress], None] | None,
        between: Callable[[], None] | None = None,
    ) -> RunStats:
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
        # Files to read again: still being written, or changed between their read and commit.
        again: list[FileRow] = []
        batch: list[_Prepared] = []
        for round_ in range(BUSY_ROUNDS + 1):
            queue: deque[Future[_Outcome]] = deque()
            source = self._pending_source(again if round_ else None)
            again = []
            exhausted = False
            try:
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
                        self._index_document(outcome, stats, cancel, again)
                    elif isinstance(outcome, _Prepared):
                        batch.append(outcome)
                        if len(batch) >= batch_size or (exhausted and not queue):
                            self._flush(batch, stats, again)
                            batch = []
                    else:
                        self._settle(outcome, stats, again)
                    if pause is not None:
                        self._wait_while_paused(pause, cancel)
                    if between is not None:
                        between()
                    total = max(total, stats.done + len(queue) + len(batch))
                    report()
                if batch and not cancel.is_set():
                    self._flush(batch, stats, again)
                batch = []
            finally:
                # Nothing of this run may outlive it in the shared pool (a cancel, an error).
                for fut in queue:
                    fut.cancel()
            if cancel.is_set():
                stats.cancelled = True
                break
            if not again:
                break
            if round_ < BUSY_ROUNDS:
                cancel.wait(BUSY_WAIT_S)
                again = self._refreshed(again)
        stats.busy = len(again)
        report()
        return stats

    def _wait_while_paused(self, pause: threading.Event, cancel: threading.Event) -> None:
        """Wait out a pause; a long one gives the vision tower's memory back meanwhile."""
        while pause.is_set() and not cancel.is_set():
            embedder = self._embedder
            if isinstance(embedder, Embedder):
                embedder.release_vision_if_idle(RELEASE_VISION_PAUSED_S)
            cancel.wait(0.1)

    def _refreshed(self, rows: list[FileRow]) -> list[FileRow]:
        """The current rows of files to read again (a scan or the watcher may have changed
        them meanwhile); those no longer pending are left alone."""
        current = [self.store.file(r.id) for r in rows]
        return [r for r in current if r is not None and r.status == PENDING]

    def _pending_source(self, only: list[FileRow] | None) -> Iterator[FileRow]:
        if only is not None:
            yield from only
            return
        yield from pending_newest_first(self.store)  # newest first: useful within minutes

    def _committed(
        self, outcome: str, file: FileRow, stats: RunStats, again: list[FileRow]
    ) -> bool:
        """Count what a commit found; a file changed since its read is read again."""
        if outcome == WRITTEN:
            return True
        if outcome == STALE:
            again.append(file)
        elif outcome == GONE:
            stats.vanished += 1
            stats.done += 1
        return False

    def _flush(self, batch: list[_Prepared], stats: RunStats, again: list[FileRow]) -> None:
        pixels = np.stack([p.pixels for p in batch])
        vectors = self.embedder.embed_pixels(pixels)
        outcomes = self.store.store_indexed(
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
                    inode=p.inode,
                )
                for p, vec in zip(batch, vectors, strict=True)
            ]
        )
        for p, outcome in zip(batch, outcomes, strict=True):
            if self._committed(outcome, p.file, stats, again):
                stats.embedded += 1
                stats.done += 1

    def _index_document(
        self, doc: _Document, stats: RunStats, cancel: threading.Event, again: list[FileRow]
    ) -> None:
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
            if cancel.is_set():
                return
            if renders:
                flush_renders()
            if passages:
                flush_passages()
        except FileVanishedError:
            self._settle(_Vanished(doc.file), stats, again)
            return
        except ReadError as exc:
            self._settle(_Unreadable(doc.file, exc.detail), stats, again)
            return
        except DecodeError as exc:
            if cancel.is_set():
                return  # the reader was stopped under it (quitting): not the file's fault
            self._settle(
                _Failed(doc.file, exc.detail, doc.size, doc.mtime_ns, doc.inode), stats, again
            )
            return
        outcome = self.store.store_indexed(
            [
                Indexed(
                    file=doc.file,
                    items=items,
                    digest=doc.digest,
                    size=doc.size,
                    mtime_ns=doc.mtime_ns,
                    inode=doc.inode,
                )
            ]
        )[0]
        if self._committed(outcome, doc.file, stats, again):
            stats.embedded += 1
            stats.done += 1

    def _settle(self, outcome: _Outcome, stats: RunStats, again: list[FileRow]) -> None:
        if isinstance(outcome, _Busy):
            again.append(outcome.file)
            return
        if isinstance(outcome, _Unchanged):
            result = self.store.mark_unchanged(
                outcome.file, outcome.size, outcome.mtime_ns, outcome.inode
            )
            if self._committed(result, outcome.file, stats, again):
                stats.unchanged += 1
                stats.done += 1
        elif isinstance(outcome, _Duplicate):
            result = self.store.copy_items(
                outcome.source_id,
                outcome.file,
                digest=outcome.digest,
                size=outcome.size,
                mtime_ns=outcome.mtime_ns,
                inode=outcome.inode,
            )
            if self._committed(result, outcome.file, stats, again):
                stats.duplicates += 1
                stats.done += 1
        elif isinstance(outcome, _Failed):
            result = self.store.mark_error(
                outcome.file,
                outcome.message,
                size=outcome.size,
                mtime_ns=outcome.mtime_ns,
                inode=outcome.inode,
            )
            if self._committed(result, outcome.file, stats, again):
                log.info("cannot index %s: %s", outcome.file.path, outcome.message)
                stats.errors += 1
                stats.done += 1
        elif isinstance(outcome, _Unreadable):
            result = self.store.mark_retry(outcome.file, outcome.message)
            if self._committed(result, outcome.file, stats, again):
                log.warning(
                    "cannot read %s just now (%s); keeping what the index has and trying again "
                    "later",
                    outcome.file.path,
                    outcome.message,
                )
                stats.retrying += 1
                stats.done += 1
        elif isinstance(outcome, _Vanished):
            stats.done += 1
            if self.store.forget_vanished(outcome.file):
                stats.vanished += 1
