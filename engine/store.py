"""The index: folders, files, items and their vectors in one SQLite file.

One writer connection, guarded by a lock and used in short ``BEGIN IMMEDIATE`` transactions; each
reading thread gets its own connection, so a query never waits for the indexer (WAL mode). A
thread's reader is closed when the thread ends, so short-lived threads leave nothing open.
Vectors live in a sqlite-vec ``vec0`` table keyed by item id; ``kind``, ``folder_id`` and
``taken`` are metadata columns so that KNN can filter on them.

Results of indexing are written only while still true: the file's row must still carry the
size and mtime that were read (no newer change recorded meanwhile) and the file on disk must
still have the size, mtime and inode that were read. Otherwise the commit writes nothing and the
file stays pending; a row deleted meanwhile is simply skipped.

A page that cannot be read (SQLite's "malformed", sqlite-vec's "blob read error", a missing
table) raises IndexDamagedError and leaves a marker next to the index, so that the damage is
handled like a damaged file at opening: set aside, rebuilt, folders kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from . import db
from .errors import IndexDamagedError, IndexError_
from .migrations import VECTOR_DIMS
from .paths import display, from_bytes, to_bytes

if TYPE_CHECKING:  # numpy and the vector index load when vectors are first touched: a search
    import numpy as np  # of exact words never needs them
    import numpy.typing as npt

    from . import vectorindex

PENDING = "pending"
INDEXED = "indexed"
ERROR = "error"
# engine.scanner's kind for files found by name only: nothing to read or embed, so they are
# indexed as soon as they are seen.
NAME_ONLY = "other"

# The source of a pending document's passages written ahead of its vectors (engine.words):
# keyword search finds them while the file waits; its older passages are not searched then.
WORDS_FIRST = "words"

# What a commit of indexing results found (see Store.store_indexed).
WRITTEN = "written"
STALE = "stale"  # changed since it was read: nothing written, the file stays pending
GONE = "gone"  # the row was deleted meanwhile: nothing to write

RETRY_BASE_S = 30.0  # a file that could not be read is tried again after this, doubling
RETRY_MAX_S = 6 * 3600.0

MAX_KNN = 4096  # sqlite-vec's limit on k
SNIPPETS = 3  # highlighted fragments per keyword hit
SNIPPET_TOKENS = 24
# Below this, sqlite-vec's brute force is fast enough and loading a copy is not worth it.
VINDEX_MIN_VECTORS = 20_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Folder:
    id: int
    path: str
    status: str
    error: str | None
    last_scan: float | None


@dataclass
class FileRow:
    id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    kind: str
    status: str
    error: str | None = None
    taken: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ItemVector:
    """One embedded item of a file: a page render or photo (type "image") or a text chunk."""

    page: int
    type: str
    vector: npt.NDArray[np.float32]
    text: str | None = None
    source: str | None = None  # "ocr": text read from the picture (engine.ocrindex)
    boxes: str | None = None  # for OCR passages: JSON of the picture's size and the lines


@dataclass
class Indexed:
    """A file's embedded items and what was learnt while reading it."""

    file: FileRow
    items: Sequence[ItemVector]
    digest: str
    size: int
    mtime_ns: int
    taken: float | None = None
    width: int | None = None
    height: int | None = None
    inode: int | None = None  # with size and mtime_ns: what was read, checked again at commit


@dataclass(frozen=True)
class Hit:
    item_id: int
    file_id: int
    path: str
    kind: str
    page: int
    type: str
    text: str | None
    distance: float
    taken: float | None


@dataclass(frozen=True)
class KeywordHit:
    """A passage (or a file name) that holds the query's words.

    ``snippet`` is the passage's best fragment with the matched words in ``[brackets]``;
    ``snippets`` holds up to SNIPPETS such fragments, best first. ``matched`` says how:
    "exact" (the words as typed, diacritics and case aside), "stemmed" (only through another
    form of a word: "tarpaulin" for "tarpaulins") or "name" (the file's name). ``rank`` is
    FTS5's bm25 (lower is better); ``exact`` counts the query's exact phrases in the passage.
    """

    file_id: int
    item_id: int | None
    page: int
    snippet: str | None
    path: str
    kind: str
    taken: float | None
    matched: str = "exact"
    snippets: tuple[str, ...] = ()
    rank: float = 0.0
    exact: int = 0


_FILE_COLS = "id, folder_id, path, size, mtime_ns, hash, kind, status, error, taken, width, height"


