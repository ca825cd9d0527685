"""Schema steps for the index, applied in order; ``PRAGMA user_version`` is the step count.

Each step runs in its own transaction with the version bump, so a crash leaves the database at
either the old or the new version. A database newer than this code is refused, never downgraded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import fts

VECTOR_DIMS = 256


def _v1(conn: Any) -> None:
    conn.execute(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE folders(
            id INTEGER PRIMARY KEY,
            path BLOB NOT NULL UNIQUE,
            added REAL NOT NULL,
            last_scan REAL,
            status TEXT NOT NULL DEFAULT 'ok',
            error TEXT
        );
        CREATE TABLE files(
            id INTEGER PRIMARY KEY,
            folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
            path BLOB NOT NULL UNIQUE,
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            taken REAL,
            width INTEGER,
            height INTEGER,
            indexed_at REAL,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX files_status ON files(status);
        CREATE INDEX files_hash ON files(hash);
        CREATE INDEX files_folder ON files(folder_id);
        CREATE TABLE items(
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            page INTEGER NOT NULL DEFAULT 1,
            type TEXT NOT NULL,
            text TEXT
        );
        CREATE INDEX items_file ON items(file_id);
        """
    )
    conn.execute(
        f"""
        CREATE VIRTUAL TABLE vec_items USING vec0(
            item_id INTEGER PRIMARY KEY,
            embedding float[{VECTOR_DIMS}] distance_metric=cosine,
            kind TEXT,
            folder_id INTEGER,
            taken INTEGER
        )
        """
    )


def _v2(conn: Any) -> None:
    """Keyword search: FTS5 over document text (items) and file names, kept in step by triggers."""
    tokenizer = "unicode61 remove_diacritics 2"
    conn.execute(
        f"""
        CREATE VIRTUAL TABLE fts_text USING fts5(
            text, content='items', content_rowid='id', tokenize='{tokenizer}');
        CREATE TRIGGER items_fts_insert AFTER INSERT ON items WHEN new.text IS NOT NULL BEGIN
            INSERT INTO fts_text(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER items_fts_delete AFTER DELETE ON items WHEN old.text IS NOT NULL BEGIN
            INSERT INTO fts_text(fts_text, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE VIRTUAL TABLE fts_names USING fts5(
            name, content='files', content_rowid='id', tokenize='{tokenizer}');
        CREATE TRIGGER files_fts_insert AFTER INSERT ON files BEGIN
            INSERT INTO fts_names(rowid, name) VALUES (new.id, new.name);
        END;
        CREATE TRIGGER files_fts_delete AFTER DELETE ON files BEGIN
            INSERT INTO fts_names(fts_names, rowid, name) VALUES ('delete', old.id, old.name);
        END;
        CREATE TRIGGER files_fts_rename AFTER UPDATE OF name ON files BEGIN
            INSERT INTO fts_names(fts_names, rowid, name) VALUES ('delete', old.id, old.name);
            INSERT INTO fts_names(rowid, name) VALUES (new.id, new.name);
        END;
        INSERT INTO fts_text(fts_text) VALUES ('rebuild');
        INSERT INTO fts_names(fts_names) VALUES ('rebuild');
        """
    )


def _v3(conn: Any) -> None:
    """A counter bumped by every write that changes vectors: an in-memory copy of the vectors
    (engine.vectorindex) knows from it whether it is still current."""
    conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES('vec_generation', '0')")


def _v4(conn: Any) -> None:
    """Ranking scores photos and text passages apart (their cosines are not comparable), so a
    vector's ``kind`` says both: the file's kind and the item's type, as ``image/image``,
    ``document/image`` (a page render) or ``document/text``. Also a table for the probe vectors
    that calibrate each type's scores, kept per model."""
    rows = conn.execute(
        "SELECT v.item_id, v.kind, i.type FROM vec_items v JOIN items i ON i.id = v.item_id"
    ).fetchall()
    conn.executemany(
        "UPDATE vec_items SET kind=? WHERE item_id=?",
        [(f"{kind}/{item_type}", item_id) for item_id, kind, item_type in rows],
    )
    conn.execute(
        """
        CREATE TABLE probes(
            model TEXT NOT NULL,
            type TEXT NOT NULL,
            position INTEGER NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY(model, type, position)
        );
        """
    )


