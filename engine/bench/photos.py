"""Generated photo-like JPEGs: the inputs of the decode, pipeline and memory benchmarks."""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt


def _photo(width: int, height: int, seed: int) -> npt.NDArray[np.uint8]:
    """A photo-like RGB picture: smooth shapes and light noise (compresses like a photo)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8), "RGB")
    smooth = np.asarray(low.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    noise = rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
    out: npt.NDArray[np.uint8] = np.clip(smooth + noise, 0, 255).astype(np.uint8)
    return out


def _jpeg(pixels: npt.NDArray[np.uint8], quality: int = 90, taken: str | None = None) -> bytes:
    from PIL import Image

    img = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 1  # orientation
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def _with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a JPEG comment: other bytes (another file to the index), same cost."""
    payload = text.encode()
    segment = b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]
