"""Queries: text, image, or both, to files ranked by meaning, with filters.

The query becomes one unit vector (a text and an image query are averaged on the unit sphere),
the store's KNN returns the nearest items, and items are grouped back to files: the best item of
a file gives its score and the page that matched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import numpy.typing as npt

from .embedder import Embedder
from .errors import ConfigError
from .paths import display
from .preprocess import prepare
from .store import MAX_KNN, Hit, KeywordHit, Store


@dataclass(frozen=True)
class Query:
    text: str = ""
    image: str | bytes | None = None  # a path, or raw image data (pasted or dragged)
    k: int = 20
    kind: str | None = None  # "image" or "document"
    folder: str | None = None
    date_from: float | None = None
    date_to: float | None = None
    exclude_file: int | None = None  # "find similar" leaves the file itself out


@dataclass(frozen=True)
class Result:
    path: str
    score: float
    kind: str
    item: int
    file_id: int
    type: str
    snippet: str | None
    taken: float | None
    source: str | None = None  # "ocr": matched text read from the picture (engine.ocrindex)
    line: str | None = None  # that text's line that matched best
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # its lines, 0..1 of the picture

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": display(self.path),
            "score": round(self.score, 6),
            "kind": self.kind,
            "item": self.item,
        }
        if self.source == "ocr":
            out["text_in_image"] = self.line
        return out


def parse_date(text: str, *, end: bool = False) -> float:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (local time) to a timestamp; ``end`` rounds up."""
    for fmt, step in (("%Y-%m-%d", "day"), ("%Y-%m", "month"), ("%Y", "year")):
        try:
            start = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if not end:
            return start.timestamp()
        if step == "day":
            nxt = datetime.fromordinal(start.toordinal() + 1)
        elif step == "month":
            nxt = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            nxt = start.replace(year=start.year + 1)
        return nxt.timestamp() - 1e-3
    raise ConfigError(f"cannot read the date {text!r}", "use YYYY, YYYY-MM or YYYY-MM-DD")


RRF_K = 60  # the usual constant of reciprocal rank fusion


def fts_query(text: str) -> str | None:
    """An FTS5 query that needs every word of ``text``; the last word may be a prefix (typing)."""
    words = [w for w in re.findall(r"\w+", text.lower()) if len(w) > 1 or w.isdigit()][:16]
    if not words:
        return None
    terms = [f'"{w}"' for w in words]
    if text and not text[-1].isspace():
        terms[-1] += "*"
    return " ".join(terms)


def fuse(
    by_vector: list[Result], by_text: list[KeywordHit], by_name: list[KeywordHit]
) -> list[Result]:
    """Reciprocal rank fusion of the vector, passage and file-name rankings (per file).

    The score is the fused value scaled so that first place in every non-empty ranking is 1.
    A document's page and snippet come from whichever ranking placed it higher.
    """
    lists = [x for x in (by_vector, by_text, by_name) if x]
    best = len(lists) / (RRF_K + 1)
    fused: dict[int, float] = {}
    vector_rank = {r.file_id: i for i, r in enumerate(by_vector)}
    text_rank: dict[int, int] = {}
    text_hit: dict[int, KeywordHit] = {}
    name_hit: dict[int, KeywordHit] = {}
    for i, r in enumerate(by_vector):
        fused[r.file_id] = fused.get(r.file_id, 0.0) + 1.0 / (RRF_K + i + 1)
    for ranking, seen in ((by_text, text_hit), (by_name, name_hit)):
        rank = 0
        for hit in ranking:
            if hit.file_id in seen:
                continue
            seen[hit.file_id] = hit
            if ranking is by_text:
                text_rank[hit.file_id] = rank
            fused[hit.file_id] = fused.get(hit.file_id, 0.0) + 1.0 / (RRF_K + rank + 1)
            rank += 1
    by_file = {r.file_id: r for r in by_vector}
    out = []
    for file_id, value in sorted(fused.items(), key=lambda kv: -kv[1]):
        score = value / best
        base = by_file.get(file_id)
        text = text_hit.get(file_id)
        if text is not None and (base is None or text_rank[file_id] <= vector_rank[file_id]):
            out.append(
                Result(
                    path=text.path,
                    score=score,
                    kind=text.kind,
                    item=text.page,
                    file_id=file_id,
                    type="text",
                    snippet=text.snippet,
                    taken=text.taken,
                )
            )
        elif base is not None:
            out.append(replace(base, score=score))
        else:
            hit = name_hit[file_id]
            out.append(
                Result(
                    path=hit.path,
                    score=score,
                    kind=hit.kind,
                    item=hit.page,
                    file_id=file_id,
                    type="name",
                    snippet=None,
                    taken=hit.taken,
                )
            )
    return out