def _v5(conn: Any) -> None:
    """Text read from pictures (OCR): passages are items with ``source = 'ocr'`` and the boxes
    of their lines; ``ocr_files`` records which content was read, so reading resumes where it
    stopped and a changed file is read again."""
    conn.execute(
        """
        ALTER TABLE items ADD COLUMN source TEXT;
        ALTER TABLE items ADD COLUMN boxes TEXT;
        CREATE TABLE ocr_files(
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            lines INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            error TEXT,
            read_at REAL NOT NULL
        );
        """
    )


def _v6(conn: Any) -> None:
    """Keyword search in every script: the FTS tables again, with engine.fts's tokenizer (words
    inside CJK and Thai runs, stems in the passage's language) in place of unicode61."""
    conn.execute(
        """
        DROP TRIGGER items_fts_insert;
        DROP TRIGGER items_fts_delete;
        DROP TRIGGER files_fts_insert;
        DROP TRIGGER files_fts_delete;
        DROP TRIGGER files_fts_rename;
        DROP TABLE fts_text;
        DROP TABLE fts_names;
        """
    )
    _fts_tables(conn, text=f"{fts.TOKENIZER} stems", names=fts.TOKENIZER)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES('fts_signature', ?) "
        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        (fts.signature(),),
    )


def _fts_tables(conn: Any, *, text: str, names: str) -> None:
    conn.execute(
        f"""
        CREATE VIRTUAL TABLE fts_text USING fts5(
            text, content='items', content_rowid='id', tokenize='{text}');
        CREATE TRIGGER items_fts_insert AFTER INSERT ON items WHEN new.text IS NOT NULL BEGIN
            INSERT INTO fts_text(rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER items_fts_delete AFTER DELETE ON items WHEN old.text IS NOT NULL BEGIN
            INSERT INTO fts_text(fts_text, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE VIRTUAL TABLE fts_names USING fts5(
            name, content='files', content_rowid='id', tokenize='{names}');
        CREATE TRIGGER files_fts_insert AFTER INSERT ON files BEGIN
            INSERT INTO fts_names(rowid, name) VALUES (new.id, new.name);
        END;
        CREATE TRIGGER files_fts_delete AFTER DELETE ON files BEGIN
            INSERT INTO fts_names(fts_names, rowid, name) VALUES ('delete', old.id, old.name);
        END;
        CREATE TRIGGER files_fts_rename AFTER UPDATE OF name ON files BEGIN
            INSERT INTO fts_names(fts_names, rowid, name) VALUES ('delete', old.id, old.name);
            INSERT INTO fts_names(rowid, name) VALUES (new.id, new.name);
        END;
        INSERT INTO fts_text(fts_text) VALUES ('rebuild');
        INSERT INTO fts_names(fts_names) VALUES ('rebuild');
        """
    )


def _v7(conn: Any) -> None:
    """A file that could not be read for a passing reason (permissions, I/O, a network share)
    keeps its vectors and is tried again at ``retry_at``, later after each failure."""
    conn.execute(
        """
        ALTER TABLE files ADD COLUMN retry_at REAL;
        CREATE INDEX files_retry ON files(retry_at) WHERE retry_at IS NOT NULL;
        """
    )


def _v8(conn: Any) -> None:
    """Words first (engine.words): a pending document's text enters the keyword index before
    its vectors, as items with ``source = 'words'`` and no vector; ``words_files`` records the
    size and mtime of the content they were read from (a document without text has a record
    and no item). A trigger forgets both as soon as the file's row records another size or
    mtime, or leaves 'pending' (embedded, unchanged, a copy, failed): whichever code writes
    that, words of content that is gone never stay, and the embedded passages take over."""
    conn.execute(
        """
        CREATE TABLE words_files(
            file_id INTEGER PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            passages INTEGER NOT NULL,
            read_at REAL NOT NULL
        );
        CREATE TRIGGER files_words_stale AFTER UPDATE OF size, mtime_ns, status ON files
        WHEN new.status <> 'pending' OR new.size IS NOT old.size
            OR new.mtime_ns IS NOT old.mtime_ns
        BEGIN
            DELETE FROM items WHERE file_id = new.id AND source = 'words';
            DELETE FROM words_files WHERE file_id = new.id;
        END;
        """
    )


MIGRATIONS: list[Callable[[Any], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8]
LATEST = len(MIGRATIONS)