def _file_row(row: Sequence[Any]) -> FileRow:
    return FileRow(
        id=row[0],
        folder_id=row[1],
        path=from_bytes(row[2]),
        size=row[3],
        mtime_ns=row[4],
        hash=row[5],
        kind=row[6],
        status=row[7],
        error=row[8],
        taken=row[9],
        width=row[10],
        height=row[11],
    )


def _blob(vector: npt.NDArray[np.float32]) -> bytes:
    import numpy as np

    arr = np.ascontiguousarray(vector, dtype=np.float32)
    if arr.shape != (VECTOR_DIMS,):
        raise ValueError(f"expected a {VECTOR_DIMS}-d vector, got shape {arr.shape}")
    return arr.tobytes()


FILE_KINDS = ("image", "document")
ITEM_TYPES = ("image", "text")


def vector_kind(file_kind: str, item_type: str) -> str:
    """What ``vec_items.kind`` holds: the file's kind and the item's type (``document/text``)."""
    return f"{file_kind}/{item_type}"


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# sqlite-vec reports unreadable chunks as generic errors; a missing table is a damaged schema.
_DAMAGE = re.compile(
    r"blob read error|chunks iter error|blob open|malformed|no such table|"
    r"vtable constructor failed|file is not a database",
    re.IGNORECASE,
)
# The only errors a keyword query may end in without the index being at fault.
_FTS_SYNTAX = re.compile(r"fts5: syntax error|unknown special query|no such column", re.I)


def is_damage(exc: BaseException) -> bool:
    if isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        return True
    return isinstance(exc, apsw.SQLError) and bool(_DAMAGE.search(str(exc)))


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


