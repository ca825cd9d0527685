"""3. query: KNN by sqlite-vec, NumPy and :mod:`engine.vectorindex`; the text tower and query.

Also the synthetic vectors (CLIP-like, 256-d) and the straight fill of the index tables.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..embedder import Embedder
from ..search import Query, Searcher
from ..store import Store
from ..vectorindex import Precision, VectorIndex, from_arrays, load_vec_items
from .context import _embedder
from .plan import DIMS, TEXT_QUERIES, K, Plan
from .timing import _note, _stats


def _unit(a: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out: npt.NDArray[np.float32] = (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)
    return out


def synthetic_vectors(
    n: int, queries: int, seed: int = 0, clusters: int = 4096
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``n`` item vectors and ``queries`` text-like query vectors, all unit length, 256-d.

    Shaped like CLIP embeddings rather than uniform noise: a large direction shared by all
    images, clusters (scenes, subjects), variance that falls off along the dimensions (the
    first Matryoshka dims carry most), and queries from another shared direction (the gap
    between text and image embeddings), so that a query's best cosine is about 0.35–0.45.
    """
    rng = np.random.default_rng(seed)
    falloff = (1.0 / np.sqrt(1.0 + np.arange(DIMS) / 16.0)).astype(np.float32)
    common = _unit(rng.standard_normal((1, DIMS)).astype(np.float32))[0]
    centres = _unit(rng.standard_normal((clusters, DIMS)).astype(np.float32) * falloff)
    items = np.empty((n, DIMS), dtype=np.float32)
    for start in range(0, n, 65536):
        m = min(65536, n - start)
        label = rng.integers(0, clusters, m)
        noise = _unit(rng.standard_normal((m, DIMS)).astype(np.float32) * falloff)
        items[start : start + m] = _unit(0.6 * common + 0.55 * centres[label] + 0.55 * noise)
    text_common = _unit(rng.standard_normal((1, DIMS)).astype(np.float32))[0]
    label = rng.integers(0, clusters, queries)
    noise = _unit(rng.standard_normal((queries, DIMS)).astype(np.float32) * falloff)
    q = _unit(0.6 * text_common + 0.5 * centres[label] + 0.6 * noise)
    return items, q


def _exact_topk(
    items: npt.NDArray[np.float32], query: npt.NDArray[np.float32], k: int, mask: Any = None
) -> list[int]:
    scores = items @ query
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top])]
    return [int(i) + 1 for i in top]  # item ids are row + 1


def _recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    hits = [len(set(f) & set(t)) / max(1, len(t)) for f, t in zip(found, truth, strict=True)]
    return round(float(np.mean(hits)), 4)


def _fill(
    store: Store,
    vectors: npt.NDArray[np.float32],
    *,
    first_id: int,
    folder_ids: Sequence[int],
    batch: int = 20_000,
) -> None:
    """Insert synthetic indexed photos (files, items, vectors) straight into the index tables.

    ``Store.store_indexed`` is the engine's path but costs O(index size) per file with
    sqlite-vec 0.1.9 (see ``writes``); filling a 1M index through it would take hours.
    """
    n = len(vectors)
    for start in range(0, n, batch):
        stop = min(n, start + batch)
        files = []
        items = []
        vecs = []
        for j in range(start, stop):
            item_id = first_id + j
            folder = folder_ids[item_id % len(folder_ids)]
            taken = _taken_of(item_id)
            path = f"/bench/library/{folder}/{item_id // 1000:05d}/IMG_{item_id:08d}.jpg"
            files.append(
                (
                    item_id,
                    folder,
                    os.fsencode(path),
                    f"IMG_{item_id:08d}.jpg",
                    3_000_000 + item_id,
                    taken * 1_000_000_000,
                    f"{item_id:064x}",
                    "image",
                    "indexed",
                    float(taken),
                    4000,
                    3000,
                    time.time(),
                )
            )
            items.append((item_id, item_id, 1, "image"))
            vecs.append((item_id, vectors[j].tobytes(), "image/image", folder, taken))
        with store.write() as conn:
            conn.executemany(
                "INSERT INTO files(id, folder_id, path, name, size, mtime_ns, hash, kind, status, "
                "taken, width, height, indexed_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                files,
            )
            conn.executemany("INSERT INTO items(id, file_id, page, type) VALUES(?,?,?,?)", items)
            conn.executemany(
                "INSERT INTO vec_items(item_id, embedding, kind, folder_id, taken) "
                "VALUES(?,?,?,?,?)",
                vecs,
            )


def _taken_of(item_id: int) -> int:
    """A capture time spread over about ten years, scrambled so that it is not the id order."""
    return 1_300_000_000 + (item_id * 2_654_435_761) % 315_360_000


def _filter_args(folder_ids: Sequence[int]) -> dict[str, Any]:
    """A typical filtered query: photos of one folder (of four) from the last five years."""
    return {"kind": "image", "folder_ids": [folder_ids[1]], "taken_from": 1_457_680_000}


