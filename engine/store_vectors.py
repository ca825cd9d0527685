"""Store's vectors: nearest-neighbour search, stored vectors and calibration probes, and the
in-memory copy of the vectors that long-lived processes search instead of sqlite-vec.

Vectors live in a sqlite-vec ``vec0`` table keyed by item id; ``kind``, ``folder_id`` and
``taken`` are metadata columns so that KNN can filter on them. Writes record their changes to
the vectors (``_op``); once committed, Store.write applies them to the in-memory copy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw

from .errors import IndexError_
from .migrations import VECTOR_DIMS
from .paths import from_bytes
from .store_rows import (
    FILE_KINDS,
    ITEM_TYPES,
    StorePart,
    _blob,
    _placeholders,
    is_damage,
    vector_kind,
)

if TYPE_CHECKING:  # numpy and the vector index load when vectors are first touched: a search
    import numpy as np  # of exact words never needs them
    import numpy.typing as npt

    from . import vectorindex

MAX_KNN = 4096  # sqlite-vec's limit on k
# Below this, sqlite-vec's brute force is fast enough and loading a copy is not worth it.
VINDEX_MIN_VECTORS = 20_000

log = logging.getLogger(__name__)


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


class StoreVectors(StorePart):
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
