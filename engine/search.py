"""Queries: text, images, or both, with weights and negatives, to files ranked by meaning and
by exact words, with a relevance cut-off.

Text passages and pictures sit in different regions of a CLIP-like space (the modality gap), so
their raw cosines to a query are not comparable: a note scores higher against any text than a
matching photo does. Each query part is therefore calibrated per item type against a background
of what unrelated items of that type score for it (neutral probes embedded once per model, plus
a random sample of the library's own items): an item's strength is how many spreads (robust
standard deviations) it stands above that background. Strengths of all types share one scale,
so photos, page renders and passages merge into one ranking. Files that hold a query's exact
words come first; what stands too little above the background is cut off (shown only when
asked for, after the rest). docs/ranking.md has the figures behind the defaults.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from . import query as query_language
from .errors import ConfigError
from .migrations import VECTOR_DIMS as STORED_DIMS
from .paths import display
from .store import ITEM_TYPES, MAX_KNN, KeywordHit, Store

if TYPE_CHECKING:  # numpy, the towers and Pillow load with the first search by meaning
    import numpy as np
    import numpy.typing as npt

    from .embedder import Embedder

log = logging.getLogger(__name__)

# A match is this many background spreads above the median unrelated item of its type (see
# docs/ranking.md): "match" is 0.5 there, the default cut-off.
CUTOFF_SPREADS = 5.0
SPREADS_PER_UNIT = 1.0  # the logistic's width: match 0.88 at 7 spreads, 0.12 at 3
STRONG, GOOD = 0.85, 0.5
CLIP_SPREADS = 3.0  # background items this far above its median are matches, not background
SAMPLE_SIZE = 256  # library items per type in the background
SAMPLE_REFRESH_S = 30.0
KEYWORD_DEPTH = 200  # keyword hits considered, whatever k is, so the first results never move
EXCLUDE_DEPTH = 10_000


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
    images: tuple[str | bytes, ...] = ()  # more images, each a part of weight 1
    not_texts: tuple[str, ...] = ()  # "not this": fewer by meaning, none holding the words
    not_images: tuple[str | bytes, ...] = ()
    show_all: bool = False  # also the results below the cut-off, after the others
    meaning_only: bool = False  # no exact-word tier
    words_only: bool = False  # exact words only: no meaning tier, no model (also "quoted" text)
    live: bool = False  # typing: an unfinished last word is a prefix


@dataclass(frozen=True)
class Result:
    path: str
    score: float  # the best item's cosine to the query (raw, not comparable across types)
    kind: str
    item: int
    file_id: int
    type: str  # what matched: "image", "text" (a passage), "name"
    snippet: str | None
    taken: float | None
    match: float = 0.0  # calibrated, in [0, 1]; 0.5 is the cut-off
    how: str = "image"  # "image", "text", "keyword" (a word of the text), "stem" or "name"
    weak: bool = False  # below the cut-off (only with show_all)
    spreads: float = 0.0  # how far the best item stands above unrelated items of its type
    source: str | None = None  # "ocr": matched text read from the picture (engine.ocrindex)
    line: str | None = None  # that text's line that matched best
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # its lines, 0..1 of the picture

    @property
    def strength(self) -> str:
        return strength(self.match)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": display(self.path),
            "score": round(self.score, 6),
            "kind": self.kind,
            "item": self.item,
            "page": self.item,
            "match": round(self.match, 4),
            "strength": self.strength,
            "how": self.how,
            "weak": self.weak,
            "snippet": self.snippet,
        }
        if self.source == "ocr":
            out["text_in_image"] = self.line
        return out


def strength(match: float) -> str:
    if match >= STRONG:
        return "strong"
    return "good" if match >= GOOD else "weak"


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


def combine(vectors: Sequence[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
    import numpy as np

    total: npt.NDArray[np.float32] = np.sum(np.stack(vectors), axis=0).astype(np.float32)
    norm = float(np.linalg.norm(total))
    if norm == 0.0:
        return total
    unit: npt.NDArray[np.float32] = (total / norm).astype(np.float32)
    return unit


@dataclass
class Background:
    """What unrelated items of one type look like: a query's cosines to these are its noise."""

    vectors: npt.NDArray[np.float32]

    def calibrate(self, vector: npt.NDArray[np.float32]) -> tuple[float, float]:
        """Median and robust spread (MAD, with the matches clipped first) of ``vector``'s
        cosines over the background."""
        import numpy as np

        if len(self.vectors) == 0:
            return 0.0, 1.0
        scores = self.vectors @ vector
        # Whatever does match (photos like this one, a probe that happens to share its colour)
        # is an outlier above the background, signal rather than noise: clip it, then measure.
        for _ in range(3):
            median = float(np.median(scores))
            spread = 1.4826 * float(np.median(np.abs(scores - median)))
            kept = scores[scores <= median + CLIP_SPREADS * max(spread, 1e-3)]
            if len(kept) == len(scores) or len(kept) < len(self.vectors) // 2:
                break
            scores = kept
        # a background of near-identical items has almost no spread: a numerical floor only
        return median, max(spread, 1e-3)


