"""4. memory and 6. index size: peak RSS of a subprocess indexing N and 10 N photos."""

from __future__ import annotations

import json as json_module
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .context import _project_root
from .photos import _jpeg, _photo, _with_comment
from .plan import MIB, Plan
from .timing import _note

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
    env["LANTERNA_OCR"] = "off"  # this process's memory; OCR's worker is measured in bench/ocr.py
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