def _filter_mask(n: int, folder_ids: Sequence[int]) -> npt.NDArray[np.bool_]:
    ids = np.arange(1, n + 1, dtype=np.int64)
    folder = np.asarray(folder_ids, dtype=np.int64)[ids % len(folder_ids)]
    taken = 1_300_000_000 + (ids * 2_654_435_761) % 315_360_000
    result: npt.NDArray[np.bool_] = (folder == folder_ids[1]) & (taken >= 1_457_680_000)
    return result


Search = Callable[[npt.NDArray[np.float32], bool], list[int]]


def _by_store(
    store: Store, fargs: dict[str, Any], q: npt.NDArray[np.float32], filtered: bool
) -> list[int]:
    return [i for i, _ in store.knn(q, K, **(fargs if filtered else {}))]


def _by_index(
    index: VectorIndex, fargs: dict[str, Any], q: npt.NDArray[np.float32], filtered: bool
) -> list[int]:
    return [i for i, _ in index.search(q, K, **(fargs if filtered else {}))]


def _by_numpy(
    data: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_],
    q: npt.NDArray[np.float32],
    filtered: bool,
) -> list[int]:
    scores = data @ q
    if filtered:
        scores = np.where(mask, scores, -np.inf)
    top = np.argpartition(-scores, K - 1)[:K]
    return [int(i) + 1 for i in top[np.argsort(-scores[top])]]


@dataclass
class _Truth:
    items: int
    queries: npt.NDArray[np.float32]
    plain: list[list[int]]
    filtered: list[list[int]]


def _measure(
    method: str,
    search: Search,
    truth: _Truth,
    bytes_per_vector: float | None,
    note: str = "",
    filters: bool = True,
) -> dict[str, Any]:
    found: list[list[int]] = []
    times = []
    for q in truth.queries:
        start = time.perf_counter()
        found.append(search(q, False))
        times.append(time.perf_counter() - start)
    ffound: list[list[int]] = []
    ftimes = []
    for q in truth.queries if filters else ():
        start = time.perf_counter()
        ffound.append(search(q, True))
        ftimes.append(time.perf_counter() - start)
    return {
        "items": truth.items,
        "method": method,
        **_stats(times),
        "recall_at_10": _recall(found, truth.plain),
        "filtered_p50_ms": _stats(ftimes)["p50_ms"] if filters else None,
        "filtered_recall_at_10": _recall(ffound, truth.filtered) if filters else None,
        "bytes_per_vector": bytes_per_vector,
        "note": note,
    }


def bench_query(model_dir: Path, device: str, plan: Plan, work: Path) -> dict[str, Any]:
    """KNN at each size by each method, the text tower, and a whole text query at 100k."""
    biggest = max(plan.vector_sizes + plan.sqlite_sizes)
    _note(f"query: generating {biggest:,} synthetic vectors")
    items, queries = synthetic_vectors(biggest, plan.queries, seed=0)
    rows: list[dict[str, Any]] = []
    sizes: list[dict[str, Any]] = []
    text: dict[str, Any] = {}
    db_path = work / "query" / "index.db"
    store = Store(db_path)
    folder_ids = [store.add_folder(f"/bench/library/{i}") for i in range(4)]
    fargs = _filter_args(folder_ids)
    filled = 0
    embedder = _embedder(model_dir, device)
    try:
        for n in sorted(set(plan.vector_sizes) | set(plan.sqlite_sizes)):
            data = items[:n]
            mask = _filter_mask(n, folder_ids)
            truth = _Truth(
                n,
                queries,
                [_exact_topk(data, q, K) for q in queries],
                [_exact_topk(data, q, K, mask) for q in queries],
            )
            if n in plan.sqlite_sizes:
                _note(f"query: sqlite-vec at {n:,} (filling the index)")
                _fill(store, items[filled:n], first_id=filled + 1, folder_ids=folder_ids)
                filled = n
                sizes.append({"items": n, "bytes_per_item": round(_checkpointed_size(db_path) / n)})
                store.knn(queries[0], K)  # warm the page cache
                search: Search = partial(_by_store, store, fargs)
                rows.append(
                    _measure("sqlite-vec (Store.knn, brute force)", search, truth, 4 * DIMS)
                )
            if n not in plan.vector_sizes:
                continue
            _note(f"query: numpy and vectorindex at {n:,}")
            search = partial(_by_numpy, data, mask)
            rows.append(_measure("numpy float32 matmul (exact)", search, truth, 4 * DIMS))
            rows.extend(_faiss_rows(data, truth, plan))
            ids = np.arange(1, n + 1, dtype=np.int64)
            folder = np.asarray(folder_ids, dtype=np.int64)[ids % len(folder_ids)]
            taken = 1_300_000_000 + (ids * 2_654_435_761) % 315_360_000
            precisions: tuple[Precision, ...] = ("float16", "int8") if plan.int8 else ("float16",)
            for precision in precisions:
                start = time.perf_counter()
                index = from_arrays(
                    ids, data, kind="image", folder_id=folder, taken=taken, precision=precision
                )
                build_s = time.perf_counter() - start
                label = "fp16" if precision == "float16" else "int8"
                rows.append(
                    _measure(
                        f"vectorindex (bits + {label} rescore)",
                        partial(_by_index, index, fargs),
                        truth,
                        index.bytes_per_vector,
                        note=f"built in {build_s:.1f} s; {index.candidates(n, K):,} candidates",
                    )
                )
                if precision == "float16" and n == 100_000 and n in plan.sqlite_sizes:
                    text = _text_query(embedder, store, db_path, plan)
                    start = time.perf_counter()
                    loaded = load_vec_items(store.reader())
                    text["vectorindex_load_s"] = round(time.perf_counter() - start, 3)
                    text["vectorindex_loaded"] = len(loaded)
                    del loaded
                del index
        tower = _text_tower(embedder, plan)
    finally:
        store.close()
        embedder.close()
    return {
        "k": K,
        "queries": plan.queries,
        "data": "synthetic 256-d unit vectors (clustered, anisotropic, text/image gap)",
        "filter": "kind=image, one folder of four, taken in the last five of ten years",
        "rows": rows,
        "index_size": sizes,
        "text_tower": tower,
        "text_query_100k": text,
    }


