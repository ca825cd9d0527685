"""The benchmark suite runs (quick mode) and reports well-formed figures.

Machines are noisy: nothing here checks a time against a budget. The figures and the verdicts
are printed by `lanterna bench`; these tests only make sure that they are all there.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.bench import SECTIONS, run


def number(value: Any, *, positive: bool = False) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > 0 if positive else value >= 0)


@pytest.mark.timeout(900)
def test_quick_suite_reports_every_figure(toy_model: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    figures = run(
        quick=True,
        model_dir=toy_model,
        json=False,
        device="cpu",
        out=out,
        workdir=tmp_path / "bench",
    )
    table = out.getvalue()
    print(table)
    json.dumps(figures)  # the --json form must be serialisable
    assert figures["mode"] == "quick" and figures["toy_model"] is False  # a folder was given
    for heading in (
        "1. decode",
        "2. indexing pipeline",
        "3. query",
        "4. memory",
        "5. GUI",
        "budgets (DESIGN.md)",
    ):
        assert heading in table

    d = figures["decode"]
    for key in ("draft_ms", "full_ms", "speedup", "draft_decode_ms", "draft_tensor_ms"):
        assert number(d[key], positive=True), key
    assert d["input_size"] == 512 and d["file_bytes"] > 100_000

    p = figures["pipeline"]
    assert p["embedded"] == p["files"] > 0
    for key in ("pipeline_images_per_s", "tower_images_per_s", "ratio", "tower_busy_share"):
        assert number(p[key], positive=True), key
    assert [w["items"] for w in p["writes"]] == [1_000, 10_000]
    assert all(number(w["us_per_file"], positive=True) for w in p["writes"])

    q = figures["query"]
    methods = {(r["items"], r["method"].split(" ")[0]) for r in q["rows"]}
    for n in (10_000, 100_000):
        assert {(n, "sqlite-vec"), (n, "numpy"), (n, "vectorindex")} <= methods
    assert {(1_000_000, "numpy"), (1_000_000, "vectorindex")} <= methods
    for r in q["rows"]:
        assert number(r["p50_ms"], positive=True) and r["p50_ms"] <= r["p95_ms"]
        assert 0.0 <= r["recall_at_10"] <= 1.0
        if r["method"].startswith("faiss"):  # faiss answers without the metadata filters
            assert r["filtered_recall_at_10"] is None
        else:
            assert 0.0 <= r["filtered_recall_at_10"] <= 1.0
        assert number(r["bytes_per_vector"], positive=True)
    try:
        import faiss  # noqa: F401

        assert {(1_000_000, "faiss"), (100_000, "faiss")} <= methods
    except ImportError:
        pass
    assert number(q["text_tower"]["p50_ms"], positive=True)
    text = q["text_query_100k"]
    assert number(text["sqlite_vec"]["p95_ms"], positive=True)
    assert number(text["vectorindex"]["p95_ms"], positive=True)
    assert text["vectorindex_loaded"] == 100_000

    m = figures["memory"]
    small, large = m["runs"]
    assert (small["files"], large["files"]) == (200, 1_000)
    assert small["errors"] == large["errors"] == 0
    if sys.platform != "win32":
        assert number(small["peak_rss"], positive=True) and number(m["growth"] + 1.0)
    assert number(m["bytes_per_photo"], positive=True)
    assert large["wal_bytes"] == 0  # measured with the WAL checkpointed

    assert "status" in figures["gui"]

    c = figures["cli"]
    for how in ("alone", "served"):
        for kind in ("keyword", "meaning"):
            assert number(c[how][kind]["p50_ms"], positive=True), (how, kind)
    assert c["served"]["meaning"]["first_hit"]  # the served search found something
    assert "9. cli" in table

    t = figures["towers"]
    if "skipped" in t:
        assert "scikit-image" in t["skipped"]
    else:
        (v,) = t["variants"]
        assert number(v["text"]["load_s"], positive=True)
        assert number(v["text"]["warm"]["p50_ms"], positive=True)
        batches = [b["batch"] for b in v["vision"]["batches"]]
        assert batches == [1, 4]
        assert all(number(b["images_per_s"], positive=True) for b in v["vision"]["batches"])
        assert t["decision"]["cpu_variant"] in ("int8", "fp32")
        assert "8. towers" in table

    verdicts = figures["budgets"]
    assert len(verdicts) >= 6
    for b in verdicts:
        assert set(b) == {"what", "target", "measured", "pass", "note"}
        assert b["pass"] in (True, False, None)
        assert b["what"] and b["target"] and b["measured"]


def test_cli_runs_a_part_as_json(toy_model: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "--model",
            str(toy_model),
            "--device",
            "cpu",
            "bench",
            "--quick",
            "--json",
            "--only",
            "decode",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert set(figures) >= {"machine", "model", "decode", "budgets", "elapsed_s"}
    assert "query" not in figures
    assert [b["what"] for b in figures["budgets"]] == ["decode 12-MP JPEG → 512² input, one core"]


def test_unknown_parts_are_refused(toy_model: Path) -> None:
    with pytest.raises(ValueError):
        run(quick=True, model_dir=toy_model, only=["nonsense"], out=io.StringIO())
    assert set(SECTIONS) == {"decode", "pipeline", "query", "memory", "gui", "ocr", "towers", "cli"}
