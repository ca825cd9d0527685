"""Watching folders with watchdog: events are filtered, debounced and handed over in batches.

The watchdog handler only records paths (it runs on watchdog's thread and must stay quick); a
consumer thread hands a path over once no event has touched it for ``quiet`` seconds, so a file
still being copied is looked at once, when complete. Directory renames are passed on as such, so
the index can move a whole subtree without re-reading a file.

A batch whose handling fails (the index busy or full, say) is never dropped: it goes back in
front of what came since, in order, and is tried again, waiting longer each time.

inotify needs one watch per folder, and watchdog quietly skips the folders it cannot watch: once
the per-user limit (``fs.inotify.max_user_watches``) is reached, and for a folder made just
before one of its parents was renamed (it looks for the folder under the old name). So after
starting, and after each new or moved folder, the watches the kernel really holds
(``/proc/self/fdinfo``) are compared with the folders on disk; what is not watched is polled
instead. The limit is said once in the log and in :attr:`Watcher.notes` (shown by ``status``).

Polling is done by the consumer thread itself (a snapshot of each polled tree every
``poll_interval`` seconds, compared with the last one), so falling back adds no thread.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
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
from watchdog.utils.dirsnapshot import DirectorySnapshot, DirectorySnapshotDiff

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 2.0  # how often a polled folder tree is compared with its last snapshot
MAX_POLLED_TREES = 8  # beyond this many separate unwatched trees, poll the whole root
SUSPECT_WAIT_S = 2.0  # an unwatched new folder is polled if still unwatched after this
RETRY_FIRST_S = 0.5  # a failed batch is tried again after this, doubling up to RETRY_MAX_S
RETRY_MAX_S = 30.0
LIMIT_HINT = "raise fs.inotify.max_user_watches to avoid this"


@dataclass
class Batch:
    """What changed below the watched folders since the last batch."""

    paths: set[str] = field(default_factory=set)
    dir_moves: list[tuple[str, str]] = field(default_factory=list)
    dir_created: set[str] = field(default_factory=set)
    dir_deleted: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.paths or self.dir_moves or self.dir_created or self.dir_deleted)

    def then(self, later: Batch) -> Batch:
        """This batch followed by a later one (moves keep their order)."""
        return Batch(
            paths=self.paths | later.paths,
            dir_moves=self.dir_moves + later.dir_moves,
            dir_created=self.dir_created | later.dir_created,
            dir_deleted=self.dir_deleted | later.dir_deleted,
        )


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


def inotify_watched() -> set[tuple[int, int]] | None:
    """(st_dev, st_ino) of every inode this process's inotify instances watch, as the kernel
    sees them; None where that cannot be known (not Linux, no /proc)."""
    if not sys.platform.startswith("linux"):
        return None
    found: set[tuple[int, int]] = set()
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            with open(f"/proc/self/fdinfo/{fd}") as fh:
                lines = fh.read().splitlines()
        except OSError:
            continue  # closed meanwhile
        for line in lines:
            if not line.startswith("inotify "):
                continue
            fields = dict(part.split(":", 1) for part in line.split()[1:] if ":" in part)
            try:
                sdev = int(fields["sdev"], 16)
                ino = int(fields["ino"], 16)
            except (KeyError, ValueError):
                continue
            # the kernel prints its own dev_t (major << 20 | minor)
            found.add((os.makedev(sdev >> 20, sdev & 0xFFFFF), ino))
    return found


def inotify_refused(path: str) -> bool | None:
    """Whether the kernel refuses one more inotify watch (ENOSPC), tried on ``path`` with an
    instance of our own; None where that cannot be tried. Tells the watch limit apart from a
    folder made a moment ago, whose watch watchdog adds once it reads the folder's event."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    try:
        in_attrib = 0x4
        if libc.inotify_add_watch(fd, os.fsencode(path), in_attrib) >= 0:
            return False
        return ctypes.get_errno() == errno.ENOSPC
    finally:
        os.close(fd)  # and its watch with it