class Store:
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

    # -- the in-memory vector index ----------------------------------------------------------

    def _op(self, name: str, *args: Any) -> None:
        """Record a change to the vectors, applied to the in-memory index once committed."""
        self._ops.append((name, args))

    def _generation(self, conn: apsw.Connection) -> int:
        try:
            rows = conn.execute("SELECT value FROM meta WHERE key='vec_generation'").fetchall()
        except apsw.Error as exc:
            if is_damage(exc):
                raise self._damage(exc) from exc
            raise
        value: Any = rows[0][0] if rows else -1
        return int(value)

    def _apply_ops(self, ops: list[tuple[str, tuple[Any, ...]]]) -> None:
        index = self._vindex
        if index is None:
            return
        try:
            for name, args in ops:
                if name == "add":
                    ids, vectors, kind, folder_id, taken = args
                    index.add(ids, vectors, kind=kind, folder_id=folder_id, taken=taken)
                elif name == "remove":
                    index.remove(args[0])
                elif name == "set_folder":
                    index.set_folder(args[0], args[1])
                elif name == "replace_folder":
                    index.replace_folder(args[0], args[1])
                elif name == "clear":
                    index.clear()
            self._vgen = self._generation(self._writer)
        except Exception:  # never let the cache break a write that has committed
            log.exception("the in-memory vector index fell out of step; it will be reloaded")
            self._vindex = None

    def load_memory_index(self) -> int:
        """Build the in-memory copy of the vectors now; writers wait meanwhile, so no change is
        lost. Returns how many vectors it holds. Turns ``memory_index`` on."""
        from . import vectorindex

        with self._lock:
            if self._closed:
                raise IndexError_("the index is closed")
            self.memory_index = True
            conn = self.reader()
            gen = self._generation(conn)
            index = vectorindex.load_vec_items(conn, VECTOR_DIMS)
            self._vindex, self._vgen = index, gen
        log.info("in-memory vector index ready: %d vectors", len(index))
        return len(index)

    def _load_vindex(self) -> None:
        try:
            self.load_memory_index()
        except Exception:
            log.exception("could not build the in-memory vector index; sqlite-vec answers")
        finally:
            self._vloading = False

    def _fast_index(self) -> vectorindex.VectorIndex | None:
        """The in-memory index if it is current, else None (and a reload is started)."""
        index = self._vindex
        gen = self._generation(self.reader())
        if index is not None and gen == self._vgen:
            return index
        if not self.memory_index or self._vloading:
            return None
        if self._counted[0] != gen:  # count(*) on vec0 costs ~2 ms per 20k rows: once per change
            self._counted = (gen, self.count_vectors())
        if self._counted[1] >= VINDEX_MIN_VECTORS:
            self._vloading = True
            threading.Thread(target=self._load_vindex, name="lanterna-vindex", daemon=True).start()
        return None

    def vector_generation(self) -> int:
        """A number that changes with every write that changes vectors (any process)."""
        return self._generation(self.reader())

    def count_vectors(self) -> int:
        return int(self._read("SELECT count(*) FROM vec_items")[0][0])

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

    @staticmethod
    def _item_ids(conn: apsw.Connection, file_ids: Sequence[int]) -> list[int]:
        if not file_ids:
            return []
        rows = conn.execute(
            f"SELECT id FROM items WHERE file_id IN ({_placeholders(len(file_ids))})",
            list(file_ids),
        ).fetchall()
        return [int(r[0] or 0) for r in rows]

    def _delete_vectors(self, conn: apsw.Connection, item_ids: Sequence[int]) -> None:
        if item_ids:
            conn.executemany("DELETE FROM vec_items WHERE item_id=?", [(i,) for i in item_ids])
            self._op("remove", list(item_ids))

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

    # -- results of indexing -----------------------------------------------------------------

    @staticmethod
    def _still_true(
        conn: apsw.Connection,
        file: FileRow,
        size: int | None,
        mtime_ns: int | None,
        inode: int | None,
    ) -> str:
        """Whether what was read of ``file`` may be written now (inside the write transaction).

        The row must carry the stat it had when it was read, or the one that was read (no
        newer change recorded by a scan or the watcher); with ``inode`` given, the file on disk
        must still have the size, mtime and inode that were read.
        """
        rows = conn.execute("SELECT path, size, mtime_ns FROM files WHERE id=?", (file.id,))
        found = rows.fetchall()
        if not found:
            return GONE
        raw: bytes = found[0][0]  # type: ignore[assignment]
        recorded = (found[0][1], found[0][2])
        if recorded != (file.size, file.mtime_ns) and recorded != (size, mtime_ns):
            return STALE
        if inode is None:
            return WRITTEN
        try:
            st = os.stat(from_bytes(raw))
        except OSError:
            return STALE  # gone or unreadable since: look at it again
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns) or (
            inode and st.st_ino and st.st_ino != inode
        ):
            return STALE
        return WRITTEN

    def store_indexed(self, results: Sequence[Indexed]) -> list[str]:
        """Write a batch of embedded files in one transaction, each only if still true (see
        :meth:`_still_true`). Returns WRITTEN, STALE or GONE for each, in order."""
        if not results:
            return []
        outcomes = []
        with self.write() as conn:
            for res in results:
                outcome = self._still_true(conn, res.file, res.size, res.mtime_ns, res.inode)
                outcomes.append(outcome)
                if outcome != WRITTEN:
                    continue
                res.file.taken = res.taken
                self._replace_items(conn, res.file, res.items)
                conn.execute(
                    "UPDATE files SET status=?, error=NULL, hash=?, size=?, mtime_ns=?, taken=?, "
                    "width=?, height=?, indexed_at=?, attempts=0, retry_at=NULL WHERE id=?",
                    (
                        INDEXED,
                        res.digest,
                        res.size,
                        res.mtime_ns,
                        res.taken,
                        res.width,
                        res.height,
                        time.time(),
                        res.file.id,
                    ),
                )
        return outcomes

    def _replace_items(
        self, conn: apsw.Connection, file: FileRow, items: Sequence[ItemVector]
    ) -> None:
        import numpy as np

        self._delete_vectors(conn, self._item_ids(conn, [file.id]))
        conn.execute("DELETE FROM items WHERE file_id=?", (file.id,))
        taken = int(file.taken or file.mtime_ns // 1_000_000_000)
        new_ids = []
        kinds = []
        for item in items:
            conn.execute(
                "INSERT INTO items(file_id, page, type, text, source, boxes) "
                "VALUES(?, ?, ?, ?, ?, ?)",
                (file.id, item.page, item.type, item.text, item.source, item.boxes),
            )
            item_id = conn.last_insert_rowid()
            kind = vector_kind(file.kind, item.type)
            conn.execute(
                "INSERT INTO vec_items(item_id, embedding, kind, folder_id, taken) "
                "VALUES(?, ?, ?, ?, ?)",
                (item_id, _blob(item.vector), kind, file.folder_id, taken),
            )
            new_ids.append(item_id)
            kinds.append(kind)
        if new_ids:
            self._op(
                "add",
                new_ids,
                np.stack([i.vector for i in items]),
                kinds,
                file.folder_id,
                taken,
            )

    def copy_items(
        self,
        source_id: int,
        target: FileRow,
        *,
        digest: str,
        size: int,
        mtime_ns: int,
        inode: int | None = None,
    ) -> str:
        """Give ``target`` the items and vectors of an identical file, if still true; STALE
        also when the source went away (the target is then read and embedded itself)."""
        import numpy as np

        with self.write() as conn:
            outcome = self._still_true(conn, target, size, mtime_ns, inode)
            if outcome != WRITTEN:
                return outcome
            src = conn.execute(
                "SELECT taken, width, height FROM files WHERE id=? AND status=?",
                (source_id, INDEXED),
            ).fetchall()
            if not src:
                return STALE
            taken, width, height = src[0]
            taken = float(taken) if taken is not None else None
            items = [
                ItemVector(
                    page=r[0],
                    type=r[1],
                    text=r[2],
                    vector=np.frombuffer(r[3], dtype=np.float32),
                    source=r[4],
                    boxes=r[5],
                )
                for r in conn.execute(
                    "SELECT i.page, i.type, i.text, v.embedding, i.source, i.boxes FROM items i "
                    "JOIN vec_items v ON v.item_id = i.id WHERE i.file_id=? ORDER BY i.id",
                    (source_id,),
                )
            ]
            target.taken = taken
            self._replace_items(conn, target, items)
            conn.execute(
                "UPDATE files SET status=?, error=NULL, hash=?, size=?, mtime_ns=?, taken=?, "
                "width=?, height=?, indexed_at=?, attempts=0, retry_at=NULL WHERE id=?",
                (INDEXED, digest, size, mtime_ns, taken, width, height, time.time(), target.id),
            )
            # the copied items include the source's text read by OCR: so does its record
            conn.execute("DELETE FROM ocr_files WHERE file_id=?", (target.id,))
            conn.execute(
                "INSERT INTO ocr_files(file_id, hash, lines, pages, error, read_at) "
                "SELECT ?, hash, lines, pages, error, read_at FROM ocr_files "
                "WHERE file_id=? AND hash=?",
                (target.id, source_id, digest),
            )
            return WRITTEN

    def mark_unchanged(
        self, file: FileRow, size: int, mtime_ns: int, inode: int | None = None
    ) -> str:
        """Touched but identical content: record the new stat, keep the vectors."""
        with self.write() as conn:
            outcome = self._still_true(conn, file, size, mtime_ns, inode)
            if outcome == WRITTEN:
                conn.execute(
                    "UPDATE files SET status=?, error=NULL, size=?, mtime_ns=?, attempts=0, "
                    "retry_at=NULL WHERE id=?",
                    (INDEXED, size, mtime_ns, file.id),
                )
            return outcome

    def mark_error(
        self,
        file: FileRow | int,
        message: str,
        *,
        size: int | None = None,
        mtime_ns: int | None = None,
        inode: int | None = None,
    ) -> str:
        """The file's content cannot be indexed (damaged, unsupported): its old vectors
        describe content that is gone, so they go; it is read again once it changes. ``file``
        is the row as it was read (or an id: the row as it is now)."""
        if isinstance(file, int):
            found = self.file(file)
            if found is None:
                return GONE
            file = found
        with self.write() as conn:
            outcome = self._still_true(
                conn, file, size, mtime_ns, inode if size is not None else None
            )
            if outcome != WRITTEN:
                return outcome
            self._delete_vectors(conn, self._item_ids(conn, [file.id]))
            conn.execute("DELETE FROM items WHERE file_id=?", (file.id,))
            conn.execute(
                "UPDATE files SET status=?, error=?, attempts=attempts+1, retry_at=NULL, "
                "size=coalesce(?, size), mtime_ns=coalesce(?, mtime_ns), hash=NULL "
                "WHERE id=?",
                (ERROR, message, size, mtime_ns, file.id),
            )
            return outcome

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

    def forget_vanished(self, file: FileRow) -> bool:
        """The file was not found when read: forget it, unless a newer change was recorded
        meanwhile or something is at its path again (deleted, then made anew)."""
        with self.write() as conn:
            if self._still_true(conn, file, None, None, None) != WRITTEN:
                return False
            try:
                os.lstat(file.path)
            except (FileNotFoundError, NotADirectoryError):
                self._delete_files(conn, [file.id])
                return True
            except OSError:
                return False  # unreadable is not deleted
            return False

    def retry_errors(self) -> int:
        with self.write() as conn:
            conn.execute(
                "UPDATE files SET status=?, error=NULL WHERE status=? OR retry_at IS NOT NULL",
                (PENDING, ERROR),
            )
            return int(conn.changes())

    def clear_vectors(self) -> None:
        """Drop every vector and mark every file for embedding again (a new model)."""
        with self.write() as conn:
            conn.execute("DELETE FROM vec_items")
            conn.execute("DELETE FROM items")
            conn.execute("DELETE FROM ocr_files")
            self._op("clear")
            conn.execute(
                "UPDATE files SET status=?, error=NULL, hash=NULL, attempts=0, retry_at=NULL "
                "WHERE kind<>?",
                (PENDING, NAME_ONLY),
            )

    # -- queries -----------------------------------------------------------------------------

    def knn(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        *,
        kind: str | None = None,
        item_type: str | None = None,
        folder_ids: Sequence[int] | None = None,
        taken_from: float | None = None,
        taken_to: float | None = None,
    ) -> list[tuple[int, float]]:
        """The nearest items as (item_id, cosine distance), nearest first: of files of ``kind``
        ("image", "document") and items of ``item_type`` ("image", "text") when given."""
        if kind is None and item_type is None:
            return self._knn(query, k, None, folder_ids, taken_from, taken_to)
        kinds = [
            vector_kind(f, t)
            for f in ((kind,) if kind else FILE_KINDS)
            for t in ((item_type,) if item_type else ITEM_TYPES)
        ]
        merged: list[tuple[int, float]] = []
        for value in kinds:
            merged.extend(self._knn(query, k, value, folder_ids, taken_from, taken_to))
        merged.sort(key=lambda hit: hit[1])
        return merged[: min(k, MAX_KNN)]

    def _knn(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        kind: str | None,
        folder_ids: Sequence[int] | None,
        taken_from: float | None,
        taken_to: float | None,
    ) -> list[tuple[int, float]]:
        """One KNN: from the in-memory index when it is current (large libraries), else from
        sqlite-vec."""
        index = self._fast_index()
        if index is not None:
            return index.search(
                query,
                min(k, MAX_KNN),
                kind=kind,
                folder_ids=folder_ids,
                taken_from=taken_from,
                taken_to=taken_to,
            )
        where = ["embedding MATCH ?", "k = ?"]
        params: list[Any] = [_blob(query), min(k, MAX_KNN)]
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if folder_ids is not None:
            if not folder_ids:
                return []
            where.append(f"folder_id IN ({_placeholders(len(folder_ids))})")
            params.extend(folder_ids)
        if taken_from is not None:
            where.append("taken >= ?")
            params.append(int(taken_from))
        if taken_to is not None:
            where.append("taken <= ?")
            params.append(int(taken_to))
        sql = (
            f"SELECT item_id, distance FROM vec_items WHERE {' AND '.join(where)} ORDER BY distance"
        )
        return [(int(r[0]), float(r[1])) for r in self._read(sql, params)]

    def hits(self, scored: Sequence[tuple[int, float]]) -> list[Hit]:
        if not scored:
            return []
        ids = [item_id for item_id, _ in scored]
        rows = self._read(
            "SELECT i.id, f.id, f.path, f.kind, i.page, i.type, i.text, f.taken, f.mtime_ns "
            "FROM items i JOIN files f ON f.id = i.file_id "
            f"WHERE i.id IN ({_placeholders(len(ids))})",
            ids,
        )
        by_id = {r[0]: r for r in rows}
        out = []
        for item_id, distance in scored:
            r = by_id.get(item_id)
            if r is None:
                continue  # deleted between the KNN and this look-up
            out.append(
                Hit(
                    item_id=item_id,
                    file_id=r[1],
                    path=from_bytes(r[2]),
                    kind=r[3],
                    page=r[4],
                    type=r[5],
                    text=r[6],
                    distance=distance,
                    taken=r[7] if r[7] is not None else r[8] / 1e9,
                )
            )
        return out

    def keyword(
        self,
        match: str,
        limit: int,
        *,
        names: bool,
        kind: str | None = None,
        folder_ids: Sequence[int] | None = None,
        taken_from: float | None = None,
        taken_to: float | None = None,
    ) -> list[KeywordHit]:
        """Full-text hits (FTS5, best first): document passages, or file names if ``names``.

        ``match`` is an FTS5 expression made of ``engine.fts`` terms and phrases. Passages that
        hold more of the query's exact (unstemmed) words come first, then by bm25. File names
        are searched whatever the file's state, so a file whose content cannot be read is still
        found by its name; passages of files not indexed (yet) only when written ahead of the
        vectors (``WORDS_FIRST``, engine.words).
        """
        if names:
            sql = (
                "SELECT f.id, NULL, 1, f.path, f.kind, f.taken, f.mtime_ns, bm25(fts_names) "
                "FROM fts_names JOIN files f ON f.id = fts_names.rowid WHERE fts_names MATCH ?"
            )
            params: list[Any] = [match]
            pool = limit
        else:
            sql = (
                "SELECT f.id, i.id, i.page, f.path, f.kind, f.taken, f.mtime_ns, bm25(fts_text) "
                "FROM fts_text JOIN items i ON i.id = fts_text.rowid "
                "JOIN files f ON f.id = i.file_id WHERE fts_text MATCH ? "
                "AND (f.status = ? OR i.source = ?)"
            )
            params = [match, INDEXED, WORDS_FIRST]
            pool = max(limit * 3, 50)  # re-ordered below: exact forms before stems
        if kind:
            sql += " AND f.kind = ?"
            params.append(kind)
        if folder_ids is not None:
            if not folder_ids:
                return []
            sql += f" AND f.folder_id IN ({_placeholders(len(folder_ids))})"
            params.extend(folder_ids)
        when = "coalesce(f.taken, f.mtime_ns / 1e9)"
        if taken_from is not None:
            sql += f" AND {when} >= ?"
            params.append(taken_from)
        if taken_to is not None:
            sql += f" AND {when} <= ?"
            params.append(taken_to)
        sql += " ORDER BY 8 LIMIT ?"
        params.append(pool)
        try:
            rows = self._read(sql, params)
            info = {} if names or not rows else self._match_info(match, [r[1] for r in rows])
        except apsw.SQLError as exc:
            if not _FTS_SYNTAX.search(str(exc)):
                raise  # a damaged index raised IndexDamagedError already; others are bugs
            log.debug("FTS5 cannot parse %r: %s", match, exc)
            return []  # a query FTS5 cannot parse finds nothing by keyword
        hits = []
        for r in rows:
            exact, stemmed, snippets = info.get(r[1], (0, 0, ()))
            hits.append(
                KeywordHit(
                    file_id=r[0],
                    item_id=r[1],
                    page=r[2],
                    snippet=snippets[0] if snippets else None,
                    path=from_bytes(r[3]),
                    kind=r[4],
                    taken=r[5] if r[5] is not None else r[6] / 1e9,
                    matched="name" if names else ("exact" if exact or not stemmed else "stemmed"),
                    snippets=snippets,
                    rank=float(r[7]),
                    exact=exact,
                )
            )
        if not names:
            hits.sort(key=lambda h: (-h.exact, h.rank))
        return hits[:limit]

    def _match_info(
        self, match: str, item_ids: Sequence[int]
    ) -> dict[int, tuple[int, int, tuple[str, ...]]]:
        """Per passage: exact phrases matched, stem phrases matched, highlighted fragments."""
        rows = self._read(
            f"SELECT rowid, lanterna_match(fts_text, {SNIPPETS}, {SNIPPET_TOKENS}) FROM fts_text "
            f"WHERE fts_text MATCH ? AND rowid IN ({_placeholders(len(item_ids))})",
            [match, *item_ids],
        )
        out = {}
        for rowid, value in rows:
            data = json.loads(value)
            out[int(rowid)] = (int(data["exact"]), int(data["stemmed"]), tuple(data["snippets"]))
        return out

    def vectors(self, item_ids: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        """The stored vectors of these items (those still there); from the in-memory index
        when it is current (sqlite-vec answers ``IN (…)`` by a scan)."""
        import numpy as np

        index = self._fast_index()
        if index is not None:
            return index.vectors(list(item_ids))
        out: dict[int, npt.NDArray[np.float32]] = {}
        ids = list(item_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for item_id, blob in self._read(
                "SELECT item_id, embedding FROM vec_items "
                f"WHERE item_id IN ({_placeholders(len(chunk))})",
                chunk,
            ):
                out[int(item_id)] = np.frombuffer(blob, dtype=np.float32)
        return out

    def file_items(self, file_ids: Sequence[int]) -> list[tuple[int, int, int, str, str | None]]:
        """(item_id, file_id, page, type, text) of every item of these files."""
        ids = list(file_ids)
        rows: list[tuple[int, int, int, str, str | None]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows.extend(
                (int(r[0]), int(r[1]), int(r[2]), str(r[3]), r[4])
                for r in self._read(
                    "SELECT id, file_id, page, type, text FROM items "
                    f"WHERE file_id IN ({_placeholders(len(chunk))})",
                    chunk,
                )
            )
        return rows

    def sample_vectors(self, item_type: str, limit: int) -> npt.NDArray[np.float32]:
        """Up to ``limit`` stored vectors of items of ``item_type``, spread over the library.

        The order is a fixed scramble of the ids (Knuth's multiplicative hash), not random():
        the same index always gives the same sample, so rankings are repeatable."""
        import numpy as np

        top = self._read("SELECT max(id) FROM items")[0][0]
        ids: list[int] = []
        if top and top > 16 * limit:
            # a large index: look up ids spread over its whole range (no scan, no sort)
            step = top / (8 * limit)
            spread = [
                1 + int(i * step) + (i * 2654435761) % max(int(step), 1) for i in range(8 * limit)
            ]
            for start in range(0, len(spread), 500):
                chunk = spread[start : start + 500]
                ids.extend(
                    int(r[0])
                    for r in self._read(
                        "SELECT id FROM items WHERE type=? "
                        f"AND id IN ({_placeholders(len(chunk))})",
                        [item_type, *chunk],
                    )
                )
            ids = ids[:: max(1, len(ids) // limit)][:limit]
        if len(ids) < limit // 4:
            ids = [
                int(r[0])
                for r in self._read(
                    "SELECT id FROM items WHERE type=? "
                    "ORDER BY (id * 2654435761) % 4294967296 LIMIT ?",
                    (item_type, limit),
                )
            ]
        found = list(self.vectors(ids).values())
        if not found:
            return np.zeros((0, VECTOR_DIMS), dtype=np.float32)
        return np.stack(found).astype(np.float32, copy=False)

    def probes(self, model: str) -> dict[str, npt.NDArray[np.float32]]:
        """The calibration probes stored for ``model``, per item type."""
        import numpy as np

        by_type: dict[str, list[npt.NDArray[np.float32]]] = {}
        for item_type, blob in self._read(
            "SELECT type, vector FROM probes WHERE model=? ORDER BY type, position", (model,)
        ):
            by_type.setdefault(item_type, []).append(np.frombuffer(blob, dtype=np.float32))
        return {t: np.stack(v).astype(np.float32, copy=False) for t, v in by_type.items()}

    def set_probes(self, model: str, by_type: dict[str, npt.NDArray[np.float32]]) -> None:
        """Store the calibration probes of ``model`` (the writer only); other models' go."""
        with self.write() as conn:
            conn.execute("DELETE FROM probes WHERE model<>?", (model,))
            for item_type, vectors in by_type.items():
                conn.execute("DELETE FROM probes WHERE model=? AND type=?", (model, item_type))
                conn.executemany(
                    "INSERT INTO probes(model, type, position, vector) VALUES(?, ?, ?, ?)",
                    [(model, item_type, i, _blob(v)) for i, v in enumerate(vectors)],
                )

    def item_vectors(self, file_id: int) -> list[npt.NDArray[np.float32]]:
        import numpy as np

        rows = self._read(
            "SELECT v.embedding FROM items i JOIN vec_items v ON v.item_id = i.id "
            "WHERE i.file_id=? ORDER BY i.id",
            (file_id,),
        )
        return [np.frombuffer(r[0], dtype=np.float32).copy() for r in rows]

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

    # -- text read from pictures (OCR) -------------------------------------------------------

    def ocr_pending(self, limit: int, kinds: Sequence[str], after_id: int = 0) -> list[FileRow]:
        """Indexed files of ``kinds`` whose current content has not been read by OCR."""
        if not kinds:
            return []
        rows = self._read(
            f"SELECT {', '.join('f.' + c.strip() for c in _FILE_COLS.split(','))} FROM files f "
            "LEFT JOIN ocr_files o ON o.file_id = f.id "
            f"WHERE f.status=? AND f.kind IN ({_placeholders(len(kinds))}) AND f.id>? "
            "AND (o.hash IS NULL OR o.hash <> f.hash) ORDER BY f.id LIMIT ?",
            (INDEXED, *kinds, after_id, limit),
        )
        return [_file_row(r) for r in rows]

    def count_ocr_pending(self, kinds: Sequence[str]) -> int:
        if not kinds:
            return 0
        rows = self._read(
            "SELECT count(*) FROM files f LEFT JOIN ocr_files o ON o.file_id = f.id "
            f"WHERE f.status=? AND f.kind IN ({_placeholders(len(kinds))}) "
            "AND (o.hash IS NULL OR o.hash <> f.hash)",
            (INDEXED, *kinds),
        )
        return int(rows[0][0])

    def pages_without_text(self, file_id: int, min_chars: int) -> list[int]:
        """Pages of a document that have a picture but (almost) no text of their own: scans."""
        rows = self._read(
            "SELECT i.page FROM items i WHERE i.file_id=? AND i.type='image' AND coalesce(("
            "SELECT sum(length(t.text)) FROM items t WHERE t.file_id=i.file_id "
            "AND t.page=i.page AND t.type='text' AND t.source IS NULL), 0) < ? ORDER BY i.page",
            (file_id, min_chars),
        )
        return [int(r[0]) for r in rows]

    def store_ocr(
        self,
        file: FileRow,
        items: Sequence[ItemVector],
        *,
        lines: int,
        pages: int,
        error: str | None = None,
    ) -> bool:
        """Replace a file's OCR passages and record that its content was read. Writes nothing
        (returns False) if the file is gone or its content changed since it was read."""
        import numpy as np

        with self.write() as conn:
            current = conn.execute(
                "SELECT folder_id, taken, mtime_ns FROM files WHERE id=? AND status=? AND hash=?",
                (file.id, INDEXED, file.hash),
            ).fetchall()
            if not current or file.hash is None:
                return False
            folder_id, taken_at, mtime_ns = current[0]
            old = [
                int(r[0] or 0)
                for r in conn.execute(
                    "SELECT id FROM items WHERE file_id=? AND source='ocr'", (file.id,)
                )
            ]
            self._delete_vectors(conn, old)
            conn.execute("DELETE FROM items WHERE file_id=? AND source='ocr'", (file.id,))
            taken = int(taken_at or int(mtime_ns or 0) // 1_000_000_000)
            new_ids = []
            for item in items:
                conn.execute(
                    "INSERT INTO items(file_id, page, type, text, source, boxes) "
                    "VALUES(?, ?, ?, ?, 'ocr', ?)",
                    (file.id, item.page, item.type, item.text, item.boxes),
                )
                item_id = conn.last_insert_rowid()
                conn.execute(
                    "INSERT INTO vec_items(item_id, embedding, kind, folder_id, taken) "
                    "VALUES(?, ?, ?, ?, ?)",
                    (
                        item_id,
                        _blob(item.vector),
                        vector_kind(file.kind, item.type),
                        folder_id,
                        taken,
                    ),
                )
                new_ids.append(item_id)
            if new_ids:
                kinds = [vector_kind(file.kind, i.type) for i in items]
                self._op(
                    "add", new_ids, np.stack([i.vector for i in items]), kinds, folder_id, taken
                )
            conn.execute(
                "INSERT INTO ocr_files(file_id, hash, lines, pages, error, read_at) "
                "VALUES(?, ?, ?, ?, ?, ?) ON CONFLICT(file_id) DO UPDATE SET hash=excluded.hash, "
                "lines=excluded.lines, pages=excluded.pages, error=excluded.error, "
                "read_at=excluded.read_at",
                (file.id, file.hash, lines, pages, error, time.time()),
            )
            return True

    def drop_ocr(self) -> int:
        """Forget all text read from pictures (OCR turned off); the pictures' own vectors stay.
        Returns how many passages went."""
        with self.write() as conn:
            ids = [int(r[0] or 0) for r in conn.execute("SELECT id FROM items WHERE source='ocr'")]
            self._delete_vectors(conn, ids)
            conn.execute("DELETE FROM items WHERE source='ocr'")
            conn.execute("DELETE FROM ocr_files")
            return len(ids)

    def ocr_counts(self) -> dict[str, int]:
        """Images with text, document pages read, and files whose reading failed."""
        images = self._read(
            "SELECT count(*) FROM ocr_files o JOIN files f ON f.id = o.file_id "
            "WHERE f.kind='image' AND o.lines > 0 AND o.hash = f.hash"
        )[0][0]
        pages = self._read(
            "SELECT count(DISTINCT i.file_id || ':' || i.page) FROM items i "
            "JOIN files f ON f.id = i.file_id WHERE i.source='ocr' AND f.kind <> 'image'"
        )[0][0]
        read = self._read(
            "SELECT count(*) FROM ocr_files o JOIN files f ON f.id = o.file_id "
            "WHERE o.hash = f.hash"
        )[0][0]
        failed = self._read("SELECT count(*) FROM ocr_files WHERE error IS NOT NULL")[0][0]
        return {
            "images_with_text": int(images),
            "document_pages_with_text": int(pages),
            "files_read": int(read),
            "errors": int(failed),
        }

    def ocr_items(self, file_id: int, page: int | None = None) -> list[tuple[int, int, str, str]]:
        """(item id, page, text, boxes JSON) of a file's OCR passages, in order."""
        sql = "SELECT id, page, text, boxes FROM items WHERE file_id=? AND source='ocr'"
        params: list[Any] = [file_id]
        if page is not None:
            sql += " AND page=?"
            params.append(page)
        return [
            (int(r[0]), int(r[1]), str(r[2] or ""), str(r[3] or "{}"))
            for r in self._read(sql + " ORDER BY id", params)
        ]
