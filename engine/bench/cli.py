"""9. cli: ``lanterna search`` in a new process, alone and answered by a running process.

An index of synthetic photos (files, names, vectors: the query section's fill) is searched by a
new ``python -m engine search …`` process per query: a keyword query (a file name, quoted: exact
words only, no tower), the same name unquoted (exact words first, then meaning) and a meaning
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
import statistics, sys, time
from engine.cli import answer
from engine.library import Library
from engine.search import Query
from engine.serve import QueryServer
lib = Library(sys.argv[1], sys.argv[2], device=sys.argv[3])
lib.store.memory_index = True
lib.store.load_memory_index()
lib.search(Query(text="warm up", k=5))  # the tower, the calibration probes, the sample
times = []
for _ in range(10):  # the text tower alone, warm, on the meaning query: the budget's base
    start = time.perf_counter()
    lib.embedder.embed_query("a red car on a street")
    times.append(time.perf_counter() - start)
server = QueryServer(lib.data_dir, lambda argv: answer(lib, argv))
if not server.start():
    raise SystemExit("no socket")
print("ready", statistics.median(times) * 1000, flush=True)
sys.stdin.read()  # until the parent closes it
server.close()
lib.close()
"""


def _env(data: Path, model: Path) -> dict[str, str]:
    # A user's Python keeps compiled modules (__pycache__): measure that, not a no-bytecode
    # setting of this machine.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **base,
        "PYTHONPATH": os.pathsep.join([str(_project_root()), *sys.path]),
        "LANTERNA_DATA_DIR": str(data),
        "LANTERNA_MODEL_DIR": str(model),
    }


def _time(cmd: list[str], env: dict[str, str], reps: int) -> dict[str, Any]:
    times = []
    out = ""
    subprocess.run(cmd, capture_output=True, env=env, timeout=300)  # warm: bytecode, file cache
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
        # what an index run leaves for readers: the text tower's calibration probes (the
        # pictures' background comes from the library's own 100k photos)
        from .. import probes

        embedder = lib.embedder
        lib.store.set_probes(
            probes.model_key(embedder), {"text": probes.embed_text_probes(embedder)}
        )
    env = _env(data, model_dir)
    py = [sys.executable]
    name = f"IMG_{items // 2:08d}"
    queries = {
        # exact words only (a quoted phrase or --words): no tower
        "keyword": ["-m", "engine", "search", f'"{name}"', "-k", "5"],
        # the same word unquoted: exact words first, then meaning (the tower runs)
        "fused": ["-m", "engine", "search", name, "-k", "5", "--all"],
        "meaning": ["-m", "engine", "search", "a red car on a street", "-k", "5", "--all"],
    }
    reps = plan.cli_reps
    out: dict[str, Any] = {"items": items, "reps": reps}
    _note("cli: python start-up and --help")
    out["python_startup"] = _time([*py, "-c", "pass"], env, reps)
    out["help"] = _time([*py, "-m", "engine", "--help"], env, reps)
    _note("cli: searches alone")
    out["alone"] = {how: _time([*py, *q], env, reps) for how, q in queries.items()}
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
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise RuntimeError("the query server did not start")
        out["tower_p50_ms"] = float(ready[1])
        out["served"] = {how: _time([*py, *q], env, reps) for how, q in queries.items()}
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(60)
    return out
