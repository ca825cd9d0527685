"""What a model folder holds, and whether its towers actually work: ``lanterna model info|verify``.

The self-test runs the towers through the engine's own :class:`engine.embedder.Embedder` and
preprocessing, so it checks what the app will run, on the provider the app will use:

* two clearly different images must give different vectors (the contract's known trap: the fp16
  vision branch on CUDA at BASIC graph optimisation returns one vector for every image);
* an image, and a text, must give the same vector alone and in a batch with a different
  batch-mate (padding must not leak into a text's vector);
* two different texts must give different vectors;
* every vector must be finite and of unit length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from engine import model as model_folder
from engine.errors import ModelError
from engine.paths import cache_dir

from .errors import SelfTestFailed
from .manifest import read_manifest

DIFFERENT_BELOW = 0.999
"""Two different images (or texts) whose vectors are closer than this count as the same."""
SAME_FROM = 0.995
"""An input alone and batched must give vectors at least this close (int8 towers quantise
activations per batch, so exact equality is not expected)."""

SHORT_TEXT = "a red bicycle leaning against a wall"
LONG_TEXT = (
    "Quarterly report: revenue, costs and the outlook for the next year, with tables of figures "
    "for every region and a summary of the risks the board discussed in its last meeting"
)
OTHER_TEXT = "ein Teller Spaghetti mit Tomatensoße"


def checksum_cache(data_dir: Path) -> Path:
    """The cache of verified checksums the engine keeps beside the index."""
    return cache_dir(data_dir) / "model-checksums.json"


@dataclass(frozen=True)
class FileInfo:
    name: str
    bytes: int | None
    sha256: str | None
    """The digest the manifest lists (None when it lists none)."""
    status: str = "unchecked"
    """``ok``, ``mismatch``, ``missing``, ``unlisted`` or ``unchecked``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "status": self.status,
        }


def _files(model: model_folder.ModelFolder) -> list[FileInfo]:
    """The towers, their data files and the tokenizer, then anything else the manifest lists.

    The graphs are not parsed (a 1 GB graph would be read just to list its data files): data files
    are the ones the manifest lists, plus any ``<graph>.data`` it forgot.
    """
    names: list[str] = []
    for graph in (model.text.file, model.vision_file):
        names.append(graph)
        data = f"{graph}.data"
        if data in model.sha256 or model.file(data).is_file():
            names.append(data)
    names.append(model.text.tokenizer)
    names += [n for n in sorted(model.sha256) if n not in names]
    out = []
    for name in names:
        path = model.file(name)
        size = path.stat().st_size if path.is_file() else None
        out.append(FileInfo(name, size, model.sha256.get(name)))
    return out


def check_files(model: model_folder.ModelFolder) -> list[FileInfo]:
    """Hash every file now (no cache) and compare with the manifest."""
    out = []
    for info in _files(model):
        path = model.file(info.name)
        if info.bytes is None:
            status = "missing"
        elif info.sha256 is None:
            status = "unlisted"
        else:
            status = "ok" if model_folder.sha256_file(path) == info.sha256 else "mismatch"
        out.append(FileInfo(info.name, info.bytes, info.sha256, status))
    return out


# --- self-test ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class SelfTest:
    provider: str = ""
    provider_note: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "provider": self.provider,
            "provider_note": self.provider_note,
            "checks": [
                {"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks
            ],
        }

    def raise_if_failed(self) -> None:
        failed = [c for c in self.checks if not c.passed]
        if failed:
            first = failed[0]
            raise SelfTestFailed(
                f"{first.name}: no ({first.detail}; {self.provider})",
                "try `--device cpu`; if that fails too, download or import the model again",
            )


