"""The OCR part of the benchmarks runs (quick mode) and reports well-formed figures."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from engine.bench import run


@pytest.mark.timeout(900)
def test_ocr_figures(toy_model: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    figures = run(
        quick=True,
        model_dir=toy_model,
        device="cpu",
        only=["ocr"],
        out=out,
        workdir=tmp_path / "bench",
    )
    json.dumps(figures)
    o = figures["ocr"]
    assert "7. text in pictures (OCR)" in out.getvalue()
    assert o["gate_ms_per_photo"]["p50_ms"] > 0
    assert o["photos_past_gate"] == 0  # generated photos hold no text: only the cheap pass
    assert o["detect_ms_per_text_picture"] > 0 and o["recognise_ms_per_line"] > 0
    assert o["lines_read"] >= 10
    assert o["mixed_images_with_text"] == 2 and o["mixed_scanned_pages"] == 1
    assert 0 < o["ocr_share_of_indexing"] < 1
    assert o["mixed_vision_stage_s_ocr_on"] > 0
