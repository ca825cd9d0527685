"""Store's text: keyword search (FTS5) over passages and file names with their highlighted
snippets, and the passages read from pictures by OCR (engine.ocrindex).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from .paths import from_bytes
from .store_rows import (
    _FILE_COLS,
    INDEXED,
    WORDS_FIRST,
    FileRow,
    ItemVector,
    StorePart,
    _blob,
    _file_row,
    _placeholders,
    vector_kind,
)

SNIPPETS = 3  # highlighted fragments per keyword hit
SNIPPET_TOKENS = 24

log = logging.getLogger(__name__)


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


# The only errors a keyword query may end in without the index being at fault.
_FTS_SYNTAX = re.compile(r"fts5: syntax error|unknown special query|no such column", re.I)


class StoreText(StorePart):
    # -- queries -----------------------------------------------------------------------------

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
