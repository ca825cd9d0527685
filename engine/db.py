"""Opening the index database: a SQLite binding that can always load sqlite-vec.

Python's own ``sqlite3`` often cannot load extensions (pyenv builds, macOS's system Python, some
distributions), so the engine uses apsw, a maintained binding that ships a current SQLite (with
FTS5) on Linux, macOS and Windows and always allows extension loading. One binding everywhere
means one tested code path rather than a fallback that only some users exercise.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import apsw

from . import fts
from .errors import IndexDamagedError, IndexError_
from .migrations import LATEST, MIGRATIONS
from .paths import display

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000


def connect(path: Path | str, *, readonly: bool = False) -> apsw.Connection:
    """Open a connection with the index's pragmas and sqlite-vec loaded.

    ``readonly`` opens an index whose folder cannot be written (a read-only mount, a locked
    folder): where SQLite cannot make the WAL's shared-memory file beside it, the file is opened
    as immutable, which is what it is while nobody can write there.
    """
    try:
        conn = _open(str(path), readonly)
        if readonly:
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            except apsw.CantOpenError:
                conn.close()
                uri = "file:" + urllib.parse.quote(os.path.abspath(str(path))) + "?immutable=1"
                conn = _open(uri, readonly, uri=True)
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        fts.register(conn)  # the keyword index's tokenizer: every connection needs it
    except apsw.Error as exc:
        raise IndexError_(
            f"cannot open the index {display(path)}: {exc}",
            "check the data folder's permissions and free space",
        ) from exc
    return conn


@functools.cache
def _vec_extension() -> str:
    """sqlite-vec's loadable extension, found without importing its Python package (which loads
    numpy for its helpers: a search of exact words needs none of that)."""
    spec = importlib.util.find_spec("sqlite_vec")
    if spec is None:
        raise IndexError_("sqlite-vec is not installed", "reinstall Lanterna (pip install -e .)")
    if not spec.submodule_search_locations:  # an unusual importer: ask the package itself
        import sqlite_vec

        return str(sqlite_vec.loadable_path())
    return os.path.join(next(iter(spec.submodule_search_locations)), "vec0")


def _open(name: str, readonly: bool, uri: bool = False) -> apsw.Connection:
    flags = (
        apsw.SQLITE_OPEN_READONLY
        if readonly
        else (apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
    )
    conn = apsw.Connection(name, flags=flags | (apsw.SQLITE_OPEN_URI if uri else 0))
    conn.setbusytimeout(BUSY_TIMEOUT_MS)
    conn.enable_load_extension(True)
    conn.load_extension(_vec_extension())
    conn.enable_load_extension(False)
    return conn


@contextmanager
def transaction(conn: apsw.Connection) -> Iterator[apsw.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:  # SQLite already rolled back after some errors (disk full)
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def user_version(conn: apsw.Connection) -> int:
    value: Any = conn.execute("PRAGMA user_version").fetchall()[0][0]
    return int(value)


def migrate(conn: apsw.Connection) -> int:
    """Bring the schema to the latest version; refuse a newer database.

    The version is read again inside each step's ``BEGIN IMMEDIATE``: two processes opening a
    new index at once would otherwise both run the first step (one of them on tables that the
    other has just made). An index that is already current is only read, never locked.
    """
    current = user_version(conn)
    while True:
        if current > LATEST:
            raise IndexError_(
                f"the index was made by a newer Lanterna (schema {current}, this one knows "
                f"{LATEST})",
                "update Lanterna, or choose another data folder",
            )
        if current == LATEST:
            return LATEST
        with transaction(conn):
            current = user_version(conn)
            if current < LATEST:
                MIGRATIONS[current](conn)
                current += 1
                conn.execute(f"PRAGMA user_version={current}")
                log.info("index schema migrated to version %d", current)


def check_integrity(conn: apsw.Connection) -> str | None:
    """None when the database is sound, else SQLite's first complaint."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    first = str(rows[0][0]) if rows else "no answer"
    return None if first == "ok" else first


def damage_marker(path: Path) -> Path:
    """A note left next to the index by a process that found a damaged page but could not
    rebuild the index itself (another Lanterna was updating it); the next opening rebuilds."""
    return path.with_name(path.name + ".damaged")


def mark_damaged(path: Path, reason: str) -> None:
    marker = damage_marker(path)
    try:
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(reason, encoding="utf-8")
        os.replace(tmp, marker)
    except OSError as exc:
        log.warning("cannot note that the index is damaged at %s: %s", marker, exc)


