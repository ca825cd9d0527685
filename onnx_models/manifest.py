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


PREPROCESSOR_CONFIG = "preprocessor_config.json"
DEFAULT_VISION: dict[str, Any] = {
    "image_size": 512,
    "resize": "shortest_edge_then_center_crop",
    "resample": "bicubic",
    "mean": CLIP_MEAN,
    "std": CLIP_STD,
}
# PIL's resampling codes, as Hugging Face image processors record them.
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}


def _side(value: object) -> int | None:
    """A size as image processors write it: 224, {"shortest_edge": 224}, {"height": 224, …}."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        for key in ("shortest_edge", "height", "width"):
            side = value.get(key)
            if isinstance(side, int) and not isinstance(side, bool):
                return side
    return None


def preprocessor_vision(config: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's vision values that a Hugging Face ``preprocessor_config.json`` gives (the
    CLIP image processor's keys, and jina-clip's own: ``mean``, ``std``, ``interpolation``)."""
    out: dict[str, Any] = {}
    crop = _side(config.get("crop_size")) if config.get("do_center_crop", True) else None
    size = crop or _side(config.get("size"))
    if size is not None:
        out["image_size"] = size
    mean = config.get("image_mean", config.get("mean"))
    std = config.get("image_std", config.get("std"))
    if mean is not None:
        out["mean"] = mean
    if std is not None:
        out["std"] = std
    resample = config.get("resample", config.get("interpolation"))
    if isinstance(resample, int) and resample in _PIL_RESAMPLE:
        out["resample"] = _PIL_RESAMPLE[resample]
    elif isinstance(resample, str):
        out["resample"] = resample.lower()
    fixed = isinstance(config.get("size"), Mapping) and "height" in config["size"]
    squash = config.get("resize_mode") == "squash" or (fixed and crop is None)
    out["resize"] = "squash" if squash else "shortest_edge_then_center_crop"
    return out


def vision_preprocessing(
    configs: Iterable[Path], fixed_size: int | None, report: Any = None
) -> dict[str, Any]:
    """The vision block's preprocessing for an imported graph: the first of ``configs``
    (``preprocessor_config.json`` files) that exists, and the graph's own fixed input size,
    which wins (a fixed-size graph must be fed exactly that size); the official release's
    values fill in what neither says."""
    vision = dict(DEFAULT_VISION)
    said: int | None = None
    for path in configs:
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {path}: {exc}") from exc
        if not isinstance(config, Mapping):
            raise ModelError(f"{path} is not a JSON object")
        given = preprocessor_vision(config)
        said = given.get("image_size")
        vision.update(given)
        break
    if fixed_size is not None and vision["image_size"] != fixed_size:
        if report is not None and said is not None:
            report(
                f"the graph takes {fixed_size} px images, not the {said} px its "
                f"{PREPROCESSOR_CONFIG} says: using {fixed_size}"
            )
        vision["image_size"] = fixed_size
    return vision


def jina_clip_v2_manifest(
    *,
    revision: str,
    variant: str | None = None,
    text_file: str = "text.onnx",
    vision_file: str = "vision.onnx",
    tokenizer: str = release.TOKENIZER_FILE,
    vision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of the real model (without checksums: :func:`write_manifest` adds them);
    ``vision`` overrides the preprocessing (:func:`vision_preprocessing`)."""
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
            **{**DEFAULT_VISION, **(vision or {})},
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