def _faiss_rows(data: npt.NDArray[np.float32], truth: _Truth, plan: Plan) -> list[dict[str, Any]]:
    """faiss-cpu beside the engine's index: exact (flat) and IVF (at 1M in full mode only);
    HNSW at 100k in full mode.

    faiss answers without the metadata filters (they would need an ID selector per query), so
    its filtered columns stay empty. Skipped where faiss-cpu is not installed (the bench extra).
    """
    try:
        import faiss
    except ImportError:
        return []
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    n = len(data)
    out = []

    def search(index: Any, q: npt.NDArray[np.float32], filtered: bool) -> list[int]:
        _, found = index.search(q[None, :], K)
        return [int(i) + 1 for i in found[0] if i >= 0]

    start = time.perf_counter()
    flat = faiss.IndexFlatIP(DIMS)
    flat.add(data)
    note = f"built in {time.perf_counter() - start:.1f} s"
    out.append(
        _measure("faiss IndexFlatIP (exact)", partial(search, flat), truth, 4 * DIMS, note, False)
    )
    del flat
    if n > 100_000 and not plan.int8:
        return out  # quick mode: IVF's k-means at 1M takes minutes on 2 cores (full mode has it)
    nlist = int(4 * np.sqrt(n))
    start = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIMS), DIMS, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(data[np.random.default_rng(3).choice(n, min(n, 40 * nlist), replace=False)])
    ivf.add(data)
    built = time.perf_counter() - start
    # text queries sit far from every image cluster (the modality gap): IVF needs many probes
    for nprobe in (32, max(64, nlist // 8)):
        ivf.nprobe = nprobe
        note = f"built in {built:.1f} s; nlist {nlist}, nprobe {nprobe}"
        name = f"faiss IVF{nlist},Flat nprobe {nprobe}"
        out.append(_measure(name, partial(search, ivf), truth, 4 * DIMS, note, False))
    del ivf
    if plan.int8 and n <= 100_000:
        start = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(DIMS, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 64
        hnsw.add(data)
        hnsw.hnsw.efSearch = 128
        note = f"built in {time.perf_counter() - start:.1f} s; M 32, efSearch 128"
        out.append(
            _measure("faiss HNSW32,Flat", partial(search, hnsw), truth, 4 * DIMS + 256, note, False)
        )
    return out


def _checkpointed_size(path: Path) -> int:
    """The database file's size once its WAL has been copied into it."""
    from .. import db

    conn = db.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return os.path.getsize(path)


def _text_tower(embedder: Embedder, plan: Plan) -> dict[str, Any]:
    embedder.embed_query("warm up")
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + f" {i}" for i in range(plan.text_queries)]
    times = []
    for t in texts:
        start = time.perf_counter()
        embedder.embed_query(t)
        times.append(time.perf_counter() - start)
    return {"model": embedder.model.id, "provider": embedder.provider, **_stats(times)}


def _text_query(embedder: Embedder, store: Store, db_path: Path, plan: Plan) -> dict[str, Any]:
    """A text query typed by a user, at 100k items: tower + KNN + hits + grouping (k=20)."""
    embedder.embed_query("warm up")
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + f" {i}" for i in range(plan.queries)]
    out: dict[str, Any] = {"items": 100_000, "k": 20}
    other = Store(db_path)  # the app's path: Store.knn answering from its in-memory copy
    other.load_memory_index()
    try:
        for name, st in (("sqlite_vec", store), ("vectorindex", other)):
            searcher = Searcher(st, embedder)
            searcher.search(Query(text="warm up", k=20, show_all=True))
            times = []
            for t in texts:
                start = time.perf_counter()
                results = searcher.search(Query(text=t, k=20, show_all=True))
                times.append(time.perf_counter() - start)
                if not results:
                    raise RuntimeError("a text query found nothing in a full index")
            out[name] = _stats(times)
    finally:
        other.close()
    return out
