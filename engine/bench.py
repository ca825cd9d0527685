"""Benchmarks: the figures behind DESIGN.md's budgets, measured on this machine.

``lanterna bench [--quick] [--json] [--model DIR]`` runs, with the real parts (Pillow, ONNX
Runtime, SQLite + sqlite-vec through the engine's own classes) and generated inputs:

1. decode: a generated 12-MP JPEG to the vision tower's input, on one core, with JPEG draft
   mode (the engine's path) and with a full-size decode;
2. pipeline: ``Library.index`` throughput over generated 12-MP JPEGs ÷ the bare vision tower
   (``Embedder.embed_pixels`` on ready tensors, same session and batch size), and the cost of
   the index writes per file as the index grows;
3. query: KNN latency at 10k / 100k / 1M synthetic unit vectors for sqlite-vec (``Store.knn``
   on a real index), a NumPy float32 matmul, and :mod:`engine.vectorindex`, with recall@10
   against the exact answer; the text tower (``Embedder.embed_query``) and a whole text query
   through ``Searcher`` at 100k items;
4. memory: peak RSS of a subprocess indexing a small and a ten times larger folder;
5. GUI: the app's own measurements (tests/app), in full mode when they are present;
6. index size per photo, from the memory runs' databases.

The model is the folder given (the real jina-clip-v2 when you have it) or the toy model built
into a temporary folder. Times are wall-clock medians and 95th percentiles; compare figures
of one run with each other (a ratio), not across machines. Nothing here fails on a figure:
each budget gets a verdict, and a gap is explained in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json as json_module
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from .embedder import Embedder
from .search import Query, Searcher
from .store import MAX_KNN, VINDEX_MIN_VECTORS, Store
from .vectorindex import Precision, VectorIndex, from_arrays, load_vec_items

SECTIONS = ("decode", "pipeline", "query", "memory", "gui")
DIMS = 256
K = 10
MIB = 1024 * 1024


@dataclass(frozen=True)
class Plan:
    """How much of everything a mode measures."""

    decode_reps: int
    pipeline_files: int
    write_probe: tuple[int, ...]  # index sizes at which a batch write is timed
    queries: int
    sqlite_sizes: tuple[int, ...]
    vector_sizes: tuple[int, ...]
    int8: bool
    memory_files: tuple[int, int]
    text_queries: int
    gui: bool


QUICK = Plan(
    decode_reps=5,
    pipeline_files=24,
    write_probe=(1_000, 10_000),
    queries=20,
    sqlite_sizes=(10_000, 100_000),
    vector_sizes=(10_000, 100_000, 1_000_000),
    int8=False,
    memory_files=(200, 1_000),
    text_queries=30,
    gui=False,
)
FULL = Plan(
    decode_reps=9,
    pipeline_files=160,
    write_probe=(1_000, 10_000, 50_000),
    queries=50,
    sqlite_sizes=(10_000, 100_000, 1_000_000),
    vector_sizes=(10_000, 100_000, 1_000_000),
    int8=True,
    memory_files=(1_000, 10_000),
    text_queries=100,
    gui=True,
)

TEXT_QUERIES = (
    "a red car",
    "green leaves in the forest",
    "blue sky over the sea",
    "a yellow flower",
    "black and white photo",
    "orange sunset",
    "purple dress",
    "pink cake at a birthday",
    "brown dog on the grass",
    "grey rainy street",
    "white snow on the mountains",
    "kids playing in the park",
)


# -- small helpers ---------------------------------------------------------------------------


def _stats(samples_s: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "p50_ms": round(float(np.median(arr)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "mean_ms": round(float(arr.mean()), 3),
    }


def _timed(fn: Callable[[], object], reps: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _project_root() -> Path:
    return Path(__file__).resolve().parents[1]


def _photo(width: int, height: int, seed: int) -> npt.NDArray[np.uint8]:
    """A photo-like RGB picture: smooth shapes and light noise (compresses like a photo)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
    out: npt.NDArray[np.uint8] = np.clip(smooth + noise, 0, 255).astype(np.uint8)
    return out


