"""The budgets' verdicts and the printed table."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from ..store import VINDEX_MIN_VECTORS
from .plan import MIB


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
        busy = p.get("tower_busy_share")
        slow = p["tower_images_per_s"] < 5 and busy is not None
        out.append(
            Verdict(
                "indexing pipeline ÷ bare vision tower",
                "≥ 90 %",
                f"{p['ratio'] * 100:.1f} % ({p['pipeline_images_per_s']:.2f} vs "
                f"{p['tower_images_per_s']:.2f} img/s)"
                + (f"; tower busy {busy * 100:.1f} % of the run" if busy is not None else ""),
                (busy >= 0.9) if slow else p["ratio"] >= 0.9,
                _pipeline_note(p, toy)
                + ("; a seconds-per-photo tower is judged by its busy share" if slow else ""),
            )
        )
    c = figures.get("cli")
    if c and "served" in c:
        served, alone = c["served"], c["alone"]
        k = served["keyword"]["p50_ms"]
        out.append(
            Verdict(
                "CLI search in a new process, keyword query, warm (p50)",
                "≤ 150 ms",
                f"{k:.0f} ms answered by a running process; {alone['keyword']['p50_ms']:.0f}"
                " ms alone (no model loaded either way)",
                k <= 150,
                f"Python's own start-up here: {c['python_startup']['p50_ms']:.0f} ms",
            )
        )
        tower = c.get("tower_p50_ms")
        if tower is not None and "fused" in served:
            m = max(served["meaning"]["p50_ms"], served["fused"]["p50_ms"])
            out.append(
                Verdict(
                    "CLI search in a new process, meaning query, warm (p50)",
                    f"≤ text tower + 150 ms ({tower:.0f} + 150)",
                    f"meaning {served['meaning']['p50_ms']:.0f} ms, words and meaning "
                    f"{served['fused']['p50_ms']:.0f} ms, served",
                    m <= tower + 150,
                    "",
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
            f"   Library.index {p['pipeline_images_per_s']:.2f} img/s   bare vision tower "
            f"{p['tower_images_per_s']:.2f} img/s   ratio {p['ratio'] * 100:.1f} %\n"
        )
        if p.get("tower_busy_share") is not None:
            w(
                f"   the tower computed {p['tower_busy_share'] * 100:.1f} % of the run's wall time"
                + (f" (load average {p['load_average']})" if p.get("load_average") else "")
                + "\n"
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
                f"{r['recall_at_10']:>7.3f} {_fmt(r['filtered_p50_ms']):>9} "
                f"{_fmt(r['filtered_recall_at_10'], '', 3):>10} "
                f"{_fmt(r['bytes_per_vector'], '', 0):>8}"
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
        if mem.get("note"):
            w(f"   {mem['note']}\n")
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
    if figures.get("ocr"):
        from .ocr import render_ocr

        render_ocr(figures["ocr"], out)
    t = figures.get("towers")
    if t:
        _render_towers(t, w)
    c = figures.get("cli")
    if c:
        w(f"\n9. cli: `lanterna search` in a new process, {c['items']:,} items, p50 / p95 ms\n")
        w(
            f"   python start-up {c['python_startup']['p50_ms']:.0f} / "
            f"{c['python_startup']['p95_ms']:.0f}; --help {c['help']['p50_ms']:.0f} / "
            f"{c['help']['p95_ms']:.0f}\n"
        )
        if c.get("tower_p50_ms") is not None:
            w(f"   the text tower alone, warm: {c['tower_p50_ms']:.0f} ms p50\n")
        for how in ("alone", "served"):
            if how in c:
                row = "   ".join(
                    f"{q} {t['p50_ms']:>6.0f} / {t['p95_ms']:>6.0f}" for q, t in c[how].items()
                )
                w(f"   {how + ':':<8} {row}\n")
    w("\nbudgets (DESIGN.md)\n")
    for b in figures["budgets"]:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[b["pass"]]
        w(f"   [{verdict:>4}] {b['what']}: {b['measured']}   (target {b['target']})\n")
        if b["note"]:
            w(f"          {b['note']}\n")
    w(f"\n{figures['elapsed_s']:.0f} s in all\n")


def _mib(value: float | None) -> str:
    return _fmt(value / MIB if value else None, " MiB", 0)


def _render_towers(t: dict[str, Any], w: Any) -> None:
    if "skipped" in t:
        w(f"\n8. towers: skipped: {t['skipped']}\n")
        return
    w(f"\n8. towers: each in a fresh process; {len(t['photos'])} real photos (scikit-image)\n")
    w(
        f"   {'variant':<10} {'tower':<7} {'provider':<22} {'thr':>3} {'load s':>7} "
        f"{'RSS':>9} {'cold ms':>9} {'warm p50':>9} {'p95':>8}  notes\n"
    )
    for v in t["variants"]:
        x = v["text"]
        passages = ", ".join(f"batch {b}: {r:.1f}/s" for b, r in x["passages_per_s"].items())
        w(
            f"   {v['variant']:<10} {'text':<7} {x['provider'][:22]:<22} {x['threads']:>3} "
            f"{x['load_s']:>7.2f} {_mib(x['rss_loaded']):>9} {x['cold_ms']:>9.1f} "
            f"{x['warm']['p50_ms']:>9.1f} {x['warm']['p95_ms']:>8.1f}  "
            f"{x['tokens_per_query']:.0f} tokens/query; {x['passage_tokens']}-token passages "
            f"{passages}\n"
        )
        one = v.get("text_one_thread")
        if one:
            w(
                f"   {'':<10} {'text':<7} {'':<22} {one['threads']:>3} {one['load_s']:>7.2f} "
                f"{_mib(one['rss_loaded']):>9} {one['cold_ms']:>9.1f} "
                f"{one['warm']['p50_ms']:>9.1f} {one['warm']['p95_ms']:>8.1f}\n"
            )
        x = v["vision"]
        w(
            f"   {'':<10} {'vision':<7} {x['provider'][:22]:<22} {x['threads']:>3} "
            f"{x['load_s']:>7.2f} {_mib(x['rss_loaded']):>9} {x['cold_ms']:>9.0f}\n"
        )
        for b in x["batches"]:
            vram = f", VRAM {_mib(b['vram'])}" if b.get("vram") else ""
            same = (
                f", same as batch 1: cos {b['same_as_batch_1']:.5f}"
                if "same_as_batch_1" in b
                else ""
            )
            w(
                f"   {'':<10}   batch {b['batch']:<3} {b['images_per_s']:>7.3f} img/s "
                f"({b['s_per_image']:.2f} s/img, {b.get('cpu_s_per_image', 0):.2f} CPU s/img), "
                f"peak RSS {_mib(b['peak_rss'])}{vram}{same}\n"
            )
        fewer = v.get("vision_fewer_threads")
        if fewer:
            b = fewer["batches"][0]
            w(
                f"   {'':<10}   batch 1 on {fewer['threads']} thread(s): "
                f"{b['images_per_s']:.3f} img/s\n"
            )
        a = v.get("agreement")
        if a:
            w(
                f"   {'':<10}   vs fp32 on {a['photos']} photos: cosine mean {a['cosine_mean']:.4f}"
                f", min {a['cosine_min']:.4f}; same nearest photo {a['same_nearest_photo']:.2f}; "
                f"similarity rank correlation {a['similarity_rank_correlation']}; "
                f"(fp32's mean cosine between different photos: {a['reference_spread']:.3f})\n"
            )
    for row in t["tuning"]:
        share = row.get("engine_batch_rate_share")
        w(
            f"   engine batch for {row['variant']} on {row['provider']}: {row['engine_batch']} "
            f"(best measured {row['best_batch']}"
            + (f"; the engine's batch gets {share * 100:.0f} % of the best rate" if share else "")
            + ")\n"
        )
    d = t["decision"]
    w(f"   CPU variant: {d['cpu_variant']}" + (f" — {d['why']}" if d.get("why") else "") + "\n")
