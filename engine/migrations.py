"""Schema steps for the index, applied in order; ``PRAGMA user_version`` is the step count.

Each step runs in its own transaction with the version bump, so a crash leaves the database at
either the old or the new version. A database newer than this code is refused, never downgraded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


MIGRATIONS: list[Callable[[Any], None]] = [_v1]
LATEST = len(MIGRATIONS)
