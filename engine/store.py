"""The index: folders, files, items and their vectors in one SQLite file.

One writer connection, guarded by a lock and used in short ``BEGIN IMMEDIATE`` transactions; each
reading thread gets its own connection, so a query never waits for the indexer (WAL mode). A
thread's reader is closed when the thread ends, so short-lived threads leave nothing open.

Here: connections, the writer lock, transactions, settings, folders, files and their retries.
Store's other parts are mixins: engine.store_vectors (KNN, vectors, the in-memory copy),
engine.store_text (keyword search, OCR passages), engine.store_results (results of indexing);
engine.store_rows holds what they share. Callers import every name from here.

A page that cannot be read (SQLite's "malformed", sqlite-vec's "blob read error", a missing
table) raises IndexDamagedError and leaves a marker next to the index, so that the damage is
handled like a damaged file at opening: set aside, rebuilt, folders kept.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from . import db
from .errors import IndexDamagedError, IndexError_
from .paths import display, from_bytes, to_bytes
from .store_results import StoreResults
from .store_rows import (
    _FILE_COLS,
    ERROR,
    FILE_KINDS,
    GONE,
    INDEXED,
    ITEM_TYPES,
    NAME_ONLY,
    PENDING,
    STALE,
    WORDS_FIRST,
    WRITTEN,
    FileRow,
    Folder,
    Indexed,
    ItemVector,
    _file_row,
    _placeholders,
    is_damage,
    vector_kind,
)
from .store_text import SNIPPET_TOKENS, SNIPPETS, KeywordHit, StoreText
from .store_vectors import MAX_KNN, VINDEX_MIN_VECTORS, Hit, StoreVectors

if TYPE_CHECKING:  # the vector index loads when vectors are first touched: a search of exact
    from . import vectorindex  # words never needs it

__all__ = [
    "ERROR",
    "FILE_KINDS",
    "GONE",
    "INDEXED",
    "ITEM_TYPES",
    "MAX_KNN",
    "NAME_ONLY",
    "PENDING",
    "RETRY_BASE_S",
    "RETRY_MAX_S",
    "SNIPPETS",
    "SNIPPET_TOKENS",
    "STALE",
    "VINDEX_MIN_VECTORS",
    "WORDS_FIRST",
    "WRITTEN",
    "_FILE_COLS",
    "FileRow",
    "Folder",
    "Hit",
    "Indexed",
    "ItemVector",
    "KeywordHit",
    "Store",
    "_file_row",
    "is_damage",
    "vector_kind",
]

RETRY_BASE_S = 30.0  # a file that could not be read is tried again after this, doubling
RETRY_MAX_S = 6 * 3600.0

log = logging.getLogger(__name__)


class _Reader:
    """A thread's read connection, held in thread-local storage: when the thread ends, this
    object goes and a finaliser hands the connection back to be closed."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: apsw.Connection) -> None:
        self.conn = conn


def _release_reader(
    readers: set[apsw.Connection],
    lock: threading.Lock,
    released: list[apsw.Connection],
    conn: apsw.Connection,
) -> None:
    # Runs while the ended thread's state is being torn down: closing the connection there
    # (its Python tokenizer and functions go with it) crashed the interpreter, so it is only
    # queued, and closed by the next read of any thread, or by Store.close.
    with lock:
        readers.discard(conn)
        released.append(conn)


