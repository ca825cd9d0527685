"""A model folder that follows the model contract (format 1): manifest, towers, tokenizer.

The engine knows models only through this: any folder with a valid manifest works, whatever its
name or origin. Every manifest value is checked (:mod:`engine.validate`), and both towers' headers
against the manifest and the installed onnxruntime (:mod:`engine.graph`). Listed checksums are
verified before first use and again whenever a file may have changed (the results are cached
beside the index so a 1.7 GB model is not re-hashed at every start).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import graph, validate
from .errors import ModelError
from .paths import display
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


def load(path: str | os.PathLike[str]) -> ModelFolder:
    """Read and validate a model folder's manifest (files and checksums: :func:`verify`).

    Every value is checked for its type and range here, so that a malformed or hostile manifest
    is one clear line, never a traceback or an 18 GB tensor later on.
    """
    folder = Path(path)
    manifest_path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelError(
            f"no model folder at {display(folder)}",
            "download the model with `lanterna model download`, or point --model at a folder",
        )
    try:
        raw = manifest_path.read_bytes()
        data = json.loads(raw)
    except FileNotFoundError as exc:
        raise ModelError(
            f"{display(folder)} has no {MANIFEST}", "is this a Lanterna model folder?"
        ) from exc
    except RecursionError as exc:
        raise ModelError(f"{display(manifest_path)} is nested too deeply to read") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {display(manifest_path)}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{display(manifest_path)} is not a JSON object")
    source = display(manifest_path)
    top = validate.Manifest(data, "", source)
    fmt = data.get("format")
    if fmt != FORMAT or isinstance(fmt, bool):
        raise ModelError(
            f"{source}: unsupported format {fmt!r} (this Lanterna reads format {FORMAT})",
            "a newer Lanterna may read it" if isinstance(fmt, int) and fmt > FORMAT else "",
        )
    dim = top.integer("dim", STORED_DIMS, validate.MAX_DIM)
    dims = top.dims("matryoshka_dims", dim)
    if STORED_DIMS not in dims:
        raise ModelError(
            f"{source}: the model must offer {STORED_DIMS}-d Matryoshka embeddings "
            f"(matryoshka_dims is {list(dims)})"
        )
    text = top.block_of("text")
    vision = top.block_of("vision")
    image_size = vision.integer("image_size", 1, validate.MAX_IMAGE_SIZE)
    try:
        vision_spec = VisionSpec.from_manifest({**vision.block, "image_size": image_size})
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{source}: vision: {exc}") from exc
    sha = data.get("sha256", {})
    if not isinstance(sha, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and _HEX64.fullmatch(v) for k, v in sha.items()
    ):
        raise ModelError(
            f"{source}: sha256 must map file names to 64-digit hexadecimal SHA-256 digests"
        )
    for name in sha:
        validate.check_relative(name, f"{source}: sha256")
    return ModelFolder(
        path=folder,
        id=top.name("id"),
        revision=top.text("revision", "", limit=256, plain=True),
        licence=top.text("licence", "unknown", limit=256, plain=True),
        dim=dim,
        matryoshka_dims=dims,
        text=TextSpec(
            file=text.file("file"),
            tokenizer=text.file("tokenizer"),
            max_tokens=text.integer("max_tokens", 8, validate.MAX_TOKENS),
            pad_id=text.integer("pad_id", 0, validate.MAX_TOKEN_ID),
            query_prefix=text.text("query_prefix", ""),
            output=text.name("output"),
        ),
        vision=vision_spec,
        vision_file=vision.file("file"),
        vision_output=vision.name("output"),
        sha256={k: v.lower() for k, v in sha.items()},
        manifest_hash=hashlib.sha256(raw).hexdigest()[:16],
    )


_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def check_graphs(model: ModelFolder) -> None:
    """Check both towers' files against the manifest and the installed onnxruntime, reading only
    their headers: readable IR version and opsets, the inputs the contract names, the outputs the
    manifest names, and a fixed image size that matches ``image_size``."""
    towers = (
        ("text", model.text.file, "input_ids", model.text.output, "text.output"),
        ("vision", model.vision_file, "pixel_values", model.vision_output, "vision.output"),
    )
    for tower, name, wanted_input, output, key in towers:
        path = model.file(name)
        try:
            info = graph.read(path)
        except OSError as exc:
            raise ModelError(f"cannot read {display(path)}: {validate.os_problem(exc)}") from exc
        except graph.GraphFormatError as exc:
            raise ModelError(
                f"{display(path)} is not a readable ONNX model ({exc})",
                "download or import the model again",
            ) from exc
        refusal = graph.runtime_refusal(info)
        if refusal is not None:
            raise ModelError(
                f"the {tower} tower {name} cannot be run: {refusal}",
                "upgrade onnxruntime, or export the model again for this version",
            )
        if info.input(wanted_input) is None:
            raise ModelError(
                f"the {tower} tower {name} has no input named {wanted_input} "
                f"(it has: {', '.join(p.name for p in info.inputs) or 'none'})",
                "see the model contract (docs/model-contract.md)",
            )
        if output not in info.output_names:
            raise ModelError(
                f"manifest.json: {key} is {output!r}, which is not an output of {name} "
                f"(it has: {', '.join(info.output_names) or 'none'})",
                "fix the manifest's output name, or import the model again",
            )
        if tower == "vision":
            _check_pixel_shape(model, name, info)


def _check_pixel_shape(model: ModelFolder, name: str, info: graph.GraphInfo) -> None:
    port = info.input("pixel_values")
    shape = port.shape if port is not None else None
    if not shape:
        return
    size = model.vision.image_size
    fixed = [d for d in shape[2:] if isinstance(d, int) and d > 0]
    if len(shape) != 4 or (shape[1] not in (3, None) and not isinstance(shape[1], str)):
        raise ModelError(
            f"the vision tower {name} takes pixel_values of shape {list(shape)}, "
            "not [batch, 3, height, width]",
            "see the model contract (docs/model-contract.md)",
        )
    if fixed and any(d != size for d in fixed):
        raise ModelError(
            f"the vision tower {name} takes {'×'.join(map(str, fixed))} px images, but "
            f"manifest.json says image_size {size}",
            "set vision.image_size to the graph's size, or import the model again",
        )


def load_error(path: Path, exc: Exception) -> ModelError:
    """onnxruntime could not load a tower: say why in words where the header tells."""
    try:
        refusal = graph.runtime_refusal(graph.read(path))
    except (OSError, graph.GraphFormatError):
        refusal = None
    if refusal is not None:
        return ModelError(
            f"{display(path.name)} cannot be run: {refusal}",
            "upgrade onnxruntime, or export the model again for this version",
        )
    return ModelError(
        f"cannot load {display(path.name)}: {str(exc).strip()}",
        "the model folder may be damaged: download or import it again",
    )


def check_tokenizer(model: ModelFolder, vocabulary: int) -> None:
    """The padding id must be one of the tokenizer's ids (the tower would read past its table)."""
    if model.text.pad_id >= vocabulary:
        raise ModelError(
            f"manifest.json: text.pad_id is {model.text.pad_id}, but the tokenizer has only "
            f"{vocabulary} ids",
            "fix the manifest's pad_id, or import the model again",
        )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _stamp(st: os.stat_result, expected: str) -> list[object]:
    """What must be unchanged for a file to count as verified without hashing it again.

    Size and mtime alone can be forged (``touch -r`` restores an mtime after an edit); the
    change time (ctime) and the inode cannot be set back by a user, so a same-size edit with its
    mtime restored, or a file swapped for another, is hashed again.
    """
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, expected]