def _jpeg(pixels: npt.NDArray[np.uint8], quality: int = 90, taken: str | None = None) -> bytes:
    from PIL import Image

    img = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def _with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a JPEG comment: other bytes (another file to the index), same cost."""
    payload = text.encode()
    segment = b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


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


# -- the model ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _model_folder(model_dir: Path | None, work: Path) -> Iterator[tuple[Path, bool]]:
    if model_dir is not None:
        yield Path(model_dir), False
        return
    from onnx_models.toy import build_toy_model

    yield build_toy_model(work / "toy-model"), True


def _embedder(model_dir: Path, device: str) -> Embedder:
    from .model import load

    return Embedder(load(model_dir), device=device)


# -- 1. decode -------------------------------------------------------------------------------


def bench_decode(model_dir: Path, plan: Plan) -> dict[str, Any]:
    """12-MP JPEG → ``[3, S, S]`` float32 on one core: the engine's draft path vs full decode."""
    from PIL import Image, ImageOps

    from .model import load
    from .preprocess import decode_image, prepare, to_tensor

    spec = load(model_dir).vision
    data = _jpeg(_photo(4000, 3000, seed=1), taken="2024:06:01 12:00:00")

    def draft() -> object:
        return prepare(data, spec)

    def full() -> object:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rotated = ImageOps.exif_transpose(im)
            return to_tensor(rotated.convert("RGB"), spec)

    decoded: list[Any] = []

    def decode_only() -> None:
        decoded[:] = [decode_image(data, spec.image_size)[0]]

    draft_s = _timed(draft, plan.decode_reps)
    full_s = _timed(full, max(1, plan.decode_reps // 3))
    decode_s = _timed(decode_only, plan.decode_reps)
    img = decoded[0]
    tensor_s = _timed(lambda: to_tensor(img, spec), plan.decode_reps)
    draft_ms = float(np.median(draft_s)) * 1000
    full_ms = float(np.median(full_s)) * 1000
    return {
        "image": "4000×3000 JPEG q90, generated",
        "file_bytes": len(data),
        "input_size": spec.image_size,
        "draft_ms": round(draft_ms, 2),
        "draft_best_ms": round(min(draft_s) * 1000, 2),
        "full_ms": round(full_ms, 2),
        "speedup": round(full_ms / draft_ms, 2),
        "draft_decode_ms": round(float(np.median(decode_s)) * 1000, 2),
        "draft_tensor_ms": round(float(np.median(tensor_s)) * 1000, 2),
        "draft_decoded_size": list(img.size),
        "images_per_s_per_core": round(1000.0 / draft_ms, 1),
    }


# -- 2. pipeline -----------------------------------------------------------------------------


def bench_pipeline(model_dir: Path, device: str, plan: Plan, work: Path) -> dict[str, Any]:
    """End-to-end ``Library.index`` throughput vs the bare vision tower of the same session."""
    from .library import Library
    from .preprocess import prepare

    folder = work / "pipeline-photos"
    folder.mkdir(parents=True, exist_ok=True)
    base = _jpeg(_photo(4000, 3000, seed=2), taken="2023:08:15 09:30:00")
    for i in range(plan.pipeline_files):
        (folder / f"IMG_{i:05d}.jpg").write_bytes(_with_comment(base, f"lanterna bench {i}"))
    with Library(work / "pipeline-data", model_dir, device=device) as lib:
        embedder = lib.embedder
        spec = embedder.model.vision
        tensor, _ = prepare(base, spec)
        embedder.embed_pixels(np.stack([tensor] * embedder.batch_size))  # sessions warm
        lib.add_folders([folder])
        start = time.perf_counter()
        report = lib.index()
        elapsed = time.perf_counter() - start
        embedded = report.run.embedded
        workers = lib.workers or max(1, min(4, os.cpu_count() or 2))
        # the bare tower: same session, same batch size, tensors already made
        batch = np.stack([tensor] * embedder.batch_size)
        rounds = max(1, plan.pipeline_files // embedder.batch_size)
        tower_s = min(
            _timed(lambda: [embedder.embed_pixels(batch) for _ in range(rounds)], 2, warmup=0)
        )
        provider = embedder.provider
    pipeline_ips = embedded / elapsed if elapsed > 0 else 0.0
    tower_ips = rounds * embedder.batch_size / tower_s
    return {
        "files": plan.pipeline_files,
        "embedded": embedded,
        "batch_size": embedder.batch_size,
        "decode_workers": workers,
        "provider": provider,
        "seconds": round(elapsed, 3),
        "pipeline_images_per_s": round(pipeline_ips, 2),
        "tower_images_per_s": round(tower_ips, 2),
        "ratio": round(pipeline_ips / tower_ips, 4),
        "writes": _write_probe(work / "writes", plan.write_probe),
    }


def _write_probe(folder: Path, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """µs per file of ``Store.store_indexed`` (batches of 64 new files) as the index grows."""
    from .store import Indexed, ItemVector

    out: list[dict[str, Any]] = []
    store = Store(folder / "index.db")
    try:
        folder_id = store.add_folder(str(folder / "photos"))
        vectors, _ = synthetic_vectors(max(sizes) + 64, 1, seed=5)
        filled = 0
        for size in sizes:
            if size > filled:
                _fill(store, vectors[filled:size], first_id=filled + 1, folder_ids=[folder_id])
                filled = size
            paths = [str(folder / "photos" / f"new-{size}-{i}.jpg") for i in range(64)]
            store.add_files((folder_id, p, 1000, 1, "image") for p in paths)
            rows = list(store.files_by_path(paths).values())
            batch = [
                Indexed(
                    file=row,
                    items=[ItemVector(page=1, type="image", vector=vectors[size + i])],
                    digest=f"{size:032x}{i:032x}",
                    size=row.size,
                    mtime_ns=row.mtime_ns,
                    taken=1.6e9,
                )
                for i, row in enumerate(rows)
            ]
            start = time.perf_counter()
            store.store_indexed(batch)
            per_file = (time.perf_counter() - start) / len(batch)
            store.delete_files([row.id for row in rows])
            out.append({"items": size, "us_per_file": round(per_file * 1e6, 1)})
    finally:
        store.close()
    return out


# -- 3. query --------------------------------------------------------------------------------


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
            vecs.append((item_id, vectors[j].tobytes(), "image", folder, taken))
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


class IndexedStore(Store):
    """``Store`` whose ``knn`` is answered by a :class:`VectorIndex`: the integration in small."""

    vindex: VectorIndex | None = None

    def knn(
        self,
        query: npt.NDArray[np.float32],
        k: int,
        *,
        kind: str | None = None,
        folder_ids: Sequence[int] | None = None,
        taken_from: float | None = None,
        taken_to: float | None = None,
    ) -> list[tuple[int, float]]:
        if self.vindex is None:
            return super().knn(
                query, k, kind=kind, folder_ids=folder_ids, taken_from=taken_from, taken_to=taken_to
            )
        return self.vindex.search(
            query,
            min(k, MAX_KNN),
            kind=kind,
            folder_ids=folder_ids,
            taken_from=taken_from,
            taken_to=taken_to,
        )


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
) -> dict[str, Any]:
    found: list[list[int]] = []
    times = []
    for q in truth.queries:
        start = time.perf_counter()
        found.append(search(q, False))
        times.append(time.perf_counter() - start)
    ffound: list[list[int]] = []
    ftimes = []
    for q in truth.queries:
        start = time.perf_counter()
        ffound.append(search(q, True))
        ftimes.append(time.perf_counter() - start)
    return {
        "items": truth.items,
        "method": method,
        **_stats(times),
        "recall_at_10": _recall(found, truth.plain),
        "filtered_p50_ms": _stats(ftimes)["p50_ms"],
        "filtered_recall_at_10": _recall(ffound, truth.filtered),
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
                    text = _text_query(embedder, store, index, db_path, plan)
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


def _checkpointed_size(path: Path) -> int:
    """The database file's size once its WAL has been copied into it."""
    from . import db

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


def _text_query(
    embedder: Embedder, store: Store, index: VectorIndex, db_path: Path, plan: Plan
) -> dict[str, Any]:
    """A text query typed by a user, at 100k items: tower + KNN + hits + grouping (k=20)."""
    embedder.embed_query("warm up")
    texts = [TEXT_QUERIES[i % len(TEXT_QUERIES)] + f" {i}" for i in range(plan.queries)]
    out: dict[str, Any] = {"items": 100_000, "k": 20}
    other = IndexedStore(db_path)
    other.vindex = index
    try:
        for name, st in (("sqlite_vec", store), ("vectorindex", other)):
            searcher = Searcher(st, embedder)
            searcher.search(Query(text="warm up", k=20))
            times = []
            for t in texts:
                start = time.perf_counter()
                results = searcher.search(Query(text=t, k=20))
                times.append(time.perf_counter() - start)
                if not results:
                    raise RuntimeError("a text query found nothing in a full index")
            out[name] = _stats(times)
    finally:
        other.close()
    return out


# -- 4. memory and 6. index size ---------------------------------------------------------------

_CHILD = r"""
import json, os, sys, time
args = json.loads(sys.argv[1])
try:
    import resource
except ImportError:
    resource = None
from engine.library import Library

def peak_bytes():
    # Linux: VmHWM, this program's own high-water mark (ru_maxrss would include the parent's
    # pages from before exec); elsewhere ru_maxrss (bytes on macOS, KiB on the other Unixes)
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if resource is None:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024

lib = Library(args["data_dir"], args["model_dir"], device=args["device"])
lib.embedder.embed_query("warm up")
lib.add_folders([args["folder"]])
before = peak_bytes()
start = time.perf_counter()
report = lib.index()
elapsed = time.perf_counter() - start
counts = lib.store.counts()
path = lib.store.path
lib.close()  # the last connection checkpoints the WAL into the database file
print(json.dumps({
    "files": counts["indexed"],
    "errors": counts["error"],
    "seconds": elapsed,
    "peak_rss_before_index": before,
    "peak_rss": peak_bytes(),
    "db_bytes": os.path.getsize(path),
    "wal_bytes": os.path.getsize(str(path) + "-wal") if os.path.exists(str(path) + "-wal") else 0,
}))
"""


def _write_photos(folder: Path, count: int, bases: Sequence[bytes]) -> None:
    for i in range(count):
        sub = folder / f"{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        name = sub / f"IMG_{i:06d}.jpg"
        name.write_bytes(_with_comment(bases[i % len(bases)], f"photo {i}"))


def bench_memory(model_dir: Path, device: str, plan: Plan, work: Path) -> dict[str, Any]:
    """Peak RSS of a process indexing N and 10 N photos; the index's bytes per photo."""
    bases = [
        _jpeg(_photo(800, 600, seed=100 + s), quality=85, taken="2022:05:04 10:00:00")
        for s in range(8)
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_project_root()), *sys.path])}
    runs = []
    for count in plan.memory_files:
        folder = work / f"memory-{count}"
        _write_photos(folder, count, bases)
        _note(f"memory: indexing {count:,} photos in a subprocess")
        args = {
            "data_dir": str(work / f"memory-data-{count}"),
            "model_dir": str(model_dir),
            "device": device,
            "folder": str(folder),
        }
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, json_module.dumps(args)],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"memory run failed: {proc.stderr.strip()[-2000:]}")
        result = json_module.loads(proc.stdout.strip().splitlines()[-1])
        result["photo_bytes"] = len(bases[0])
        runs.append(result)
        shutil.rmtree(folder, ignore_errors=True)
    small, large = runs
    out: dict[str, Any] = {"runs": runs, "bytes_per_photo": None, "growth": None}
    if small["peak_rss"] and large["peak_rss"]:
        out["growth"] = round(large["peak_rss"] / small["peak_rss"] - 1.0, 4)
        out["growth_mib_per_1000_files"] = round(
            (large["peak_rss"] - small["peak_rss"])
            / MIB
            / ((large["files"] - small["files"]) / 1e3),
            2,
        )
    if large["files"]:
        out["bytes_per_photo"] = round(large["db_bytes"] / large["files"], 1)
        out["marginal_bytes_per_photo"] = round(
            (large["db_bytes"] - small["db_bytes"]) / max(1, large["files"] - small["files"]), 1
        )
    return out