def _top_most(paths: list[str]) -> list[str]:
    out: list[str] = []
    for path in sorted(paths):
        if not any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in out):
            out.append(path)
    return out


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
        skip_dir: Callable[[str], bool] | None = None,
        on_note: Callable[[str], None] | None = None,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.roots = roots
        self.on_batch = on_batch
        self.quiet = quiet
        self.max_wait = max_wait
        self.polling = polling
        self.poll_interval = poll_interval
        self._skip_dir = skip_dir or (lambda _path: False)
        self._on_note = on_note
        self._lock = threading.Lock()
        self._first: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._pending = Batch()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._observers: list[BaseObserver] = []
        # trees polled (inotify cannot watch them, or polling was asked for): last snapshot
        self._polled: dict[str, DirectorySnapshot] = {}
        self._next_poll = 0.0
        self._suspects: dict[str, float] = {}  # unwatched folders, maybe not watched *yet*
        self._handler = _Handler(self)
        self._thread: threading.Thread | None = None
        self._retry: Batch | None = None
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST_S
        self._failing_since: float | None = None
        self._said_failing = False
        self._handing = False  # a batch was taken and is being handed over
        self.failed_roots: dict[str, str] = {}
        self.notes: list[str] = []  # what the user should know about how folders are watched
        self.batches = 0  # handed over successfully (for tests and status)

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
        for root in self.roots:
            observer = self._observe(root)
            if observer is not None:
                self._observers.append(observer)
        self._thread = threading.Thread(target=self._loop, name="lanterna-watch", daemon=True)
        self._thread.start()

    def _say(self, note: str) -> None:
        """Tell the user once how a folder is watched (log and status)."""
        if note in self.notes:
            return
        self.notes.append(note)
        log.warning("%s", note)
        if self._on_note is not None:
            try:
                self._on_note(note)
            except Exception:
                log.exception("could not record how folders are watched")

    def _observe(self, root: str) -> BaseObserver | None:
        if self.polling:
            self._poll(root)
            return None
        observer = Observer()
        try:
            observer.schedule(self._handler, root, recursive=True)
            observer.start()
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                self._say(
                    f"the inotify watch limit is reached: {root} is polled every "
                    f"{self.poll_interval:g} s instead of watched ({LIMIT_HINT})"
                )
                self._poll(root)
                return None
            self.failed_roots[root] = exc.strerror or str(exc)
            log.warning("cannot watch %s: %s", root, exc)
            return None
        self.check_watches(root)
        return observer

    def _poll(self, tree: str, *, announce: bool = False) -> None:
        """Poll ``tree`` (recursively) for changes: the fallback when it cannot be watched.
        ``announce``: changes may already have been missed there, so the tree is handed over
        as a new folder (looked at whole) with the next batch."""
        if self._is_polled(tree):
            return
        try:
            snapshot = DirectorySnapshot(tree, recursive=True)
        except OSError as exc:
            if os.path.isdir(tree):
                self.failed_roots[tree] = exc.strerror or str(exc)
                log.warning("cannot watch %s: %s", tree, exc)
            return
        for polled in [p for p in self._polled if p.startswith(tree.rstrip(os.sep) + os.sep)]:
            del self._polled[polled]  # inside the new tree
        self._polled[tree] = snapshot
        if announce:
            self.note_dir(tree, created=True)

    def _poll_now(self) -> None:
        """Compare each polled tree with its last snapshot and record what changed."""
        for tree, before in list(self._polled.items()):
            try:
                after = DirectorySnapshot(tree, recursive=True)
            except OSError:
                del self._polled[tree]  # gone (renamed or removed): its parent's events say so
                continue
            self._polled[tree] = after
            diff = DirectorySnapshotDiff(before, after)
            for path in [*diff.files_created, *diff.files_deleted, *diff.files_modified]:
                self.note(_text(path))
            for src, dest in diff.files_moved:
                self.note(_text(src))
                self.note(_text(dest))
            for src, dest in diff.dirs_moved:
                self.note_dir_move(_text(src), _text(dest))
            for path in diff.dirs_created:
                self.note_dir(_text(path), created=True)
            for path in diff.dirs_deleted:
                self.note_dir(_text(path), created=False)

    def _root_of(self, path: str) -> str | None:
        best = None
        for root in self.roots:
            if (path == root or path.startswith(root.rstrip(os.sep) + os.sep)) and (
                best is None or len(root) > len(best)
            ):
                best = root
        return best

    def _is_polled(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in self._polled)

    def _recheck_suspects(self) -> None:
        """Folders unwatched a while ago and unwatched still: watchdog missed them (it looked
        for them under a parent's old name); poll them, and look at them whole once."""
        now = time.monotonic()
        due = [d for d, seen in self._suspects.items() if now - seen >= SUSPECT_WAIT_S]
        if not due:
            return
        for directory in due:
            del self._suspects[directory]
        due = [d for d in due if os.path.isdir(d) and not self._is_polled(d)]
        watched = inotify_watched() if due else None
        if not watched:
            return
        missed = []
        for directory in due:
            try:
                st = os.stat(directory)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in watched:
                missed.append(directory)
        for root, dirs in self._by_root(missed).items():
            trees = _top_most(dirs)
            for tree in [root] if len(trees) > MAX_POLLED_TREES else trees:
                self._poll(tree, announce=True)
            log.info("%d new folders under %s were not watched; they are polled", len(dirs), root)

    def _by_root(self, paths: list[str]) -> dict[str, list[str]]:
        by_root: dict[str, list[str]] = {}
        for path in paths:
            by_root.setdefault(self._root_of(path) or path, []).append(path)
        return by_root

    def check_watches(self, *tops: str, announce: bool = False) -> list[str]:
        """Folders below (and including) ``tops`` that inotify does not watch: they are polled
        from now on (``announce``: and looked at whole once). Returns them."""
        if self.polling or self._stop.is_set():
            return []
        watched = inotify_watched()
        if watched is None:
            return []
        missing: list[str] = []
        for top in tops:
            for directory, subdirs, _files in os.walk(top):
                subdirs[:] = [d for d in subdirs if not self._skip_dir(os.path.join(directory, d))]
                if self._is_polled(directory):
                    subdirs[:] = []
                    continue
                try:
                    st = os.stat(directory)
                except OSError:
                    continue  # gone or unreadable: nothing to watch there
                if (st.st_dev, st.st_ino) not in watched:
                    missing.append(directory)
        if not missing:
            return []
        if inotify_refused(missing[0]) is False:
            # not the limit: watchdog may add their watches still (it reads their events
            # after us); look again in a moment
            now = time.monotonic()
            for directory in missing:
                self._suspects.setdefault(directory, now)
            return []
        for root, dirs in self._by_root(missing).items():
            trees = _top_most(dirs)
            for tree in [root] if len(trees) > MAX_POLLED_TREES else trees:
                self._poll(tree, announce=announce)
            self._say(
                f"the inotify watch limit is reached: folders under {root} that cannot be "
                f"watched are polled every {self.poll_interval:g} s instead ({LIMIT_HINT})"
            )
            log.info("%d folders under %s are polled", len(dirs), root)
        return missing

    @property
    def polled(self) -> list[str]:
        return list(self._polled)

    def stop(self) -> None:
        """Stop and wait: the consumer first (it may be handing a batch over, and may start a
        poller), then every observer."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)
            if self._thread.is_alive():
                log.warning("the watcher is still handling changes after 60 s")
        observers = list(self._observers)
        for observer in observers:
            try:
                observer.stop()
            except Exception:
                log.warning("a folder observer did not stop cleanly", exc_info=True)
        for observer in observers:
            if observer.is_alive():
                observer.join(timeout=10)
                if observer.is_alive():
                    log.warning("a folder observer is still running after 10 s")

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the consumer ------------------------------------------------------------------------

    def _take_ready(self) -> Batch:
        now = time.monotonic()
        batch = Batch()
        with self._lock:
            self._handing = True
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
            self._handing = bool(batch) or self._retry is not None
        return batch

    def _loop(self) -> None:
        tick = min(0.25, self.quiet / 4)
        while not self._stop.is_set():
            self._wake.wait(tick)
            if self._stop.is_set():
                break
            if self._polled and time.monotonic() >= self._next_poll:
                self._poll_now()
                self._next_poll = time.monotonic() + self.poll_interval
            if self._suspects:
                self._recheck_suspects()
            if self._retry is not None and time.monotonic() < self._retry_at:
                continue
            batch = self._take_ready()
            if self._retry is not None:
                batch = self._retry.then(batch)
                self._retry = None
            if batch:
                self._hand_over(batch)
            with self._lock:
                self._handing = False

    def _hand_over(self, batch: Batch) -> None:
        try:
            self.on_batch(batch)
        except Exception as exc:
            # Never drop it: the next try sees the disk as it is then, moves in their order.
            now = time.monotonic()
            if self._failing_since is None:
                self._failing_since = now
                log.warning("handling file changes failed; trying again: %s", exc, exc_info=True)
            elif now - self._failing_since > 300 and not self._said_failing:
                self._said_failing = True
                log.error("handling file changes keeps failing (still trying): %s", exc)
            self._retry = batch
            self._retry_at = now + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
            return
        if self._failing_since is not None:
            log.warning("file changes are handled again")
        self._failing_since = None
        self._said_failing = False
        self._retry_delay = RETRY_FIRST_S
        self.batches += 1
        new_dirs = batch.dir_created | {dest for _src, dest in batch.dir_moves}
        tops = [d for d in _top_most(list(new_dirs)) if self._root_of(d) and os.path.isdir(d)]
        if tops:
            self.check_watches(*tops, announce=True)

    def idle(self) -> bool:
        """No change is waiting for its quiet period to end (or to be tried again)."""
        with self._lock:
            return not self._last and self._retry is None and not self._handing