def _cos(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / den if den else 0.0


def sample_images() -> list[Any]:
    """Two clearly different pictures, not square, so resizing and cropping run too."""
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:480, 0:640]
    gradient = np.stack([x * 255 // 639, y * 255 // 479, np.full_like(x, 40)], axis=-1)
    first = Image.fromarray(gradient.astype(np.uint8), "RGB")
    ImageDraw.Draw(first).ellipse((220, 140, 420, 340), fill=(30, 60, 220))
    checks = ((x // 40 + y // 40) % 2 * 255).astype(np.uint8)
    second = Image.fromarray(np.stack([checks] * 3, axis=-1), "RGB").rotate(90, expand=True)
    ImageDraw.Draw(second).rectangle((100, 200, 380, 320), fill=(20, 170, 60))
    return [first, second]


def self_test(
    model: model_folder.ModelFolder, *, device: str = "auto", threads: int | None = None
) -> SelfTest:
    """Run both towers on fixed inputs and check the answers (see the module's docstring)."""
    from engine.embedder import Embedder
    from engine.preprocess import to_tensor

    result = SelfTest()
    emb = Embedder(model, device=device, threads=threads, batch_size=8)
    try:
        pixels = np.stack([to_tensor(im, model.vision) for im in sample_images()])
        batched = emb.embed_pixels(pixels)
        result.provider, result.provider_note = emb.provider, emb.provider_note
        alone = np.concatenate([emb.embed_pixels(pixels[i : i + 1]) for i in range(len(pixels))])
        texts = emb.embed_texts([SHORT_TEXT, LONG_TEXT])
        short_alone = emb.embed_texts([SHORT_TEXT])
        other = emb.embed_texts([OTHER_TEXT])
    finally:
        emb.close()

    c = _cos(batched[0], batched[1])
    result.checks.append(
        Check("two different images give different vectors", c < DIFFERENT_BELOW, f"cosine {c:.6f}")
    )
    c = min(_cos(batched[i], alone[i]) for i in range(len(alone)))
    result.checks.append(
        Check("an image gives the same vector alone and batched", c >= SAME_FROM, f"cosine {c:.6f}")
    )
    c = _cos(texts[0], short_alone[0])
    result.checks.append(
        Check("a text gives the same vector alone and batched", c >= SAME_FROM, f"cosine {c:.6f}")
    )
    c = _cos(short_alone[0], other[0])
    result.checks.append(
        Check("two different texts give different vectors", c < DIFFERENT_BELOW, f"cosine {c:.6f}")
    )
    every = np.concatenate([batched, alone, texts, short_alone, other])
    norms = np.linalg.norm(every, axis=1)
    finite = bool(np.isfinite(every).all())
    unit = finite and bool(np.all(np.abs(norms - 1.0) < 1e-3))
    worst = float(np.max(np.abs(norms - 1.0))) if finite else math.nan
    result.checks.append(
        Check(
            "vectors are finite and of unit length",
            unit,
            f"largest deviation of a norm from 1: {worst:.2e}" if finite else "NaN or infinity",
        )
    )
    return result


# --- info -----------------------------------------------------------------------------------


def model_info(
    model_dir: Path, *, data_dir: Path, device: str = "auto", provider: bool = True
) -> dict[str, Any]:
    """Everything ``lanterna model info`` shows, as JSON-ready data."""
    model = model_folder.load(model_dir)
    files = _files(model)
    try:
        model_folder.verify(model, checksum_cache(data_dir))
        checksum_state = "ok"
    except ModelError as exc:
        checksum_state = exc.one_line()
    manifest = read_manifest(model_dir)
    info: dict[str, Any] = {
        "model_dir": str(model_dir),
        "id": model.id,
        "revision": model.revision,
        "variant": manifest.get("variant"),
        "licence": model.licence,
        "dim": model.dim,
        "matryoshka_dims": list(model.matryoshka_dims),
        "stored_dims": model_folder.STORED_DIMS,
        "image_size": model.vision.image_size,
        "max_tokens": model.text.max_tokens,
        "files": [f.as_json() for f in files],
        "total_bytes": sum(f.bytes or 0 for f in files),
        "checksums": checksum_state,
        "device": device,
        "provider": None,
        "provider_note": None,
    }
    if provider and checksum_state == "ok":
        from engine.embedder import Embedder

        emb = Embedder(model, device=device)
        try:
            info["provider"] = emb.provider
            info["provider_note"] = emb.provider_note
        except ModelError as exc:
            info["provider_note"] = exc.one_line()
        finally:
            emb.close()
    return info
