"""The index's side of words first (engine.words): which pending documents still need their
words, and the commit that puts a document's passages in the keyword index without vectors.

The passages are items with ``source = 'words'`` (full-text indexed by the items' triggers, no
row in ``vec_items``); ``words_files`` says that a file's words were read. Both are forgotten by
the schema's trigger (migrations._v8) as soon as the file's row changes size or mtime or stops
being pending, so nothing here has to follow the other writers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .scanner import DOCUMENT
from .store import _FILE_COLS, GONE, PENDING, WORDS_FIRST, WRITTEN, FileRow, Store, _file_row

SOURCE = WORDS_FIRST

_COLS = ", ".join("f." + c.strip() for c in _FILE_COLS.split(","))
_WAITING = (
    "FROM files f LEFT JOIN words_files w ON w.file_id = f.id "
    "WHERE f.status = ? AND f.kind = ? AND w.file_id IS NULL"
)


def pending(store: Store, limit: int, before: tuple[int, int] | None = None) -> list[FileRow]:
    """Pending documents whose words are not in the keyword index, most recently modified
    first (the vectors' order); ``before`` is the last (mtime_ns, id) of the previous page."""
    sql = f"SELECT {_COLS} {_WAITING}"
    params: list[object] = [PENDING, DOCUMENT]
    if before is not None:
        sql += " AND (f.mtime_ns < ? OR (f.mtime_ns = ? AND f.id < ?))"
        params += [before[0], before[0], before[1]]
    sql += " ORDER BY f.mtime_ns DESC, f.id DESC LIMIT ?"
    params.append(limit)
    return [_file_row(r) for r in store._read(sql, params)]


def count_pending(store: Store) -> int:
    return int(store._read(f"SELECT count(*) {_WAITING}", (PENDING, DOCUMENT))[0][0])


def count_searchable(store: Store) -> int:
    """Documents found by their words while they wait for their vectors."""
    rows = store._read(
        "SELECT count(*) FROM words_files w JOIN files f ON f.id = w.file_id WHERE f.status = ?",
        (PENDING,),
    )
    return int(rows[0][0])


def store_words(
    store: Store,
    file: FileRow,
    passages: Sequence[tuple[int, str]],
    *,
    size: int,
    mtime_ns: int,
    inode: int,
) -> str:
    """Replace a pending document's words with ``passages`` (page, text), if still true: the
    row and the file on disk must still have the stat that was read (Store._still_true).
    Returns WRITTEN; STALE (changed since: read it again); GONE (the row went, or the file
    is no longer pending: its vectors' passages are there, or it failed meanwhile)."""
    with store.write() as conn:
        outcome = Store._still_true(conn, file, size, mtime_ns, inode)
        if outcome != WRITTEN:
            return outcome
        status = conn.execute("SELECT status FROM files WHERE id=?", (file.id,)).fetchall()
        if status[0][0] != PENDING:
            return GONE
        conn.execute("DELETE FROM items WHERE file_id=? AND source=?", (file.id, SOURCE))
        conn.executemany(
            "INSERT INTO items(file_id, page, type, text, source) VALUES(?, ?, 'text', ?, ?)",
            [(file.id, page, text, SOURCE) for page, text in passages],
        )
        conn.execute(
            "INSERT INTO words_files(file_id, size, mtime_ns, passages, read_at) "
            "VALUES(?, ?, ?, ?, ?) ON CONFLICT(file_id) DO UPDATE SET size=excluded.size, "
            "mtime_ns=excluded.mtime_ns, passages=excluded.passages, read_at=excluded.read_at",
            (file.id, size, mtime_ns, len(passages), time.time()),
        )
        return WRITTEN