# -- 5. GUI ----------------------------------------------------------------------------------


def bench_gui(plan: Plan) -> dict[str, Any]:
    """The app's own measurements (tests/app); run in full mode when present."""
    tests = _project_root() / "tests" / "app"
    have_app = importlib.util.find_spec("app") is not None and tests.is_dir()
    if not have_app:
        return {"status": "not measured: the app or its tests are not installed here"}
    if not plan.gui:
        return {
            "status": "see tests/app (test_responsiveness.py, test_startup.py); "
            "`lanterna bench` without --quick runs them"
        }
    if importlib.util.find_spec("pytest") is None or importlib.util.find_spec("pytestqt") is None:
        return {"status": "not measured: pytest and pytest-qt are needed (pip install -e .[dev])"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        str(tests / "test_responsiveness.py"),
        str(tests / "test_startup.py"),
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=_project_root(), env=env, timeout=900, check=False
    )
    text = proc.stdout + proc.stderr
    out: dict[str, Any] = {"status": "measured" if proc.returncode == 0 else "tests failed"}
    stall = re.search(r"longest UI-thread stall (\d+) ms", text)
    shown = re.search(r"window shown (\d+) ms after launch", text)
    out["stall_ms"] = int(stall[1]) if stall else None
    out["window_shown_ms"] = int(shown[1]) if shown else None
    if proc.returncode != 0:
        out["detail"] = text.strip().splitlines()[-1] if text.strip() else ""
    return out