class Store(StoreVectors, StoreText, StoreResults):
    def __init__(
        self,
        path: Path,
        *,
        check: bool | None = None,
        readonly: bool = False,
        damaged: str | None = None,
    ) -> None:
        """``damaged``: this process found the index damaged; it is set aside and rebuilt."""
        self.path = path
        self.readonly = readonly  # a folder that cannot be written: search and status only
        self._writer_lock = db.WriterLock(path)
        self._writer, self.recovered = db.open_index(
            path, check=check, readonly=readonly, lock=self._writer_lock, damaged=damaged
        )
        self._ops: list[tuple[str, tuple[Any, ...]]] = []
        self._vindex: vectorindex.VectorIndex | None = None
        self._vgen = -1
        self._vloading = False
        # Long-lived processes (the app, `watch`) turn this on; a one-shot command answers
        # one query faster from sqlite-vec than it could load a copy of every vector.
        self.memory_index = False
        self._counted = (-1, 0)  # (generation, vectors) when last counted
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: set[apsw.Connection] = set()
        self._released: list[apsw.Connection] = []  # of threads that ended; closed soon
        self._readers_lock = threading.Lock()
        self._closed = False
        self.damaged: str | None = None  # why, once a read or write found a damaged page

    # -- connections -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._readers_lock:
                readers = list(self._readers) + self._released
                self._readers.clear()
                self._released.clear()
            for conn in readers:
                with suppress(apsw.Error):
                    conn.close()
            if self.damaged is None and not self.readonly:
                with suppress(apsw.Error):
                    self._writer.execute("PRAGMA optimize")
            with suppress(apsw.Error):
                self._writer.close()
            self._writer_lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def reader(self) -> apsw.Connection:
        if self._closed:
            raise IndexError_("the index is closed")
        if self._released:  # readers of threads that ended: closed here, by a live thread
            with self._readers_lock:
                released, self._released = self._released, []
            for old in released:
                with suppress(apsw.Error):
                    old.close()
        slot: _Reader | None = getattr(self._local, "reader", None)
        if slot is None:
            conn = db.connect(self.path, readonly=self.readonly)
            slot = _Reader(conn)
            self._local.reader = slot
            with self._readers_lock:
                self._readers.add(conn)
            weakref.finalize(
                slot, _release_reader, self._readers, self._readers_lock, self._released, conn
            )
        return slot.conn

    def open_readers(self) -> int:
        """How many read connections are in use (one per live thread that has read); those of
        ended threads are closed when the next reader is opened, or at close."""
        with self._readers_lock:
            return len(self._readers)

    def claim_writer(self) -> None:
        """Take the writer lock now and hold it until close: the indexing process is the one
        writer from its start, not from its first write (readers never take it)."""
        with self._lock:
            if self._closed:
                raise IndexError_("the index is closed")
            if self.readonly:
                raise IndexError_(
                    f"the index {display(self.path)} is read-only (its folder cannot be written)",
                    "search it here; update it where its folder can be written",
                )
            self._writer_lock.acquire()

    @property
    def is_writer(self) -> bool:
        return self._writer_lock.held

    def _damage(self, exc: BaseException) -> IndexDamagedError:
        """Note a damaged page (for this process and, by a marker, for the next opening)."""
        reason = str(exc) or type(exc).__name__
        if self.damaged is None:
            self.damaged = reason
            db.mark_damaged(self.path, reason)
            log.error("the index is damaged: %s", reason)
        return IndexDamagedError(
            f"the index is damaged ({reason})",
            "Lanterna keeps a copy and rebuilds the index, keeping your folders",
        )

    @contextmanager
    def write(self) -> Iterator[apsw.Connection]:
        with self._lock:
            if self._closed:
                raise IndexError_("the index is closed")
            if self.readonly:
                raise IndexError_(
                    f"the index {display(self.path)} is read-only (its folder cannot be written)",
                    "search it here; update it where its folder can be written",
                )
            self._writer_lock.acquire()
            self._ops = []
            try:
                with db.transaction(self._writer) as conn:
                    yield conn
                    if self._ops:
                        conn.execute(
                            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                            "WHERE key='vec_generation'"
                        )
                if self._ops:
                    self._apply_ops(self._ops)
            except apsw.Error as exc:
                if isinstance(exc, apsw.FullError) or self._nearly_full():
                    raise IndexError_(
                        "the disk holding the index is full; nothing was lost",
                        "free some space and run the indexer again",
                    ) from exc
                if is_damage(exc):
                    raise self._damage(exc) from exc
                raise

    def _nearly_full(self) -> bool:
        """Whether a failed write ran out of room (sqlite-vec reports it as a generic error)."""
        try:
            pages = int(self._writer.execute("PRAGMA page_count").fetchall()[0][0] or 0)
            limit = int(self._writer.execute("PRAGMA max_page_count").fetchall()[0][0] or 0)
            size = int(self._writer.execute("PRAGMA page_size").fetchall()[0][0] or 4096)
        except apsw.Error:
            return False
        room = (limit - pages) * size
        with suppress(OSError):
            room = min(room, shutil.disk_usage(self.path.parent).free)
        return room < 4 * 1024 * 1024  # a new vector chunk needs about 1 MB, and more for WAL

    def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        try:
            return db.rows(self.reader(), sql, params)
        except apsw.Error as exc:
            if is_damage(exc):
                raise self._damage(exc) from exc
            raise

    # -- meta and settings -------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        return {k: v for k, v in self._read("SELECT key, value FROM meta")}

    def set_meta(self, values: dict[str, str]) -> None:
        with self.write() as conn:
            for key, value in values.items():
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES(?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value),
                )

    def setting(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM settings WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_setting(self, key: str, value: Any) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT INTO settings(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value)),
            )

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> list[Folder]:
        return [
            Folder(id=r[0], path=from_bytes(r[1]), status=r[2], error=r[3], last_scan=r[4])
            for r in self._read(
                "SELECT id, path, status, error, last_scan FROM folders ORDER BY path"
            )
        ]

    def add_folder(self, path: str) -> int:
        with self.write() as conn:
            raw = to_bytes(path)
            row = conn.execute("SELECT id FROM folders WHERE path=?", (raw,)).fetchall()
            if row:
                found: Any = row[0][0]
                return int(found)
            conn.execute("INSERT INTO folders(path, added) VALUES(?, ?)", (raw, time.time()))
            return int(conn.last_insert_rowid())

    def absorb_folder(self, child_id: int, parent_id: int) -> None:
        """A parent of a watched folder was added: the child's files now belong to the parent."""
        with self.write() as conn:
            conn.execute("UPDATE files SET folder_id=? WHERE folder_id=?", (parent_id, child_id))
            conn.execute(
                "UPDATE vec_items SET folder_id=? WHERE folder_id=?", (parent_id, child_id)
            )
            conn.execute("DELETE FROM folders WHERE id=?", (child_id,))
            self._op("replace_folder", child_id, parent_id)

    def remove_folder(self, folder_id: int) -> int:
        """Forget a folder, its files and their vectors; returns how many files were dropped."""
        with self.write() as conn:
            ids = [
                r[0] for r in conn.execute("SELECT id FROM files WHERE folder_id=?", (folder_id,))
            ]
            self._delete_files(conn, ids)
            conn.execute("DELETE FROM folders WHERE id=?", (folder_id,))
            return len(ids)

    def set_folder_status(
        self, folder_id: int, status: str, error: str | None = None, scanned: bool = False
    ) -> None:
        with self.write() as conn:
            conn.execute(
                "UPDATE folders SET status=?, error=?, "
                "last_scan=CASE WHEN ? THEN ? ELSE last_scan END "
                "WHERE id=?",
                (status, error, scanned, time.time(), folder_id),
            )

    # -- files -------------------------------------------------------------------------------

    def files_in_folder(self, folder_id: int) -> dict[str, FileRow]:
        rows = self._read(f"SELECT {_FILE_COLS} FROM files WHERE folder_id=?", (folder_id,))
        return {r.path: r for r in map(_file_row, rows)}

    def files_by_path(self, paths: Iterable[str]) -> dict[str, FileRow]:
        out: dict[str, FileRow] = {}
        raws = [to_bytes(p) for p in paths]
        for start in range(0, len(raws), 500):
            chunk = raws[start : start + 500]
            rows = self._read(
                f"SELECT {_FILE_COLS} FROM files WHERE path IN ({_placeholders(len(chunk))})", chunk
            )
            out.update((r.path, r) for r in map(_file_row, rows))
        return out

    def files_under(self, prefix: str) -> list[FileRow]:
        """Files whose path lies below the directory ``prefix``."""
        raw = to_bytes(prefix.rstrip("/\\"))
        sep = os.sep.encode()
        lo = raw + sep
        hi = raw + bytes([sep[0] + 1])  # every path that starts with raw + sep sorts below this
        rows = self._read(f"SELECT {_FILE_COLS} FROM files WHERE path >= ? AND path < ?", (lo, hi))
        return [_file_row(r) for r in rows]

    def file(self, file_id: int) -> FileRow | None:
        rows = self._read(f"SELECT {_FILE_COLS} FROM files WHERE id=?", (file_id,))
        return _file_row(rows[0]) if rows else None

    def add_files(self, entries: Iterable[tuple[int, str, int, int, str]]) -> None:
        """Insert pending files: (folder_id, path, size, mtime_ns, kind)."""
        with self.write() as conn:
            for folder_id, path, size, mtime_ns, kind in entries:
                conn.execute(
                    "INSERT INTO files(folder_id, path, name, size, mtime_ns, kind, status) "
                    "VALUES(?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT(path) DO UPDATE SET size=excluded.size, "
                    "mtime_ns=excluded.mtime_ns, status=excluded.status, error=NULL, attempts=0, "
                    "retry_at=NULL",
                    (
                        folder_id,
                        to_bytes(path),
                        display(Path(path).name),
                        size,
                        mtime_ns,
                        kind,
                        INDEXED if kind == NAME_ONLY else PENDING,
                    ),
                )

    def mark_changed(self, changes: Iterable[tuple[int, int, int]]) -> None:
        """(file_id, size, mtime_ns): the file differs on disk; the indexer will look at it."""
        with self.write() as conn:
            for file_id, size, mtime_ns in changes:
                conn.execute(
                    "UPDATE files SET size=?, mtime_ns=?, error=NULL, attempts=0, retry_at=NULL, "
                    "status=CASE WHEN kind=? THEN ? ELSE ? END WHERE id=?",
                    (size, mtime_ns, NAME_ONLY, INDEXED, PENDING, file_id),
                )

    def move_file(
        self, file_id: int, folder_id: int, new_path: str, size: int, mtime_ns: int
    ) -> None:
        """A file was moved or renamed: its row, items and vectors follow it."""
        with self.write() as conn:
            self._move(conn, file_id, folder_id, new_path, size, mtime_ns)

    def _move(
        self,
        conn: apsw.Connection,
        file_id: int,
        folder_id: int,
        new_path: str,
        size: int,
        mtime_ns: int,
    ) -> None:
        raw = to_bytes(new_path)
        clash = conn.execute(
            "SELECT id FROM files WHERE path=? AND id<>?", (raw, file_id)
        ).fetchall()
        if clash:
            self._delete_files(conn, [int(clash[0][0] or 0)])
        conn.execute(
            "UPDATE files SET folder_id=?, path=?, name=?, size=?, mtime_ns=? WHERE id=?",
            (folder_id, raw, display(Path(new_path).name), size, mtime_ns, file_id),
        )
        # By id: sqlite-vec scans the whole table for an IN (SELECT ...) on its key.
        ids = self._item_ids(conn, [file_id])
        conn.executemany(
            "UPDATE vec_items SET folder_id=? WHERE item_id=?", [(folder_id, i) for i in ids]
        )
        self._op("set_folder", ids, folder_id)

    def move_tree(self, old_dir: str, new_dir: str, folder_id: int) -> list[str]:
        """A directory was renamed: every file below it keeps its vectors under the new path.
        Returns the new paths (the caller checks them against the disk: a file deleted just
        before the rename must not reappear under the new name)."""
        old = old_dir.rstrip("/\\")
        new = new_dir.rstrip("/\\")
        moved = self.files_under(old)
        targets = []
        with self.write() as conn:
            for row in moved:
                target = new + row.path[len(old) :]
                self._move(conn, row.id, folder_id, target, row.size, row.mtime_ns)
                targets.append(target)
        return targets

    def delete_files(self, file_ids: Sequence[int]) -> None:
        with self.write() as conn:
            self._delete_files(conn, file_ids)

    def _delete_files(self, conn: apsw.Connection, file_ids: Sequence[int]) -> None:
        ids = list(file_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = _placeholders(len(chunk))
            self._delete_vectors(conn, self._item_ids(conn, chunk))
            conn.execute(f"DELETE FROM files WHERE id IN ({marks})", chunk)

    def pending(self, limit: int, after_id: int = 0) -> list[FileRow]:
        rows = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE status=? AND id>? ORDER BY id LIMIT ?",
            (PENDING, after_id, limit),
        )
        return [_file_row(r) for r in rows]

    def pending_newest(self, limit: int, before: tuple[int, int] | None = None) -> list[FileRow]:
        """Pending files, most recently modified first; ``before`` is the last (mtime_ns, id)."""
        args: tuple[str | int, ...]
        if before is None:
            where, args = "status=?", (PENDING,)
        else:
            where = "status=? AND (mtime_ns < ? OR (mtime_ns = ? AND id < ?))"
            args = (PENDING, before[0], before[0], before[1])
        rows = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE {where} ORDER BY mtime_ns DESC, id DESC LIMIT ?",
            (*args, limit),
        )
        return [_file_row(r) for r in rows]

    def count_pending(self) -> int:
        return int(self._read("SELECT count(*) FROM files WHERE status=?", (PENDING,))[0][0])

    def indexed_with_hash(self, digest: str, exclude_id: int) -> int | None:
        rows = self._read(
            "SELECT id FROM files WHERE hash=? AND status=? AND id<>? LIMIT 1",
            (digest, INDEXED, exclude_id),
        )
        return int(rows[0][0]) if rows else None

    # -- retries -----------------------------------------------------------------------------

    def mark_retry(self, file: FileRow, message: str, *, now: float | None = None) -> str:
        """The file could not be read for a passing reason: keep its vectors (they are still
        searchable), note why, and try again later, waiting twice as long after each failure."""
        when = time.time() if now is None else now
        with self.write() as conn:
            outcome = self._still_true(conn, file, None, None, None)
            if outcome != WRITTEN:
                return outcome
            attempts, digest = conn.execute(
                "SELECT attempts, hash FROM files WHERE id=?", (file.id,)
            ).fetchall()[0]
            has_items = bool(
                conn.execute("SELECT 1 FROM items WHERE file_id=? LIMIT 1", (file.id,)).fetchall()
            )
            delay = min(RETRY_BASE_S * 2 ** min(int(attempts or 0), 20), RETRY_MAX_S)
            conn.execute(
                "UPDATE files SET status=?, error=?, attempts=attempts+1, retry_at=? WHERE id=?",
                (INDEXED if digest and has_items else ERROR, message, when + delay, file.id),
            )
            return outcome

    def requeue_due(self, now: float | None = None) -> int:
        """Make the files whose retry time has come pending again; returns how many."""
        when = time.time() if now is None else now
        if not self._read(
            "SELECT 1 FROM files WHERE retry_at <= ? AND status <> ? LIMIT 1", (when, PENDING)
        ):
            return 0
        with self.write() as conn:
            conn.execute(
                "UPDATE files SET status=? WHERE retry_at <= ? AND status <> ?",
                (PENDING, when, PENDING),
            )
            return int(conn.changes())

    def next_retry(self) -> float | None:
        rows = self._read(
            "SELECT min(retry_at) FROM files WHERE retry_at IS NOT NULL AND status <> ?",
            (PENDING,),
        )
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def retry_errors(self) -> int:
        with self.write() as conn:
            conn.execute(
                "UPDATE files SET status=?, error=NULL WHERE status=? OR retry_at IS NOT NULL",
                (PENDING, ERROR),
            )
            return int(conn.changes())

    # -- queries -----------------------------------------------------------------------------

    def recent(self, limit: int) -> list[FileRow]:
        rows = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE status=? AND kind<>? "
            "ORDER BY coalesce(taken, mtime_ns / 1e9) DESC LIMIT ?",
            (INDEXED, NAME_ONLY, limit),
        )
        return [_file_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        counts = {PENDING: 0, INDEXED: 0, ERROR: 0}
        for status, n in self._read("SELECT status, count(*) FROM files GROUP BY status"):
            counts[status] = n
        counts["retrying"] = int(
            self._read("SELECT count(*) FROM files WHERE retry_at IS NOT NULL")[0][0]
        )
        counts["items"] = int(self._read("SELECT count(*) FROM items")[0][0])
        counts["vectors"] = int(self._read("SELECT count(*) FROM vec_items")[0][0])
        return counts

    def errors(self, limit: int = 100) -> list[FileRow]:
        rows = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE status=? ORDER BY path LIMIT ?", (ERROR, limit)
        )
        return [_file_row(r) for r in rows]

    def size_bytes(self) -> int:
        return db.file_size(self.path)
