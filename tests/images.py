"""Real image files for tests: a colour, with a seeded texture so that pictures differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from onnx_models.toy import COLOURS


def picture(colour: str, seed: int = 0, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like image of one colour: blocks of lighter and darker shades in a seeded layout."""
    rng = np.random.default_rng(seed)
    base = np.array(COLOURS[colour], dtype=np.float32)
    w, h = size
    grid = rng.uniform(-40, 40, size=(4, 4, 1)).astype(np.float32)
    grid -= grid.mean()
    tiles = np.kron(grid, np.ones((h // 4 + 1, w // 4 + 1, 1), dtype=np.float32))[:h, :w]
    arr = np.clip(base[None, None, :] + tiles, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def write(
    path: Path, colour: str, seed: int = 0, size: tuple[int, int] = (320, 240), **save: object
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(colour, seed, size).save(path, **save)
    return path