# -- budgets ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    what: str
    target: str
    measured: str
    ok: bool | None  # None: not measured, or not meaningful here
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "target": self.target,
            "measured": self.measured,
            "pass": self.ok,
            "note": self.note,
        }


def _row(rows: Sequence[dict[str, Any]], items: int, prefix: str) -> dict[str, Any] | None:
    return next((r for r in rows if r["items"] == items and r["method"].startswith(prefix)), None)


def _pipeline_note(p: dict[str, Any], toy: bool) -> str:
    parts = []
    if toy:
        parts.append("the toy tower costs ~nothing, so this is decode + hashing + writes alone")
    capacity = p.get("decode_capacity_images_per_s")
    if capacity is not None:
        parts.append(
            f"the decode pool keeps up with any tower slower than {capacity:.0f} img/s "
            "on this machine"
        )
    return "; ".join(parts)


def budgets(figures: dict[str, Any]) -> list[Verdict]:
    out: list[Verdict] = []
    gpu = "CUDA" in str(figures.get("provider", ""))
    toy = bool(figures.get("toy_model"))
    q = figures.get("query")
    if q:
        text = q.get("text_query_100k") or {}
        limit = 50.0 if gpu else 250.0
        sv = (text.get("sqlite_vec") or {}).get("p95_ms")
        vi = (text.get("vectorindex") or {}).get("p95_ms")
        if sv is not None:
            out.append(
                Verdict(
                    "text query → results, 100k items, warm (p95)",
                    "≤ 50 ms GPU; ≤ 250 ms CPU",
                    f"{sv:.0f} ms with sqlite-vec"
                    + (f"; {vi:.0f} ms with vectorindex" if vi is not None else ""),
                    sv <= limit,
                    ("toy text tower: add the real tower's time (--model); " if toy else "")
                    + "painting the results is not included",
                )
            )
        rows = q["rows"]
        top = max(r["items"] for r in rows)
        best = _row(rows, top, "vectorindex (bits + fp16")
        sql = _row(
            rows,
            max((r["items"] for r in rows if r["method"].startswith("sqlite")), default=0),
            "sqlite",
        )
        if best:
            ok = best["p95_ms"] <= 150 and best["recall_at_10"] >= 0.99 and top >= 1_000_000
            sql_note = f"; sqlite-vec {sql['p50_ms']:.0f} ms at {sql['items']:,}" if sql else ""
            out.append(
                Verdict(
                    f"KNN over {top:,} 256-d vectors, {os.cpu_count()} cores (p95)",
                    "≤ 150 ms, recall@10 ≥ 0.99",
                    f"{best['p95_ms']:.1f} ms, recall@10 {best['recall_at_10']:.3f} "
                    f"(bit + fp16 rescore){sql_note}",
                    ok,
                    f"Store.knn answers from vectorindex from {VINDEX_MIN_VECTORS:,} vectors up",
                )
            )
    p = figures.get("pipeline")
    if p:
        out.append(
            Verdict(
                "indexing pipeline ÷ bare vision tower",
                "≥ 90 %",
                f"{p['ratio'] * 100:.1f} % ({p['pipeline_images_per_s']:.1f} vs "
                f"{p['tower_images_per_s']:.1f} img/s)",
                p["ratio"] >= 0.9,
                _pipeline_note(p, toy),
            )
        )
    d = figures.get("decode")
    if d:
        out.append(
            Verdict(
                "decode 12-MP JPEG → 512² input, one core",
                "≤ 30 ms",
                f"{d['draft_ms']:.1f} ms draft (full decode {d['full_ms']:.0f} ms)",
                d["draft_ms"] <= 30.0,
            )
        )
    g = figures.get("gui")
    if g:
        stall, shown = g.get("stall_ms"), g.get("window_shown_ms")
        if stall is not None or shown is not None:
            ok = (stall is None or stall <= 100) and (shown is None or shown <= 1500)
            measured = f"stall {stall} ms; window shown {shown} ms"
            out.append(Verdict("GUI", "window ≤ 1.5 s; stall ≤ 100 ms", measured, ok))
        else:
            out.append(Verdict("GUI", "window ≤ 1.5 s; stall ≤ 100 ms", g["status"], None))
    m = figures.get("memory")
    if m:
        small, large = m["runs"]
        if m.get("growth") is not None:
            out.append(
                Verdict(
                    f"peak RSS indexing {large['files']:,} vs {small['files']:,} photos",
                    f"bounded (≤ 15 % growth for {large['files'] / small['files']:.0f}× the files)",
                    f"{large['peak_rss'] / MIB:.0f} MiB vs {small['peak_rss'] / MIB:.0f} MiB "
                    f"({m['growth'] * 100:+.1f} %)",
                    m["growth"] <= 0.15,
                )
            )
        if m.get("bytes_per_photo") is not None:
            out.append(
                Verdict(
                    "index size per photo",
                    "≤ 2 KiB (2048 B)",
                    f"{m['bytes_per_photo']:.0f} B at {large['files']:,} photos "
                    f"(marginal {m['marginal_bytes_per_photo']:.0f} B)",
                    m["bytes_per_photo"] <= 2048,
                )
            )
    return out


