"""A model folder that follows the model contract (format 1): manifest, towers, tokenizer.

The engine knows models only through this: any folder with a valid manifest works, whatever its
name or origin. Listed checksums are verified before first use and again whenever a file's size or
mtime changes (the results are cached beside the index so a 1.7 GB model is not re-hashed at
every start).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelError
from .preprocess import VisionSpec

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
STORED_DIMS = 256


@dataclass(frozen=True)
class TextSpec:
    file: str
    tokenizer: str
    max_tokens: int
    pad_id: int
    query_prefix: str
    output: str


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    id: str
    revision: str
    licence: str
    dim: int
    matryoshka_dims: tuple[int, ...]
    text: TextSpec
    vision: VisionSpec
    vision_file: str
    vision_output: str
    sha256: Mapping[str, str]
    manifest_hash: str

    @property
    def identity(self) -> dict[str, str]:
        """What the index records so that vectors of different models are never mixed."""
        return {
            "model_id": self.id,
            "model_revision": self.revision,
            "model_manifest": self.manifest_hash,
            "dims": str(STORED_DIMS),
        }

    def file(self, name: str) -> Path:
        return self.path / name


def _require(block: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in block:
        raise ModelError(f"manifest.json: {where} has no {key!r}")
    value = block[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ModelError(
            f"manifest.json: {where}.{key} has the wrong type ({type(value).__name__})"
        )
    return value


def load(path: str | os.PathLike[str]) -> ModelFolder:
    """Read and validate a model folder's manifest (checksums are checked by :func:`verify`)."""
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelError(
            f"no model folder at {folder}",
            "download the model with `lanterna model download`, or point --model at a folder",
        )
    try:
        raw = manifest_path.read_bytes()
        data = json.loads(raw)
    except FileNotFoundError as exc:
        raise ModelError(f"{folder} has no {MANIFEST}", "is this a Lanterna model folder?") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {manifest_path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{manifest_path} is not a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise ModelError(
            f"{manifest_path}: unsupported format {fmt!r} (this Lanterna reads {FORMAT})"
        )
    text = _require(data, "text", dict, "manifest")
    vision = _require(data, "vision", dict, "manifest")
    dims = tuple(int(d) for d in _require(data, "matryoshka_dims", list, "manifest"))
    dim = int(_require(data, "dim", int, "manifest"))
    if STORED_DIMS not in dims or dim < STORED_DIMS:
        raise ModelError(
            f"{manifest_path}: the model must offer {STORED_DIMS}-d Matryoshka embeddings "
            f"(matryoshka_dims is {list(dims)})"
        )
    try:
        vision_spec = VisionSpec.from_manifest(vision)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{manifest_path}: vision: {exc}") from exc
    sha = data.get("sha256", {})
    if not isinstance(sha, dict):
        raise ModelError(f"{manifest_path}: sha256 must map file names to digests")
    return ModelFolder(
        path=folder,
        id=str(_require(data, "id", str, "manifest")),
        revision=str(data.get("revision", "")),
        licence=str(data.get("licence", "unknown")),
        dim=dim,
        matryoshka_dims=dims,
        text=TextSpec(
            file=_require(text, "file", str, "text"),
            tokenizer=_require(text, "tokenizer", str, "text"),
            max_tokens=int(_require(text, "max_tokens", int, "text")),
            pad_id=int(_require(text, "pad_id", int, "text")),
            query_prefix=str(text.get("query_prefix", "")),
            output=_require(text, "output", str, "text"),
        ),
        vision=vision_spec,
        vision_file=_require(vision, "file", str, "vision"),
        vision_output=_require(vision, "output", str, "vision"),
        sha256={str(k): str(v).lower() for k, v in sha.items()},
        manifest_hash=hashlib.sha256(raw).hexdigest()[:16],
    )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(model: ModelFolder, cache_file: Path | None = None) -> None:
    """Check that every needed file exists and every listed checksum matches.

    ``cache_file`` remembers (size, mtime, digest) of files already verified, so unchanged files
    are not hashed again.
    """
    needed = {model.text.file, model.text.tokenizer, model.vision_file}
    for name in sorted(needed):
        if not model.file(name).is_file():
            raise ModelError(
                f"the model folder {model.path} lacks {name}", "download or import the model again"
            )
    cache: dict[str, Any] = {}
    if cache_file is not None:
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    changed = False
    for name, expected in sorted(model.sha256.items()):
        target = model.file(name)
        try:
            st = target.stat()
        except OSError as exc:
            raise ModelError(
                f"the model folder {model.path} lacks {name}", "download or import the model again"
            ) from exc
        key = str(target.resolve())
        stamp = [st.st_size, st.st_mtime_ns, expected]
        if cache.get(key) == stamp:
            continue
        actual = sha256_file(target)
        if actual != expected:
            raise ModelError(
                f"{name} in {model.path} does not match its checksum (damaged or altered)",
                "download or import the model again",
            )
        cache[key] = stamp
        changed = True
    if cache_file is not None and changed:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_file)
        except OSError as exc:
            log.warning("could not save the model checksum cache: %s", exc)