def verify(model: ModelFolder, cache_file: Path | None = None) -> None:
    """Check that every needed file exists, every listed checksum matches, and both towers are
    graphs this onnxruntime can run with the manifest's names and sizes (:func:`check_graphs`).

    ``cache_file`` remembers each verified file's stamp (size, mtime, ctime, inode, digest), so
    unchanged files are not hashed again; a cache that cannot be saved (a read-only data folder)
    only costs the hashing next time.
    """
    needed = {model.text.file, model.text.tokenizer, model.vision_file}
    for name in sorted(needed):
        if not model.file(name).is_file():
            raise ModelError(
                f"the model folder {display(model.path)} lacks {display(name)}",
                "download or import the model again",
            )
    cache: dict[str, Any] = {}
    if cache_file is not None:
        try:
            loaded = json.loads(cache_file.read_text())
            cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}
    changed = False
    for name, expected in sorted(model.sha256.items()):
        target = model.file(name)
        try:
            st = target.stat()
        except OSError as exc:
            raise ModelError(
                f"the model folder {display(model.path)} lacks {display(name)}",
                "download or import the model again",
            ) from exc
        key = str(target.resolve())
        stamp = _stamp(st, expected)
        if cache.get(key) == stamp:
            continue
        actual = sha256_file(target)
        if actual != expected:
            raise ModelError(
                f"{display(name)} in {display(model.path)} does not match its checksum "
                "(damaged or altered)",
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
            log.info("the model checksum cache was not saved: %s", exc)
    check_graphs(model)