def set_aside(path: Path) -> Path:
    """Move a damaged index (and its WAL files) out of the way, keeping a copy for the user."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    if path.exists():
        shutil.move(str(path), str(target))
    for suffix in ("-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            shutil.move(str(side), str(target) + suffix)
    with suppress(FileNotFoundError):
        damage_marker(path).unlink()
    return target


CHECK_EVERY_S = 7 * 24 * 3600  # a full quick_check reads every page: not at every start


def _due_for_check(conn: apsw.Connection) -> bool:
    try:
        found = conn.execute("SELECT value FROM meta WHERE key='last_check'").fetchall()
    except apsw.SQLError:
        return True  # no meta table yet (new or very old index)
    if not found:
        return True
    stamp: Any = found[0][0]
    return time.time() - float(stamp) > CHECK_EVERY_S


def open_index(
    path: Path,
    *,
    check: bool | None = None,
    readonly: bool = False,
    lock: WriterLock | None = None,
    damaged: str | None = None,
) -> tuple[apsw.Connection, Path | None]:
    """Open (creating if needed) and migrate the index.

    A damaged file (or one marked damaged by another process) is moved aside (kept for the
    user) and a new index started with the old one's folders and settings; the second value says
    where the damaged copy went. That needs ``lock``, the writer lock: while another Lanterna
    updates the index, it is that one which rebuilds, and this raises IndexDamagedError.
    ``check=None`` runs SQLite's quick_check once a week. ``readonly`` opens an existing index
    as it is, for searching: nothing is created, migrated, checked or repaired.
    """
    if readonly:
        return _open_readonly(path), None
    path.parent.mkdir(parents=True, exist_ok=True)
    conn: apsw.Connection | None = None
    problem: str | None = damaged
    try:
        conn = connect(path)
        if problem is None and (
            path.stat().st_size > 0 and (check or (check is None and _due_for_check(conn)))
        ):
            problem = check_integrity(conn)
            if problem is None and user_version(conn) >= 1:
                with transaction(conn):
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES('last_check', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (str(time.time()),),
                    )
    except IndexError_ as exc:
        if not isinstance(exc.__cause__, apsw.NotADBError | apsw.CorruptError):
            raise
        problem = str(exc.__cause__)
    except (apsw.NotADBError, apsw.CorruptError) as exc:
        problem = str(exc)
    marker = damage_marker(path)
    if problem is None and marker.exists():
        try:
            problem = marker.read_text(encoding="utf-8").strip() or "a page could not be read"
        except OSError:
            problem = "a page could not be read"
    kept = None
    if problem is not None:
        if conn is not None:
            conn.close()
        claimed = lock is not None and not lock.held
        if claimed:
            assert lock is not None
            try:
                lock.acquire()
            except IndexError_ as exc:
                raise IndexDamagedError(
                    f"the index is damaged ({problem})",
                    "the Lanterna that is updating it rebuilds it; searching works again then",
                ) from exc
        try:
            kept = set_aside(path)
            log.error(
                "the index was damaged (%s); kept a copy at %s and started afresh", problem, kept
            )
            conn = connect(path)
        finally:
            if claimed and lock is not None:
                lock.release()
    assert conn is not None
    migrate(conn)
    fts.refresh(conn)
    if kept is not None:
        _salvage(kept, conn)
    return conn, kept


def _open_readonly(path: Path) -> apsw.Connection:
    conn = connect(path, readonly=True)
    try:
        version = user_version(conn)
    except apsw.Error as exc:
        conn.close()
        raise IndexError_(f"cannot read the index {display(path)}: {exc}") from exc
    if version != LATEST:
        conn.close()
        newer = version > LATEST
        raise IndexError_(
            f"the index {display(path)} is read-only and was made by "
            f"{'a newer' if newer else 'an older'} Lanterna (schema {version}, this one knows "
            f"{LATEST}), so it cannot be {'read' if newer else 'upgraded'} here",
            "update Lanterna" if newer else "open it once where its folder can be written",
        )
    return conn


def _salvage(damaged: Path, fresh: apsw.Connection) -> None:
    """Carry the watched folders and settings over from a damaged index, when still readable,
    so that rebuilding needs nothing from the user."""
    try:
        old = apsw.Connection(str(damaged), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            folders = old.execute("SELECT path, added FROM folders").fetchall()
            settings = old.execute("SELECT key, value FROM settings").fetchall()
        finally:
            old.close()
    except apsw.Error as exc:
        log.warning("nothing could be saved from the damaged index: %s", exc)
        return
    with transaction(fresh):
        for path, added in folders:
            fresh.execute("INSERT OR IGNORE INTO folders(path, added) VALUES(?, ?)", (path, added))
        for key, value in settings:
            fresh.execute("INSERT OR REPLACE INTO settings(key, value) VALUES(?, ?)", (key, value))
    log.warning("kept %d watched folders from the damaged index", len(folders))


class WriterLock:
    """One writer per index across processes: a second app or CLI indexer is refused.

    An OS file lock (released by the OS if the process dies, so a killed app never leaves a
    stale lock behind).
    """

    def __init__(self, index: Path) -> None:
        self.path = index.with_name(index.name + ".lock")
        self._fh: Any = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> None:
        if self._fh is not None:
            return
        fh = open(self.path, "a+b")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise IndexError_(
                "another Lanterna (the app, or `lanterna watch` / `index`) is updating this index",
                "use that one, or quit it first; searching works meanwhile",
            ) from exc
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None


def rows(conn: apsw.Connection, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    return list(conn.execute(sql, params).fetchall())


def file_size(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with suppress(OSError):
            total += os.path.getsize(str(path) + suffix)
    return total