@dataclass
class _Part:
    vector: npt.NDArray[np.float32]
    weight: float
    negative: bool
    scale: dict[str, tuple[float, float]] = field(default_factory=dict)  # type -> (median, spread)

    def spreads(self, item_type: str, cosine: float) -> float:
        median, spread = self.scale[item_type]
        return (cosine - median) / spread


@dataclass
class _Candidate:
    file_id: int
    match: float = -math.inf
    spreads: float = -math.inf
    item_id: int | None = None
    page: int = 1
    type: str = "image"
    text: str | None = None
    cosine: float = 0.0
    keyword: KeywordHit | None = None
    name_hit: KeywordHit | None = None
    keyword_rank: int = 0
    name_rank: int = 0


def match_of(spreads: float) -> float:
    """Calibrated match in [0, 1]: 0.5 at the cut-off."""
    x = (spreads - CUTOFF_SPREADS) / SPREADS_PER_UNIT
    if x < -50:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


class Searcher:
    """Ranks for one store. ``embedder`` may be None for a searcher that only answers queries
    of exact words (:func:`needs_model` is False for them): those never load the model."""

    def __init__(self, store: Store, embedder: Embedder | None) -> None:
        self.store = store
        self._embedder = embedder
        self._lock = threading.Lock()
        self._probes: dict[str, npt.NDArray[np.float32]] | None = None
        self._samples: dict[str, tuple[float, int, npt.NDArray[np.float32]]] = {}

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            raise ConfigError("this search needs the model", "give a model folder (--model DIR)")
        return self._embedder

    # -- calibration -------------------------------------------------------------------------

    def ensure_probes(self, each: Callable[[int, int], bool] | None = None) -> bool:
        """Embed and store the probes of the current model if the index lacks them (writers).
        ``each`` hears (done, total) per picture probe (seconds each for the real tower on a
        CPU) and may return False to stop; returns whether the probes are all stored."""
        from . import probes

        key = probes.model_key(self.embedder)
        stored = self.store.probes(key)
        missing = {}
        if "text" not in stored:
            missing["text"] = probes.embed_text_probes(self.embedder)
        complete = True
        if "image" not in stored:
            pictures = probes.embed_image_probes(self.embedder, each)
            if pictures is None:
                complete = False
            else:
                missing["image"] = pictures
        if missing:
            self.store.set_probes(key, missing)
            log.info("calibration probes stored for %s", key)
        with self._lock:
            self._probes = None
        return complete

    def _probe_vectors(self, item_type: str) -> npt.NDArray[np.float32]:
        import numpy as np

        from . import probes

        with self._lock:
            if self._probes is None:
                self._probes = self.store.probes(probes.model_key(self.embedder))
            found = self._probes.get(item_type)
        if found is not None:
            return found
        # Not stored yet (no writer has run with this model): text probes are cheap to embed
        # here; picture probes only for a library with too few pictures of its own.
        vectors: npt.NDArray[np.float32] | None = None
        if item_type == "text":
            vectors = probes.embed_text_probes(self.embedder)
        elif len(self._sample("image")) < 32:
            vectors = probes.embed_image_probes(self.embedder)  # nothing asks it to stop
        if vectors is None:
            vectors = np.zeros((0, STORED_DIMS), dtype=np.float32)
        with self._lock:
            if self._probes is not None:  # a writer's ensure_probes() may have reset it meanwhile
                self._probes[item_type] = vectors
        return vectors

    def _sample(self, item_type: str) -> npt.NDArray[np.float32]:
        now = time.monotonic()
        generation = self.store.vector_generation()
        with self._lock:
            cached = self._samples.get(item_type)
        if cached is not None:
            when, gen, vectors = cached
            fresh = gen == generation or (now - when < SAMPLE_REFRESH_S and len(vectors) >= 64)
            if fresh:
                return vectors
        vectors = self.store.sample_vectors(item_type, SAMPLE_SIZE)
        with self._lock:
            self._samples[item_type] = (now, generation, vectors)
        return vectors

    def background(self, item_type: str) -> Background:
        import numpy as np

        parts = [self._probe_vectors(item_type), self._sample(item_type)]
        parts = [p for p in parts if len(p)]
        if not parts:
            return Background(np.zeros((0, STORED_DIMS), dtype=np.float32))
        return Background(np.concatenate(parts).astype(np.float32, copy=False))

    # -- the query ---------------------------------------------------------------------------

    def text_vector(self, text: str) -> npt.NDArray[np.float32]:
        return self.embedder.embed_query(text)

    def image_vector(self, image: str | bytes) -> npt.NDArray[np.float32]:
        from .preprocess import prepare

        pixels, _ = prepare(image, self.embedder.model.vision)
        vector: npt.NDArray[np.float32] = self.embedder.embed_pixels(pixels[None])[0]
        return vector

    def query_vector(self, query: Query) -> npt.NDArray[np.float32]:
        """One unit vector for the query's positive parts (for callers that need a single one)."""
        parsed = query_language.parse(query.text)
        vectors = [self.text_vector(p.text) for p in parsed.positives]
        vectors += [self.image_vector(i) for i in self._images(query)]
        if not vectors:
            raise ConfigError("nothing to search for", "give a text, an image, or both")
        return combine(vectors)

    @staticmethod
    def _images(query: Query) -> list[str | bytes]:
        return ([query.image] if query.image is not None else []) + list(query.images)

    def _parts(self, query: Query, parsed: query_language.Parsed) -> list[_Part]:
        parts = [_Part(self.text_vector(p.text), p.weight, False) for p in parsed.positives]
        parts += [_Part(self.image_vector(i), 1.0, False) for i in self._images(query)]
        parts += [_Part(self.text_vector(p.text), p.weight, True) for p in parsed.negatives]
        parts += [_Part(self.text_vector(t), 1.0, True) for t in query.not_texts if t.strip()]
        parts += [_Part(self.image_vector(i), 1.0, True) for i in query.not_images]
        if not parts:  # exact words only: no background, no model
            return parts
        for item_type in ITEM_TYPES:
            background = self.background(item_type)
            for part in parts:
                part.scale[item_type] = background.calibrate(part.vector)
        return parts

    def search(self, query: Query) -> list[Result]:
        """Files for the query, best first: exact words, then meaning, then (if asked) the rest."""
        if query.k <= 0:
            return []
        parsed = query_language.parse(query.text, live=query.live)
        query = self._apply_fields(query, parsed)
        if words_only(query, parsed):
            if not parsed.keyword_match() and not parsed.names:
                raise ConfigError("no words to search for", "give words, or drop --words")
            return self._rank(query, parsed, [])
        parts = self._parts(query, parsed)
        if not any(not p.negative for p in parts) and not parsed.names:
            raise ConfigError("nothing to search for", "give a text, an image, or both")
        return self._rank(query, parsed, parts)

    def similar(self, file_id: int, query: Query) -> list[Result]:
        """Files like an indexed one, from its stored vectors (no decoding, no tower)."""
        vectors = self.store.item_vectors(file_id)
        if not vectors:
            raise ConfigError("that file has no vectors yet", "wait until it is indexed")
        part = _Part(combine(vectors), 1.0, False)
        for item_type in ITEM_TYPES:
            part.scale[item_type] = self.background(item_type).calibrate(part.vector)
        query = replace(query, exclude_file=file_id, text="")
        return self._rank(query, query_language.parse(""), [part])

    def search_vector(self, vector: npt.NDArray[np.float32], query: Query) -> list[Result]:
        """Files nearest to a given vector, on the calibrated scale (benchmarks, tools)."""
        part = _Part(vector, 1.0, False)
        for item_type in ITEM_TYPES:
            part.scale[item_type] = self.background(item_type).calibrate(vector)
        return self._rank(replace(query, text=""), query_language.parse(""), [part])

    @staticmethod
    def _apply_fields(query: Query, parsed: query_language.Parsed) -> Query:
        changes: dict[str, object] = {}
        if parsed.kind:
            changes["kind"] = parsed.kind
        if parsed.folder:
            changes["folder"] = parsed.folder
        if parsed.after:
            changes["date_from"] = parse_date(parsed.after)
        if parsed.before:
            changes["date_to"] = parse_date(parsed.before, end=True)
        return replace(query, **changes) if changes else query  # type: ignore[arg-type]

    # -- ranking -----------------------------------------------------------------------------

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

    def _keyword(
        self, match: str, limit: int, names: bool, query: Query, folder_ids: list[int] | None
    ) -> list[KeywordHit]:
        return self.store.keyword(
            match,
            limit,
            names=names,
            kind=query.kind,
            folder_ids=folder_ids,
            taken_from=query.date_from,
            taken_to=query.date_to,
        )

    def _rank(
        self, query: Query, parsed: query_language.Parsed, parts: list[_Part]
    ) -> list[Result]:
        folder_ids, prefix = self._folder_scope(query.folder)
        inside = (prefix.rstrip(os.sep) + os.sep) if prefix else None

        def allowed(path: str, file_id: int) -> bool:
            return file_id != query.exclude_file and (inside is None or path.startswith(inside))

        candidates: dict[int, _Candidate] = {}
        paths: dict[int, tuple[str, str, float | None]] = {}  # file -> path, kind, taken

        # Words: every hit holds all the words; name: words restrict to matching names.
        keyword_match = None if query.meaning_only else parsed.keyword_match()
        if keyword_match:
            for names in (False, True):
                hits = self._keyword(keyword_match, KEYWORD_DEPTH, names, query, folder_ids)
                for rank, hit in enumerate(hits):
                    if not allowed(hit.path, hit.file_id):
                        continue
                    c = candidates.setdefault(hit.file_id, _Candidate(hit.file_id))
                    paths[hit.file_id] = (hit.path, hit.kind, hit.taken)
                    if names:
                        if c.name_hit is None:
                            c.name_hit, c.name_rank = hit, rank
                    elif c.keyword is None:
                        c.keyword, c.keyword_rank = hit, rank
        only: set[int] | None = None
        name_match = parsed.name_match()
        if name_match:
            hits = self._keyword(name_match, EXCLUDE_DEPTH, True, query, folder_ids)
            only = {h.file_id for h in hits if allowed(h.path, h.file_id)}
            for rank, hit in enumerate(hits):
                paths.setdefault(hit.file_id, (hit.path, hit.kind, hit.taken))
                if hit.file_id in only:
                    c = candidates.setdefault(hit.file_id, _Candidate(hit.file_id))
                    if c.name_hit is None:
                        c.name_hit, c.name_rank = hit, rank
        excluded: set[int] = set()
        excluded_match = _excluded_match(parsed, query.not_texts)
        if excluded_match:
            for names in (False, True):
                hits = self._keyword(excluded_match, EXCLUDE_DEPTH, names, query, folder_ids)
                excluded.update(h.file_id for h in hits)

        # Meaning: the nearest items of each type for each positive part.
        positives = [p for p in parts if not p.negative]
        want = query.k + len(excluded)
        for part in positives:
            for item_type in ITEM_TYPES:
                self._nearest(part, item_type, want, query, folder_ids, allowed, candidates, paths)
        if only is not None:
            candidates = {f: c for f, c in candidates.items() if f in only}
        for file_id in excluded:
            candidates.pop(file_id, None)
        if not candidates:
            return []

        if parts:
            self._score(candidates, parts)
        else:  # exact words only: the keyword index's own order (bm25), names and text merged
            for c in candidates.values():
                ranks = [c.keyword_rank] if c.keyword is not None else []
                ranks += [c.name_rank] if c.name_hit is not None else []
                c.spreads = -float(min(ranks, default=KEYWORD_DEPTH))
        results = [self._result(c, paths) for c in candidates.values() if c.file_id in paths]
        results.sort(key=_order)
        shown = [r for r in results if not r.weak]
        if query.show_all:
            shown += [r for r in results if r.weak]
        return shown[: query.k]

    def _nearest(
        self,
        part: _Part,
        item_type: str,
        want: int,
        query: Query,
        folder_ids: list[int] | None,
        allowed: object,
        candidates: dict[int, _Candidate],
        paths: dict[int, tuple[str, str, float | None]],
    ) -> None:
        assert callable(allowed)
        fetch = max(want * 4, 32)
        while True:
            scored = self.store.knn(
                part.vector,
                fetch,
                kind=query.kind,
                item_type=item_type,
                folder_ids=folder_ids,
                taken_from=query.date_from,
                taken_to=query.date_to,
            )
            files = set()
            for hit in self.store.hits(scored):
                if not allowed(hit.path, hit.file_id):
                    continue
                files.add(hit.file_id)
                candidates.setdefault(hit.file_id, _Candidate(hit.file_id))
                paths.setdefault(hit.file_id, (hit.path, hit.kind, hit.taken))
            if len(files) >= want or len(scored) < fetch or fetch >= MAX_KNN:
                return
            fetch = min(fetch * 4, MAX_KNN)

    def _score(self, candidates: dict[int, _Candidate], parts: list[_Part]) -> None:
        """Each candidate file's best item on the calibrated scale, over all the query's parts."""
        items = self.store.file_items(list(candidates))
        vectors = self.store.vectors([i[0] for i in items])
        total = sum(p.weight for p in parts if not p.negative) or 1.0
        for item_id, file_id, page, item_type, text in items:
            vector = vectors.get(item_id)
            if vector is None or item_type not in ITEM_TYPES:
                continue
            # Parts meet as matches, which saturate, so one part that stands out very far (a
            # near-duplicate picture) cannot drown the others; spreads break ties among them.
            match = spreads_total = 0.0
            best_cosine = -1.0
            for part in parts:
                cosine = float(vector @ part.vector)
                spreads = part.spreads(item_type, cosine)
                sign = -1.0 if part.negative else 1.0
                match += sign * part.weight * match_of(spreads) / total
                spreads_total += (
                    sign * part.weight * (max(spreads, 0.0) if part.negative else spreads) / total
                )
                if not part.negative:
                    best_cosine = max(best_cosine, cosine)
            c = candidates[file_id]
            if (match, spreads_total) > (c.match, c.spreads):
                c.match, c.spreads = max(match, 0.0), spreads_total
                c.item_id, c.page, c.type, c.text = item_id, page, item_type, text
                c.cosine = best_cosine

    @staticmethod
    def _result(c: _Candidate, paths: dict[int, tuple[str, str, float | None]]) -> Result:
        path, kind, taken = paths[c.file_id]
        match = max(c.match, 0.0)
        page, snippet, how, item_type = c.page, c.text, c.type, c.type
        exact = c.keyword is not None or c.name_hit is not None
        if c.keyword is not None:
            # "stem": only another form of the word ("tarpaulin" for "tarpaulins")
            how = "stem" if getattr(c.keyword, "matched", "exact") == "stemmed" else "keyword"
            page, snippet, item_type = c.keyword.page, c.keyword.snippet, "text"
            if how == "stem" and c.name_hit is not None:
                how, item_type, snippet = "name", "name", None
        elif c.name_hit is not None:
            how, item_type = "name", "name"
            snippet = None
        if exact:
            match = max(match, GOOD + (1 - GOOD) / (2 + c.keyword_rank))
        return Result(
            path=path,
            score=c.cosine,
            kind=kind,
            item=page,
            file_id=c.file_id,
            type=item_type,
            snippet=snippet,
            taken=taken,
            match=match,
            how=how,
            weak=not exact and match < GOOD,
            spreads=c.spreads if math.isfinite(c.spreads) else -1e9,
        )


