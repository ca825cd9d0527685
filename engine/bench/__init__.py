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
6. index size per photo, from the memory runs' databases;
7. OCR (engine/bench/ocr.py): the cheap text-detection pass per photo, detection per text
   picture, recognition per line, and OCR's share of indexing a mixed folder.
8. towers: per model variant given (``--model A --model B``), each tower in a fresh process:
   load time, resident memory (VRAM where ``nvidia-smi`` answers), the first (cold) and warm
   text queries, photos/s per batch size and thread count, int8/fp16 agreement with fp32 on
   scikit-image's real photos, and the variant the CPU path uses (:mod:`engine.bench.towers`);
9. cli: ``lanterna search`` in a new process at 100k items, alone and answered by a running
   process over its private socket (:mod:`engine.bench.cli`).

The model is the folder given (the real jina-clip-v2 when you have it) or the toy model built
into a temporary folder. Times are wall-clock medians and 95th percentiles; compare figures
of one run with each other (a ratio), not across machines. Nothing here fails on a figure:
each budget gets a verdict, and a gap is explained in docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import json as json_module
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from .cli import bench_cli
from .context import _embedder, _model_folder
from .decode import bench_decode
from .gui import bench_gui
from .memory import bench_memory
from .pipeline import bench_pipeline
from .plan import DIMS, FULL, MIB, QUICK, SECTIONS, TEXT_QUERIES, K, Plan
from .query import Search, bench_query, synthetic_vectors
from .query import _fill as _fill
from .query import _filter_args as _filter_args
from .report import Verdict, budgets, render
from .timing import _note
from .towers import bench_towers, photo_files

__all__ = [
    "DIMS",
    "FULL",
    "MIB",
    "QUICK",
    "SECTIONS",
    "TEXT_QUERIES",
    "K",
    "Plan",
    "Search",
    "Verdict",
    "bench_cli",
    "bench_decode",
    "bench_gui",
    "bench_memory",
    "bench_pipeline",
    "bench_query",
    "bench_towers",
    "budgets",
    "render",
    "run",
    "synthetic_vectors",
]


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
        "cpu": _cpu_name(),
        "providers": onnxruntime.get_available_providers(),
        "gpu": _gpu_name(),
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _gpu_name() -> str | None:
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or None


def run(
    quick: bool = True,
    model_dir: Path | None = None,
    json: bool = False,
    *,
    device: str = "auto",
    only: Sequence[str] | None = None,
    out: IO[str] | None = None,
    workdir: Path | None = None,
    variants: Sequence[Path] = (),
) -> dict[str, Any]:
    """Run the suite and print its table (or, with ``json``, one JSON object); return figures.

    ``only`` picks sections (``decode``, ``pipeline``, ``query``, ``memory``, ``gui``,
    ``towers``). ``variants`` are model folders for the towers section (the first one, unless
    ``model_dir`` is given, also runs the other sections).
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
        if model_dir is None and variants:
            model_dir = Path(variants[0])
        folder, toy = stack.enter_context(_model_folder(model_dir, work))
        from ..model import load

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
            # memory against library size does not depend on the tower's cost: a real-size
            # tower on a CPU (seconds per photo) would take hours here, so the toy stands in
            slow = not toy and (figures.get("pipeline") or {}).get("tower_images_per_s", 99) < 5
            memory_model = folder
            if slow:
                from onnx_models.toy import build_toy_model

                memory_model = build_toy_model(work / "toy-model-memory")
            figures["memory"] = bench_memory(memory_model, device, plan, work)
            if slow:
                figures["memory"]["note"] = (
                    "indexed with the toy model: the given towers run at "
                    f"{figures['pipeline']['tower_images_per_s']:.2f} img/s here; "
                    "their own memory is in 8. towers"
                )
        if "gui" in sections:
            _note("gui")
            figures["gui"] = bench_gui(plan)
        if "ocr" in sections:
            _note("ocr")
            from .ocr import bench_ocr

            figures["ocr"] = bench_ocr(folder, device, plan, work, toy)
        if "cli" in sections:
            figures["cli"] = bench_cli(folder, device, plan, work)
        if "towers" in sections:
            towers = [Path(v) for v in variants] or ([] if toy else [folder])
            if not towers:
                towers = [folder]
            if len(photo_files()) < 2:
                figures["towers"] = {
                    "skipped": "needs scikit-image's sample photos: pip install scikit-image "
                    "(or pip install -e '.[bench]')"
                }
            else:
                figures["towers"] = bench_towers(towers, device, plan)
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
