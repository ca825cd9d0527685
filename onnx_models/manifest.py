"""Write a model folder's ``manifest.json`` (MODEL_CONTRACT.md, format 1) with its checksums."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.errors import ModelError
from engine.model import FORMAT, MANIFEST, sha256_file

from . import release
from .split import graph_files

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
QUERY_PREFIX = "Represent the query for retrieving evidence documents: "


def jina_clip_v2_manifest(
    *,
    revision: str,
    variant: str | None = None,
    text_file: str = "text.onnx",
    vision_file: str = "vision.onnx",
    tokenizer: str = release.TOKENIZER_FILE,
) -> dict[str, Any]:
    """The manifest of the real model (without checksums: :func:`write_manifest` adds them)."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "id": release.REPO_ID,
        "revision": revision,
        "licence": release.LICENCE,
        "dim": 1024,
        "matryoshka_dims": [32, 64, 128, 256, 512, 768, 1024],
        "text": {
            "file": text_file,
            "tokenizer": tokenizer,
            "max_tokens": 512,
            "pad_id": 1,
            "query_prefix": QUERY_PREFIX,
            "output": "l2norm_text_embeddings",
        },
        "vision": {
            "file": vision_file,
            "image_size": 512,
            "resize": "shortest_edge_then_center_crop",
            "resample": "bicubic",
            "mean": CLIP_MEAN,
            "std": CLIP_STD,
            "output": "l2norm_image_embeddings",
        },
    }
    if variant is not None:
        manifest["variant"] = variant
    return manifest


def _block(manifest: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    block = manifest.get(key)
    if not isinstance(block, Mapping):
        raise ModelError(f"manifest.json has no {key!r} block")
    return block


def needed_files(folder: Path, manifest: Mapping[str, Any]) -> list[str]:
    """Every file the model needs: both towers, their external data, and the tokenizer."""
    text, vision = _block(manifest, "text"), _block(manifest, "vision")
    names: list[str] = []
    for graph in (str(text["file"]), str(vision["file"])):
        path = folder / graph
        if not path.is_file():
            raise ModelError(f"the model folder {folder} lacks {graph}")
        folder_of_graph = Path(graph).parent
        names += [(folder_of_graph / name).as_posix() for name in graph_files(path)]
    names.append(str(text["tokenizer"]))
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(Path(name).as_posix(), None)
    return list(seen)


def checksums(folder: Path, names: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        path = folder / name
        if not path.is_file():
            raise ModelError(f"the model folder {folder} lacks {name}")
        out[name] = sha256_file(path)
    return out


def write_manifest(
    folder: Path,
    manifest: Mapping[str, Any],
    *,
    known: Mapping[str, str] | None = None,
) -> Path:
    """Write ``folder/manifest.json`` with a checksum for every file the model needs.

    ``known`` holds digests already computed (for instance while copying), which are trusted and
    not computed again.
    """
    data = dict(manifest)
    names = needed_files(folder, data)
    known = dict(known or {})
    digests = {n: known[n] for n in names if n in known}
    digests.update(checksums(folder, [n for n in names if n not in digests]))
    data["sha256"] = {n: digests[n] for n in names}
    target = folder / MANIFEST
    tmp = target.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    """The raw manifest (use :func:`engine.model.load` to validate it)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {folder / MANIFEST}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{folder / MANIFEST} is not a JSON object")
    return data
