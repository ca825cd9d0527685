"""Store's results of indexing: a file's embedded items, a copy of an identical file's, an
unchanged or unreadable file, a file that vanished, and every vector dropped for a new model.

Results of indexing are written only while still true: the file's row must still carry the
size and mtime that were read (no newer change recorded meanwhile) and the file on disk must
still have the size, mtime and inode that were read. Otherwise the commit writes nothing and the
file stays pending; a row deleted meanwhile is simply skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import apsw

from .paths import from_bytes
from .store_rows import (
    ERROR,
    GONE,
    INDEXED,
    NAME_ONLY,
    PENDING,
    STALE,
    WRITTEN,
    FileRow,
    Indexed,
    ItemVector,
    StorePart,
    _blob,
    vector_kind,
)


class StoreResults(StorePart):
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
