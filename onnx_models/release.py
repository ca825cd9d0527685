"""Facts about the official jina-clip-v2 release, in one place.

Everything that names a file, a revision or a licence of the upstream release lives here, so a new
upstream layout means editing this module and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REPO_ID = "jinaai/jina-clip-v2"

TESTED_REVISION: str | None = None
RELEASE_BRANCH = "main"  # used, resolved to its current commit, while no tested one is named
"""The commit of ``jinaai/jina-clip-v2`` that Lanterna was tested with (40 hex digits).

A download is pinned to a commit, never to a branch: a branch can move, and the checksums the Hub
reports are only as trustworthy as the revision they describe. This must be filled in (on a
machine with network access, from the repository's commit history) with the commit whose ONNX
files passed ``lanterna model verify`` and the real-model tests. Until then ``lanterna model
download`` asks for ``--revision COMMIT``.
"""

LICENCE = "CC-BY-NC-4.0"
LICENCE_URL = "https://creativecommons.org/licenses/by-nc/4.0/"
LICENCE_SUMMARY = (
    "free for personal and other non-commercial use, with attribution to Jina AI; "
    "commercial use needs a licence from Jina AI"
)

TOKENIZER_FILE = "tokenizer.json"

COMBINED_INPUTS = ("input_ids", "pixel_values")
COMBINED_OUTPUTS = (
    "text_embeddings",
    "image_embeddings",
    "l2norm_text_embeddings",
    "l2norm_image_embeddings",
)

COMMIT_RE = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Variant:
    """One published precision of the combined graph."""

    name: str
    graph: str
    """Path of the combined graph in the repository."""
    external_data: tuple[str, ...]
    """Paths of its external-data files (fetched when the repository has them)."""
    note: str


VARIANTS: dict[str, Variant] = {
    "fp32": Variant(
        "fp32",
        "onnx/model.onnx",
        ("onnx/model.onnx_data",),
        "full precision, about 3.5 GB; the reference for parity checks",
    ),
    "fp16": Variant(
        "fp16",
        "onnx/model_fp16.onnx",
        ("onnx/model_fp16.onnx_data",),
        "half precision, about 1.7 GB; for NVIDIA GPUs",
    ),
    "int8": Variant(
        "int8",
        "onnx/model_int8.onnx",
        ("onnx/model_int8.onnx_data",),
        "8-bit weights, about 0.9 GB; for the CPU",
    ),
}

DEFAULT_GPU_VARIANT = "fp16"
DEFAULT_CPU_VARIANT = "int8"


def variant_for_file(name: str) -> Variant | None:
    """The variant whose combined graph has this file name (``model_fp16.onnx`` → fp16)."""
    for variant in VARIANTS.values():
        if variant.graph.rsplit("/", 1)[-1] == name:
            return variant
    return None


def is_commit(revision: str) -> bool:
    return COMMIT_RE.fullmatch(revision) is not None


def human_bytes(n: float) -> str:
    """Sizes as the command line and the app print them (decimal units)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
