"""9. cli: ``lanterna search`` in a new process, alone and answered by a running process.

An index of synthetic photos (files, names, vectors: the query section's fill) is searched by a
new ``python -m engine search …`` process per query: a keyword query (a file name) and a meaning
query, first with nobody else running (the process opens the index and loads the text tower
itself), then with a long-lived process holding the same library warm on its private socket
(:mod:`engine.serve`, what the app and ``lanterna watch`` do). Python's own start-up is timed
too, as the floor.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .context import _project_root
from .plan import Plan
from .query import _fill, synthetic_vectors
from .timing import _note, _stats

_SERVER = r"""
import sys, threading
from engine.cli import answer
from engine.library import Library
from engine.search import Query
from engine.serve import QueryServer
lib = Library(sys.argv[1], sys.argv[2], device=sys.argv[3])
lib.store.memory_index = True
lib.store.load_memory_index()
lib.search(Query(text="warm up", k=5))  # the tower, the calibration probes, the sample
server = QueryServer(lib.data_dir, lambda argv: answer(lib, argv))
if not server.start():
    raise SystemExit("no socket")
print("ready", flush=True)
sys.stdin.read()  # until the parent closes it
server.close()
lib.close()
"""


def _env(data: Path, model: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(_project_root()), *sys.path]),
        "LANTERNA_DATA_DIR": str(data),
        "LANTERNA_MODEL_DIR": str(model),
    }


def _time(cmd: list[str], env: dict[str, str], reps: int) -> dict[str, Any]:
    times = []
    out = ""
    for _ in range(reps):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:])} failed: {proc.stderr.strip()[-500:]}")
        out = proc.stdout
    return {**_stats(times), "first_hit": out.splitlines()[0] if out.strip() else None}


def bench_cli(model_dir: Path, device: str, plan: Plan, work: Path) -> dict[str, Any]:
    from ..library import Library

    data = work / "cli-data"
    items = plan.cli_items
    _note(f"cli: an index of {items:,} synthetic photos")
    with Library(data, model_dir, device=device) as lib:
        lib.embedder.model  # noqa: B018  (records the model's identity in the index)
        folder = lib.store.add_folder(str(work / "cli-photos"))
        vectors, _ = synthetic_vectors(items, 1, seed=9)
        _fill(lib.store, vectors, first_id=1, folder_ids=[folder])
    env = _env(data, model_dir)
    py = [sys.executable]
    keyword = ["-m", "engine", "search", f"IMG_{items // 2:08d}", "-k", "5", "--all"]
    meaning = ["-m", "engine", "search", "a red car on a street", "-k", "5", "--all"]
    reps = plan.cli_reps
    out: dict[str, Any] = {"items": items, "reps": reps}
    _note("cli: python start-up and --help")
    out["python_startup"] = _time([*py, "-c", "pass"], env, reps)
    out["help"] = _time([*py, "-m", "engine", "--help"], env, reps)
    _note("cli: searches alone")
    out["alone"] = {
        "keyword": _time([*py, *keyword], env, reps),
        "meaning": _time([*py, *meaning], env, reps),
    }
    _note("cli: searches answered by a running process")
    server = subprocess.Popen(
        [*py, "-c", _SERVER, str(data), str(model_dir), device],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("the query server did not start")
        out["served"] = {
            "keyword": _time([*py, *keyword], env, reps),
            "meaning": _time([*py, *meaning], env, reps),
        }
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(60)
    return out
