"""Timing helpers: repeated runs, medians and 95th percentiles, progress notes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np


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
