"""7. text in pictures (OCR): the cheap pass per photo, reading per line, share of indexing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from .photos import _jpeg, _photo
from .plan import QUICK, Plan
from .timing import _stats

LINES = (
    "Invoice INV-2024-0042",
    "Corner Hardware, 12 Mill Lane",
    "Hammer 12.50  Nails 3.20",
    "Total due 15.70 by 30 April",
    "Thank you for shopping local",
    "Platform 9 departures 17:45",
)


def _text_picture(path: Path, lines: int, seed: int) -> Path:
    """A page-like picture with ``lines`` lines of text (Pillow's own scalable font)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (1200, 160 + 90 * lines), (247, 244, 236))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=40)
    for i in range(lines):
        draw.text((60, 80 + 90 * i), LINES[(i + seed) % len(LINES)], fill=(25, 25, 25), font=font)
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 5, (img.height, img.width, 3))
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB").save(path, quality=90)
    return path


def _scan(path: Path) -> Path:
    from PIL import Image

    page = Image.open(_text_picture(path.with_suffix(".jpg"), 6, 3)).convert("RGB")
    path.with_suffix(".jpg").unlink()
    page.save(path, "PDF", resolution=150.0)
    return path


def bench_ocr(
    model_dir: Path, device: str, plan: Plan, work: Path, toy: bool = False
) -> dict[str, Any]:
    from ..library import Library
    from ..ocr import Recognizer

    quick = plan is QUICK
    folder = work / "ocr-inputs"
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    for i in range(3 if quick else 10):
        path = folder / f"photo-{i}.jpg"
        path.write_bytes(_jpeg(_photo(4000, 3000, seed=20 + i)))
        photos.append(path)
    texts = [_text_picture(folder / f"text-{i}.jpg", 6, i) for i in range(2 if quick else 6)]

    rec = Recognizer(device="cpu" if device == "cpu" else "auto")
    rec.read_file(texts[0])  # sessions loaded and warm
    gate_s = []
    gate_cpu_s = []  # CPU time of this process: steadier than wall time on a shared machine
    passed = 0
    for path in photos:
        before = rec.stats.full_passes
        start, cpu = time.perf_counter(), time.process_time()
        rec.read_file(path)
        gate_s.append(time.perf_counter() - start)
        gate_cpu_s.append(time.process_time() - cpu)
        passed += rec.stats.full_passes - before
    detect_ms = []
    per_line_ms = []
    lines = 0
    text_cpu_s = []
    for path in texts:
        cpu = time.process_time()
        reading = rec.read_file(path)
        text_cpu_s.append(time.process_time() - cpu)
        detect_ms.append(reading.detect_ms)
        if reading.lines:
            per_line_ms.append(reading.recognise_ms / len(reading.lines))
            lines += len(reading.lines)
    provider = rec.provider
    rec.close()

    mixed = work / "ocr-mixed"
    mixed.mkdir(parents=True, exist_ok=True)
    for i in range(8 if quick else 40):
        (mixed / f"IMG_{i:04d}.jpg").write_bytes(_jpeg(_photo(1600, 1200, seed=40 + i)))
    for i in range(2 if quick else 10):
        _text_picture(mixed / f"receipt-{i}.jpg", 5, 10 + i)
    _scan(mixed / "scan.pdf")
    runs: dict[str, float] = {}
    vision_s = 0.0
    for ocr_on in (False, True):
        with Library(work / f"ocr-data-{ocr_on}", model_dir, device=device) as lib:
            lib.set_ocr(ocr_on)
            lib.add_folders([mixed])
            marks: list[float] = []

            def progress(p: Any, marks: list[float] = marks) -> None:
                if p.stage == "text" and not marks:
                    marks.append(time.perf_counter())

            start = time.perf_counter()
            lib.index(progress=progress)
            runs["on" if ocr_on else "off"] = time.perf_counter() - start
            if ocr_on:
                vision_s = (marks[0] if marks else time.perf_counter()) - start
                found = lib.store.ocr_counts()
                worker_rss = lib.ocr_worker().peak_rss()
    files = len(list(mixed.iterdir()))
    return {
        "provider": provider,
        "toy": toy,
        "photos": "4000×3000 JPEG, generated, no text",
        "gate_ms_per_photo": _stats(gate_s),
        "gate_cpu_ms_per_photo": round(float(np.median(gate_cpu_s)) * 1000, 1),
        "text_picture_cpu_ms": round(float(np.median(text_cpu_s)) * 1000, 1),
        "threads": rec.threads,
        "photos_past_gate": passed,
        "photos_timed": len(photos),
        "text_pictures": len(texts),
        "detect_ms_per_text_picture": round(float(np.median(detect_ms)), 1),
        "recognise_ms_per_line": round(float(np.median(per_line_ms)), 1) if per_line_ms else None,
        "lines_read": lines,
        "mixed_files": files,
        "mixed_index_s_ocr_off": round(runs["off"], 2),
        "mixed_index_s_ocr_on": round(runs["on"], 2),
        "mixed_vision_stage_s_ocr_on": round(vision_s, 2),
        "ocr_share_of_indexing": round(max(0.0, runs["on"] - vision_s) / runs["on"], 3),
        "vision_stage_ratio_on_off": round(runs["off"] / vision_s, 3) if vision_s else None,
        "mixed_images_with_text": found["images_with_text"],
        "mixed_scanned_pages": found["document_pages_with_text"],
        "worker_peak_rss_mib": round(worker_rss / 2**20) if worker_rss else None,
    }


def render_ocr(o: dict[str, Any], w: Any) -> None:
    out: IO[str] = w
    g = o["gate_ms_per_photo"]
    out.write(f"\n7. text in pictures (OCR), {o['provider']}\n")
    out.write(
        f"   cheap pass per photo ({o['photos']}; decode at 480 px + detection): "
        f"p50 {g['p50_ms']:.0f} ms, p95 {g['p95_ms']:.0f} ms "
        f"(CPU {o['gate_cpu_ms_per_photo']:.0f} ms, {o['threads']} thread); "
        f"{o['photos_past_gate']} of {o['photos_timed']} went on to be read\n"
    )
    per_line = o["recognise_ms_per_line"]
    out.write(
        f"   text pictures: detection {o['detect_ms_per_text_picture']:.0f} ms each, "
        f"direction + recognition {per_line if per_line is not None else '—'} ms per line "
        f"({o['lines_read']} lines; CPU {o['text_picture_cpu_ms']:.0f} ms per picture in all)\n"
    )
    out.write(
        f"   mixed folder of {o['mixed_files']} files: indexed in "
        f"{o['mixed_index_s_ocr_off']:.1f} s without OCR, {o['mixed_index_s_ocr_on']:.1f} s "
        "with it (vectors first: "
        f"{o['mixed_vision_stage_s_ocr_on']:.1f} s); OCR is "
        f"{o['ocr_share_of_indexing'] * 100:.0f} % of the indexing time"
        + (
            f"; OCR worker peak RSS {o['worker_peak_rss_mib']} MiB"
            if o.get("worker_peak_rss_mib")
            else ""
        )
        + (" (the toy's tower costs ~nothing: give --model for the real share)" if o["toy"] else "")
        + "\n"
    )