def words_only(query: Query, parsed: query_language.Parsed) -> bool:
    """Exact words only, no meaning: asked for (``--words``), or nothing but quoted phrases and
    ``name:`` words, and no picture in the query."""
    if query.image is not None or query.images or query.not_images or query.meaning_only:
        return False
    if query.words_only:
        return True
    texts = parsed.positives + parsed.negatives
    if not texts and not parsed.names:
        return False
    quoted = all(t.phrase for part in texts for group in part.groups for t in group)
    return quoted and not any(t.strip() for t in query.not_texts)


def needs_model(query: Query) -> bool:
    """Whether answering ``query`` needs the towers (the model loaded, its probes)."""
    try:
        parsed = query_language.parse(query.text, live=query.live)
    except ConfigError:
        return False  # the search itself says what is wrong, without loading anything
    return not words_only(query, parsed)


def _excluded_match(parsed: query_language.Parsed, not_texts: Sequence[str]) -> str | None:
    """The words no result may hold: the query's ``-word``s and those of each "not" text."""
    options = [m for m in [parsed.excluded_match()] if m]
    for text in not_texts:
        found = query_language.parse(text).keyword_match()
        if found:
            options.append(f"({found})")
    return " OR ".join(options) if options else None


def _order(r: Result) -> tuple[int, float, float, int]:
    """Exact words first (the forms as typed before other forms of them), then the calibrated
    match, then how far it stands out; the file id breaks what ties remain the same way always."""
    tier = {"keyword": 0, "name": 0, "stem": 1}.get(r.how, 2)
    return (tier, -r.match, -r.spreads, r.file_id)
