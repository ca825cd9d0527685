"""2. pipeline: ``Library.index`` throughput ÷ the bare vision tower, and the index writes."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..store import Store
from .photos import _jpeg, _photo, _with_comment
from .plan import Plan
from .query import _fill, synthetic_vectors
from .timing import _timed


def bench_pipeline(model_dir: Path, device: str, plan: Plan, work: Path) -> dict[str, Any]:
    """End-to-end ``Library.index`` throughput vs the bare vision tower of the same session."""
    from ..library import Library
    from ..preprocess import prepare

    folder = work / "pipeline-photos"
    folder.mkdir(parents=True, exist_ok=True)
    base = _jpeg(_photo(4000, 3000, seed=2), taken="2023:08:15 09:30:00")
    with Library(work / "pipeline-data", model_dir, device=device) as lib:
        embedder = lib.embedder
        spec = embedder.model.vision
        tensor, _ = prepare(base, spec)
        batch = np.stack([tensor] * embedder.batch_size)
        start = time.perf_counter()
        embedder.embed_pixels(batch)  # sessions warm
        per_image = (time.perf_counter() - start) / len(batch)
        # the bare tower before and after the pipeline: a shared machine's load drifts
        before_s = min(_timed(lambda: embedder.embed_pixels(batch), 1, warmup=0))
        # a real-size tower on a CPU takes seconds per photo: as many files as the plan's time
        files = plan.pipeline_files
        if per_image * files > plan.pipeline_seconds:
            files = max(2 * len(batch), int(plan.pipeline_seconds / per_image))
        files -= files % len(batch)
        for i in range(files):
            (folder / f"IMG_{i:05d}.jpg").write_bytes(_with_comment(base, f"lanterna bench {i}"))
        lib.set_ocr(False)  # the vectors' pipeline alone; OCR has its own part (bench/ocr.py)
        lib.add_folders([folder])
        busy_before = embedder.stats.vision_seconds
        start = time.perf_counter()
        report = lib.index()
        elapsed = time.perf_counter() - start
        busy = embedder.stats.vision_seconds - busy_before
        embedded = report.run.embedded
        workers = lib.workers or max(1, min(4, os.cpu_count() or 2))
        # the bare tower: same session, same batch size, tensors already made
        rounds = max(1, files // embedder.batch_size)
        reps = 2 if per_image * files < plan.pipeline_seconds / 2 else 1
        after_s = min(
            _timed(lambda: [embedder.embed_pixels(batch) for _ in range(rounds)], reps, warmup=0)
        )
        tower_s = rounds * (before_s + after_s / rounds) / 2 if per_image > 0.5 else after_s
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        provider = embedder.provider
    pipeline_ips = embedded / elapsed if elapsed > 0 else 0.0
    tower_ips = rounds * embedder.batch_size / tower_s
    return {
        "files": files,
        "embedded": embedded,
        "batch_size": embedder.batch_size,
        "tower_threads": embedder.tuning.vision_threads,
        "decode_workers": workers,
        "provider": provider,
        "seconds": round(elapsed, 3),
        "pipeline_images_per_s": round(pipeline_ips, 2),
        "tower_images_per_s": round(tower_ips, 2),
        "ratio": round(pipeline_ips / tower_ips, 4),
        # the share of the run the tower was computing: what decode and writes leave it, and
        # a figure that a shared machine's changing load moves much less than two rates
        "tower_busy_share": round(busy / elapsed, 4) if elapsed > 0 else None,
        "load_average": None if load is None else round(load, 2),
        "writes": _write_probe(work / "writes", plan.write_probe),
    }


def _write_probe(folder: Path, sizes: Sequence[int]) -> list[dict[str, Any]]:
    """µs per file of ``Store.store_indexed`` (batches of 64 new files) as the index grows."""
    from ..store import Indexed, ItemVector

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
