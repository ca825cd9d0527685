"""Words first: every pending document's text in the keyword index before any vector.

On a CPU the towers take days over a large library (docs/benchmarks.md), while reading a
document's text takes milliseconds. So each indexing run starts with this stage (Progress stage
"words"): pending documents, newest first, are read as text only (no page renders, through the
indexing PDF worker process like the vectors' stage) and their passages written to the
keyword index without vectors (engine.wordstore), so ``lanterna search WORD`` finds a word
inside a document within the first minute. The files stay pending: the vectors' stage embeds
them later and reads them again in full (renders and text come from the same request to the
worker, so reusing the stored text would save little), and its passages replace these.

What is written is only what is still true (the stat check of Store._still_true); a file
changed meanwhile is left for the next look, one deleted is forgotten. A document that cannot
be read is recorded as the vectors' stage records it (an error, or tried again later for a
passing reason), so that stage does not try it again until it changes. New documents that
arrive during a long vectors' stage get their words from it too (:meth:`WordsIndexer.catch_up`).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import wordstore
from .documents import pages
from .errors import DecodeError, FileVanishedError, ReadError
from .indexer import Progress
from .store import STALE, WRITTEN, FileRow, Store

log = logging.getLogger(__name__)

STAGE = "words"
PASSAGE_CHARS = 2000  # a passage for the keyword index (bm25 and snippets work per passage)
OVERLAP_CHARS = 200  # so that a phrase cut at a passage's end is whole in the next one
CATCH_UP_S = 30.0  # during the vectors' stage, new documents get their words this often
PAGE = 256

_SPACE = re.compile(r"\s+")


def passages(text: str) -> list[str]:
    """The text cut at white space into pieces of at most about PASSAGE_CHARS, overlapping."""
    out: list[str] = []
    n = len(text)
    start = 0
    while True:
        while start < n and text[start].isspace():
            start += 1
        if start >= n:
            return out
        end = start + PASSAGE_CHARS
        if end >= n:
            out.append(text[start:].strip())
            return out
        cut = end
        for m in _SPACE.finditer(text, start + PASSAGE_CHARS // 2, end):
            cut = m.start()
        out.append(text[start:cut].strip())
        back = _SPACE.search(text, max(cut - OVERLAP_CHARS, start + 1), cut)
        start = back.end() if back else max(cut - OVERLAP_CHARS, start + 1)


@dataclass
class WordsRunStats:
    files: int = 0  # documents whose words were written
    passages: int = 0
    errors: int = 0  # recorded as errors (damaged, encrypted, empty)
    retrying: int = 0  # could not be read just now: tried again later
    vanished: int = 0
    skipped: int = 0  # changed since it was read: looked at again later
    cancelled: bool = False


class WordsIndexer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._checked = time.monotonic()

    def _pending(self) -> Iterator[FileRow]:
        before: tuple[int, int] | None = None
        while True:
            rows = wordstore.pending(self.store, PAGE, before)
            if not rows:
                return
            yield from rows
            before = (rows[-1].mtime_ns, rows[-1].id)

    def run(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> WordsRunStats:
        """Write the words of every pending document that has none; returns when none is
        left, or when cancelled."""
        cancel = cancel or threading.Event()
        stats = WordsRunStats()
        started = time.monotonic()
        total = wordstore.count_pending(self.store)

        def report(path: str | None) -> None:
            if progress is not None:
                done = stats.files + stats.errors + stats.retrying + stats.vanished + stats.skipped
                progress(
                    Progress(
                        done,
                        max(total, done),
                        stats.errors,
                        stats.files,
                        path,
                        time.monotonic() - started,
                        stage=STAGE,
                    )
                )

        if total:
            report(None)
        for row in self._pending():
            while pause is not None and pause.is_set() and not cancel.is_set():
                time.sleep(0.1)
            if cancel.is_set():
                break
            self._read_one(row, stats, cancel)  # a cancel meanwhile writes nothing of it
            report(row.path)
        stats.cancelled = cancel.is_set()
        self._checked = time.monotonic()
        return stats

    def catch_up(
        self,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        every: float | None = None,
    ) -> WordsRunStats | None:
        """For the vectors' stage, between files: the words of documents that became pending
        since the last look, at most every ``every`` seconds (CATCH_UP_S; None when it did not
        look)."""
        if time.monotonic() - self._checked < (CATCH_UP_S if every is None else every):
            return None
        self._checked = time.monotonic()
        if not wordstore.count_pending(self.store):
            return None
        return self.run(cancel=cancel, pause=pause)

    def _read_one(self, row: FileRow, stats: WordsRunStats, cancel: threading.Event) -> None:
        path = row.path
        try:
            before = os.stat(path)
            if not stat.S_ISREG(before.st_mode):
                self._failed(row, "not a regular file", stats)
                return
            found: list[tuple[int, str]] = []
            for page in pages(path, 0, cancel.is_set):  # stops early once cancelled
                found.extend((page.number, p) for p in passages(page.text))
            if cancel.is_set():
                return  # nothing written: it is read again next time
        except (FileNotFoundError, NotADirectoryError, FileVanishedError):
            if self.store.forget_vanished(row):
                stats.vanished += 1
            else:
                stats.skipped += 1  # changed, or made anew at its path, meanwhile
            return
        except ReadError as exc:
            self._unreadable(row, exc.detail, stats)
            return
        except PermissionError:
            self._unreadable(row, "permission denied", stats)
            return
        except OSError as exc:
            self._unreadable(row, f"cannot read: {exc.strerror or exc}", stats)
            return
        except DecodeError as exc:
            if cancel.is_set():
                return  # the reader was stopped under it (quitting): not the file's fault
            self._failed(row, exc.detail, stats, before)
            return
        # written only if the file on disk still has the stat read before its text
        outcome = wordstore.store_words(
            self.store,
            row,
            found,
            size=before.st_size,
            mtime_ns=before.st_mtime_ns,
            inode=before.st_ino,
        )
        if outcome == WRITTEN:
            stats.files += 1
            stats.passages += len(found)
        elif outcome == STALE:
            stats.skipped += 1
        else:
            stats.vanished += 1

    def _failed(
        self, row: FileRow, message: str, stats: WordsRunStats, st: os.stat_result | None = None
    ) -> None:
        """As the vectors' stage records it: an error until the file changes."""
        outcome = self.store.mark_error(
            row,
            message,
            size=st.st_size if st else None,
            mtime_ns=st.st_mtime_ns if st else None,
            inode=st.st_ino if st else None,
        )
        if outcome == WRITTEN:
            log.info("cannot index %s: %s", row.path, message)
            stats.errors += 1
        else:
            stats.skipped += 1

    def _unreadable(self, row: FileRow, message: str, stats: WordsRunStats) -> None:
        if self.store.mark_retry(row, message) == WRITTEN:
            log.warning(
                "cannot read %s just now (%s); keeping what the index has and trying again later",
                row.path,
                message,
            )
            stats.retrying += 1
        else:
            stats.skipped += 1
