"""Watching folders with watchdog: events are filtered, debounced and handed over in batches.

The watchdog handler only records paths (it runs on watchdog's thread and must stay quick); a
consumer thread hands a path over once no event has touched it for ``quiet`` seconds, so a file
still being copied is looked at once, when complete. Directory renames are passed on as such, so
the index can move a whole subtree without re-reading a file.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """What changed below the watched folders since the last batch."""

    paths: set[str] = field(default_factory=set)
    dir_moves: list[tuple[str, str]] = field(default_factory=list)
    dir_created: set[str] = field(default_factory=set)
    dir_deleted: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.paths or self.dir_moves or self.dir_created or self.dir_deleted)


def _text(path: str | bytes) -> str:
    return os.fsdecode(path)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent):
            return  # reading a file changes nothing
        src = _text(event.src_path)
        if isinstance(event, DirMovedEvent):
            self.watcher.note_dir_move(src, _text(event.dest_path))
        elif isinstance(event, DirCreatedEvent):
            self.watcher.note_dir(src, created=True)
        elif isinstance(event, DirDeletedEvent):
            self.watcher.note_dir(src, created=False)
        elif event.is_directory:
            return  # a directory's own mtime changed: its files' events say what happened
        else:
            self.watcher.note(src)
            if event.dest_path:
                self.watcher.note(_text(event.dest_path))


class Watcher:
    """Runs observers for the given roots and calls ``on_batch`` from its own thread."""

    def __init__(
        self,
        roots: list[str],
        on_batch: Callable[[Batch], None],
        *,
        quiet: float = 1.0,
        max_wait: float = 60.0,
        polling: bool = False,
    ) -> None:
        self.roots = roots
        self.on_batch = on_batch
        self.quiet = quiet
        self.max_wait = max_wait
        self.polling = polling
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._pending = Batch()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._observers: list[BaseObserver] = []
        self._thread: threading.Thread | None = None
        self.failed_roots: dict[str, str] = {}

    # -- recording (watchdog's threads) ------------------------------------------------------

    def note(self, path: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._first.setdefault(path, now)
            self._last[path] = now

    def note_dir(self, path: str, *, created: bool) -> None:
        now = time.monotonic()
        with self._lock:
            (self._pending.dir_created if created else self._pending.dir_deleted).add(path)
            self._first.setdefault("", now)
            self._last[""] = now

    def note_dir_move(self, src: str, dest: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._pending.dir_moves.append((src, dest))
            self._first.setdefault("", now)
            self._last[""] = now

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        handler = _Handler(self)
        for root in self.roots:
            self._observers.append(self._observe(root, handler))
        self._thread = threading.Thread(target=self._loop, name="lanterna-watch", daemon=True)
        self._thread.start()

    def _observe(self, root: str, handler: _Handler) -> BaseObserver:
        kinds: list[Callable[[], BaseObserver]] = (
            [PollingObserver] if self.polling else [Observer, PollingObserver]
        )
        for kind in kinds:
            observer = kind()
            try:
                observer.schedule(handler, root, recursive=True)
                observer.start()
                return observer
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    log.warning(
                        "too many folders for inotify under %s; polling instead "
                        "(raise fs.inotify.max_user_watches to avoid this)",
                        root,
                    )
                    continue
                self.failed_roots[root] = exc.strerror or str(exc)
                log.warning("cannot watch %s: %s", root, exc)
                break
        observer = PollingObserver()
        return observer

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for observer in self._observers:
            try:
                observer.stop()
            except Exception:
                log.debug("observer stop failed", exc_info=True)
        for observer in self._observers:
            if observer.is_alive():
                observer.join(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- the consumer ------------------------------------------------------------------------

    def _take_ready(self) -> Batch:
        now = time.monotonic()
        batch = Batch()
        with self._lock:
            for path, last in list(self._last.items()):
                if now - last < self.quiet and now - self._first[path] < self.max_wait:
                    continue
                del self._last[path]
                del self._first[path]
                if path == "":
                    batch.dir_moves = self._pending.dir_moves
                    batch.dir_created = self._pending.dir_created
                    batch.dir_deleted = self._pending.dir_deleted
                    self._pending = Batch()
                else:
                    batch.paths.add(path)
        return batch

    def _loop(self) -> None:
        tick = min(0.25, self.quiet / 4)
        while not self._stop.is_set():
            self._wake.wait(tick)
            batch = self._take_ready()
            if batch:
                try:
                    self.on_batch(batch)
                except Exception:
                    log.exception("handling file changes failed")

    def idle(self) -> bool:
        """No change is waiting for its quiet period to end."""
        with self._lock:
            return not self._last