# -- the table -------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


def render(figures: dict[str, Any], out: IO[str]) -> None:
    w = out.write
    m = figures["machine"]
    w(
        f"Lanterna benchmarks ({figures['mode']}) — {m['cpus']} CPU cores, {m['platform']}; "
        f"model {figures['model']} ({'toy' if figures['toy_model'] else 'given folder'}), "
        f"{figures.get('provider', '?')}\n"
    )
    d = figures.get("decode")
    if d:
        w(f"\n1. decode: 4000×3000 JPEG → {d['input_size']}² input, one core\n")
        w(
            f"   draft {d['draft_ms']:.1f} ms, best {d['draft_best_ms']:.1f} "
            f"(decode {d['draft_decode_ms']:.1f} + "
            f"resize/normalise {d['draft_tensor_ms']:.1f}; decoded at {d['draft_decoded_size'][0]}×"
            f"{d['draft_decoded_size'][1]})   full decode {d['full_ms']:.1f} ms   "
            f"draft is {d['speedup']:.1f}× faster\n"
        )
    p = figures.get("pipeline")
    if p:
        w(
            f"\n2. indexing pipeline: {p['files']} × 12-MP JPEG, batch {p['batch_size']}, "
            f"{p['decode_workers']} decode workers, {p['provider']}\n"
        )
        w(
            f"   Library.index {p['pipeline_images_per_s']:.1f} img/s   bare vision tower "
            f"{p['tower_images_per_s']:.1f} img/s   ratio {p['ratio'] * 100:.1f} %\n"
        )
        if "decode_capacity_images_per_s" in p:
            w(
                f"   decode capacity of the pool ({p['decode_workers']} × one-core draft decode): "
                f"{p['decode_capacity_images_per_s']:.1f} img/s\n"
            )
        writes = ", ".join(f"{x['us_per_file']:,.0f} µs at {x['items']:,}" for x in p["writes"])
        w(f"   Store.store_indexed per new file: {writes} items in the index\n")
    q = figures.get("query")
    if q:
        w(f"\n3. query: k={q['k']}, {q['queries']} queries, {q['data']}\n")
        w(f"   filtered: {q['filter']}\n")
        w(
            f"   {'items':>9}  {'method':<40} {'p50 ms':>8} {'p95 ms':>8} {'recall':>7} "
            f"{'filt. p50':>9} {'filt. rec.':>10} {'B/vector':>8}\n"
        )
        for r in q["rows"]:
            w(
                f"   {r['items']:>9,}  {r['method']:<40} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                f"{r['recall_at_10']:>7.3f} {r['filtered_p50_ms']:>9.1f} "
                f"{r['filtered_recall_at_10']:>10.3f} {_fmt(r['bytes_per_vector'], '', 0):>8}"
                + (f"   {r['note']}" if r["note"] else "")
                + "\n"
            )
        t = q["text_tower"]
        w(
            f"   text tower ({t['model']}, {t['provider']}): p50 {t['p50_ms']:.2f} ms, "
            f"p95 {t['p95_ms']:.2f} ms\n"
        )
        tq = q.get("text_query_100k") or {}
        if tq:
            w(
                "   text query end to end at 100k (tower + KNN + hits + grouping, k=20): "
                f"sqlite-vec p50 {tq['sqlite_vec']['p50_ms']:.1f} / p95 "
                f"{tq['sqlite_vec']['p95_ms']:.1f} ms; vectorindex p50 "
                f"{tq['vectorindex']['p50_ms']:.1f} / p95 {tq['vectorindex']['p95_ms']:.1f} ms\n"
            )
            w(f"   vectorindex load from vec_items at 100k: {tq['vectorindex_load_s']:.2f} s\n")
        if q.get("index_size"):
            sizes = ", ".join(
                f"{x['bytes_per_item']:,} B at {x['items']:,}" for x in q["index_size"]
            )
            w(f"   index bytes per photo, synthetic rows (files + items + vec0): {sizes}\n")
    mem = figures.get("memory")
    if mem:
        w("\n4. memory and 6. index size (800×600 JPEGs, subprocess per run)\n")
        for r in mem["runs"]:
            rss = _fmt(r["peak_rss"] / MIB if r["peak_rss"] else None, " MiB", 0)
            w(
                f"   {r['files']:>7,} photos: peak RSS {rss}, indexed in {r['seconds']:.1f} s, "
                f"index {r['db_bytes'] / MIB:.2f} MiB = {r['db_bytes'] / max(1, r['files']):.0f} "
                "B/photo\n"
            )
    g = figures.get("gui")
    if g:
        w(f"\n5. GUI: {g['status']}")
        if g.get("stall_ms") is not None or g.get("window_shown_ms") is not None:
            w(
                f"; longest UI-thread stall {g.get('stall_ms')} ms, window shown "
                f"{g.get('window_shown_ms')} ms after launch"
            )
        w("\n")
    w("\nbudgets (DESIGN.md)\n")
    for b in figures["budgets"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[b["pass"]]
        w(f"   [{verdict:>4}] {b['what']}: {b['measured']}   (target {b['target']})\n")
        if b["note"]:
            w(f"          {b['note']}\n")
    w(f"\n{figures['elapsed_s']:.0f} s in all\n")


# -- entry point -----------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    import onnxruntime
    import sqlite_vec

    return {
        "cpus": os.cpu_count(),
        "platform": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "sqlite_vec": getattr(sqlite_vec, "__version__", "?"),
    }


def run(
    quick: bool = True,
    model_dir: Path | None = None,
    json: bool = False,
    *,
    device: str = "auto",
    only: Sequence[str] | None = None,
    out: IO[str] | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the suite and print its table (or, with ``json``, one JSON object); return figures.

    ``only`` picks sections (``decode``, ``pipeline``, ``query``, ``memory``, ``gui``).
    """
    sections = tuple(only) if only else SECTIONS
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown sections: {', '.join(sorted(unknown))}")
    plan = QUICK if quick else FULL
    stream = out if out is not None else sys.stdout
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lanterna-bench-")))
        else:
            work = Path(workdir)
            work.mkdir(parents=True, exist_ok=True)
        folder, toy = stack.enter_context(_model_folder(model_dir, work))
        from .model import load

        model = load(folder)
        figures: dict[str, Any] = {
            "mode": "quick" if quick else "full",
            "machine": _machine(),
            "model": f"{model.id} {model.revision}".strip(),
            "toy_model": toy,
            "device": device,
        }
        embedder = _embedder(folder, device)
        figures["provider"] = embedder.provider
        embedder.close()
        if "decode" in sections:
            _note("decode")
            figures["decode"] = bench_decode(folder, plan)
        if "pipeline" in sections:
            _note("pipeline")
            figures["pipeline"] = bench_pipeline(folder, device, plan, work)
        if "query" in sections:
            figures["query"] = bench_query(folder, device, plan, work)
        if "memory" in sections:
            figures["memory"] = bench_memory(folder, device, plan, work)
        if "gui" in sections:
            _note("gui")
            figures["gui"] = bench_gui(plan)
    if "decode" in figures and "pipeline" in figures:
        p = figures["pipeline"]
        p["decode_capacity_images_per_s"] = round(
            p["decode_workers"] * 1000.0 / figures["decode"]["draft_ms"], 1
        )
    figures["budgets"] = [b.as_dict() for b in budgets(figures)]
    figures["elapsed_s"] = round(time.perf_counter() - started, 1)
    if json:
        stream.write(json_module.dumps(figures, ensure_ascii=False, indent=2) + "\n")
    else:
        render(figures, stream)
    stream.flush()
    return figures