def combine(vectors: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    total: npt.NDArray[np.float32] = np.sum(np.stack(vectors), axis=0).astype(np.float32)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return total
    unit: npt.NDArray[np.float32] = (total / norm).astype(np.float32)
    return unit


class Searcher:
    def __init__(self, store: Store, embedder: Embedder) -> None:
        self.store = store
        self.embedder = embedder

    def query_vector(self, query: Query) -> npt.NDArray[np.float32]:
        parts = []
        if query.text.strip():
            parts.append(self.embedder.embed_query(query.text.strip()))
        if query.image is not None:
            pixels, _ = prepare(query.image, self.embedder.model.vision)
            parts.append(self.embedder.embed_pixels(pixels[None])[0])
        if not parts:
            raise ConfigError("nothing to search for", "give a text, an image, or both")
        return combine(parts)

    def search(self, query: Query) -> list[Result]:
        """Vector hits, fused with keyword hits (names, document text) when the query has words."""
        if query.k <= 0:
            return []
        vector = self.query_vector(query)
        match = fts_query(query.text)
        if match is None:
            return self.search_vector(vector, query)
        depth = max(query.k * 2, 50)
        by_vector = self.search_vector(vector, replace(query, k=depth))
        folder_ids, prefix = self._folder_scope(query.folder)
        keyword_lists = []
        for names in (False, True):
            hits = self.store.keyword(
                match,
                depth,
                names=names,
                kind=query.kind,
                folder_ids=folder_ids,
                taken_from=query.date_from,
                taken_to=query.date_to,
            )
            if prefix:
                hits = [h for h in hits if h.path.startswith(prefix.rstrip(os.sep) + os.sep)]
            keyword_lists.append([h for h in hits if h.file_id != query.exclude_file])
        if not any(keyword_lists):
            return by_vector[: query.k]
        return fuse(by_vector, keyword_lists[0], keyword_lists[1])[: query.k]

    def similar(self, file_id: int, query: Query) -> list[Result]:
        """Files like an indexed one, from its stored vectors (no decoding, no tower)."""
        vectors = self.store.item_vectors(file_id)
        if not vectors:
            raise ConfigError("that file has no vectors yet", "wait until it is indexed")
        return self.search_vector(combine(vectors), replace(query, exclude_file=file_id))

    def _folder_scope(self, folder: str | None) -> tuple[list[int] | None, str | None]:
        if folder is None:
            return None, None
        target = os.path.abspath(folder)
        ids = []
        prefix = None
        for f in self.store.folders():
            if f.path == target or target.startswith(f.path.rstrip(os.sep) + os.sep):
                ids.append(f.id)  # the filter lies inside this watched folder
                if f.path != target:
                    prefix = target
            elif f.path.startswith(target.rstrip(os.sep) + os.sep):
                ids.append(f.id)  # a watched folder inside the filter
        return ids, prefix

    def search_vector(self, vector: npt.NDArray[np.float32], query: Query) -> list[Result]:
        if query.k <= 0:
            return []
        folder_ids, prefix = self._folder_scope(query.folder)
        fetch = max(query.k * 4, 32)
        while True:
            scored = self.store.knn(
                vector,
                fetch,
                kind=query.kind,
                folder_ids=folder_ids,
                taken_from=query.date_from,
                taken_to=query.date_to,
            )
            results = self._group(self.store.hits(scored), query, prefix)
            if len(results) >= query.k or len(scored) < fetch or fetch >= MAX_KNN:
                return results[: query.k]
            fetch = min(fetch * 4, MAX_KNN)

    @staticmethod
    def _group(hits: list[Hit], query: Query, prefix: str | None) -> list[Result]:
        best: dict[int, Hit] = {}
        for hit in hits:  # best first, so the first hit of a file is its best item
            if hit.file_id == query.exclude_file or hit.file_id in best:
                continue
            if prefix and not hit.path.startswith(prefix.rstrip(os.sep) + os.sep):
                continue
            best[hit.file_id] = hit
        return [
            Result(
                path=h.path,
                score=1.0 - h.distance,
                kind=h.kind,
                item=h.page,
                file_id=h.file_id,
                type=h.type,
                snippet=h.text,
                taken=h.taken,
            )
            for h in best.values()
        ]
