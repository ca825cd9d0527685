"""1. decode: a generated 12-MP JPEG to the vision tower's input, on one core."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from .photos import _jpeg, _photo
from .plan import Plan
from .timing import _timed


def bench_decode(model_dir: Path, plan: Plan) -> dict[str, Any]:
    """12-MP JPEG → ``[3, S, S]`` float32 on one core: the engine's draft path vs full decode."""
    from PIL import Image, ImageOps

    from ..model import load
    from ..preprocess import decode_image, prepare, to_tensor

    spec = load(model_dir).vision
    data = _jpeg(_photo(4000, 3000, seed=1), taken="2024:06:01 12:00:00")

    def draft() -> object:
        return prepare(data, spec)

    def full() -> object:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rotated = ImageOps.exif_transpose(im)
            return to_tensor(rotated.convert("RGB"), spec)

    decoded: list[Any] = []

    def decode_only() -> None:
        decoded[:] = [decode_image(data, spec.image_size)[0]]

    draft_s = _timed(draft, plan.decode_reps)
    full_s = _timed(full, max(1, plan.decode_reps // 3))
    decode_s = _timed(decode_only, plan.decode_reps)
    img = decoded[0]
    tensor_s = _timed(lambda: to_tensor(img, spec), plan.decode_reps)
    draft_ms = float(np.median(draft_s)) * 1000
    full_ms = float(np.median(full_s)) * 1000
    return {
        "image": "4000×3000 JPEG q90, generated",
        "file_bytes": len(data),
        "input_size": spec.image_size,
        "draft_ms": round(draft_ms, 2),
        "draft_best_ms": round(min(draft_s) * 1000, 2),
        "full_ms": round(full_ms, 2),
        "speedup": round(full_ms / draft_ms, 2),
        "draft_decode_ms": round(float(np.median(decode_s)) * 1000, 2),
        "draft_tensor_ms": round(float(np.median(tensor_s)) * 1000, 2),
        "draft_decoded_size": list(img.size),
        "images_per_s_per_core": round(1000.0 / draft_ms, 1),
    }
