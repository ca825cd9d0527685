"""Export the two towers from jina-clip-v2's PyTorch weights with optimum (the ``export`` extra).

Most users never need this: ``lanterna model download`` fetches the official ONNX release and
splits it. This path is for those who start from the PyTorch weights (a fine-tuned copy, a newer
revision, a machine where the ONNX release is not allowed). It needs ``pip install -e
'.[export]'`` (optimum with its ONNX exporter, transformers, torch) in an environment of its own:
torch and its NVIDIA wheels stay out of the app's runtime install.

How: the model is loaded with ``trust_remote_code`` (jina-clip-v2 ships its modelling code), each
tower is wrapped in a small ``torch.nn.Module`` whose outputs are named as in the official graph,
and optimum exports the two as separate submodels with a custom ``OnnxConfig`` each (the
architecture is not one optimum knows), validating ONNX Runtime's outputs against PyTorch's. The
files are then renamed to the contract's layout (``text.onnx``, ``vision.onnx``, external data
when a tower exceeds 2 GB), the tokenizer is saved as ``tokenizer.json``, and a manifest with
checksums is written. Install the result with ``lanterna model import OUT``::

    pip install -e '.[export]'
    python -m onnx_models.export ~/jina-export --revision COMMIT
    lanterna model import ~/jina-export

This module has not been run where it was written (no torch, no weights, no network); the graph
split of the official release is what the tests cover. The export assumes the remote code's
``get_text_features(input_ids)`` and ``get_image_features(pixel_values)`` return the projected,
unnormalised embeddings.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.errors import ModelError

from . import release
from .manifest import jina_clip_v2_manifest, write_manifest
from .split import EXTERNAL_DATA_THRESHOLD, repack

OPSET = 17
EXPORT_HINT = "install the export tools in an environment of their own: pip install -e '.[export]'"


def _require() -> tuple[Any, Any, Any, Any]:
    """torch, transformers, optimum's exporter and its dummy-input helpers, or a clear error."""
    try:
        import torch
        import transformers
        from optimum import utils as optimum_utils
        from optimum.exporters import onnx as optimum_onnx
    except ImportError as exc:
        raise ModelError(
            f"exporting from the PyTorch weights needs optimum, transformers and torch ({exc.name} "
            "is missing)",
            EXPORT_HINT,
        ) from exc
    return torch, transformers, optimum_onnx, optimum_utils


def _configs(
    transformers: Any, optimum_onnx: Any, optimum_utils: Any, vocab_size: int, image_size: int
) -> dict[str, Any]:
    """One custom OnnxConfig per tower: its input, its two outputs, dynamic batch (and length)."""

    class TextTowerConfig(optimum_onnx.OnnxConfig):  # type: ignore[misc]
        NORMALIZED_CONFIG_CLASS = optimum_utils.NormalizedTextConfig
        DUMMY_INPUT_GENERATOR_CLASSES = (optimum_utils.DummyTextInputGenerator,)
        DEFAULT_ONNX_OPSET = OPSET

        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            return {"input_ids": {0: "batch", 1: "sequence"}}

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {"text_embeddings": {0: "batch"}, "l2norm_text_embeddings": {0: "batch"}}

    class VisionTowerConfig(optimum_onnx.OnnxConfig):  # type: ignore[misc]
        NORMALIZED_CONFIG_CLASS = optimum_utils.NormalizedVisionConfig
        DUMMY_INPUT_GENERATOR_CLASSES = (optimum_utils.DummyVisionInputGenerator,)
        DEFAULT_ONNX_OPSET = OPSET

        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            return {"pixel_values": {0: "batch"}}

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {"image_embeddings": {0: "batch"}, "l2norm_image_embeddings": {0: "batch"}}

    text_config = transformers.PretrainedConfig(vocab_size=vocab_size)
    vision_config = transformers.PretrainedConfig(image_size=image_size, num_channels=3)
    return {
        "text_model": TextTowerConfig(text_config, task="feature-extraction"),
        "vision_model": VisionTowerConfig(vision_config, task="feature-extraction"),
    }


def _towers(torch: Any, clip: Any) -> dict[str, Any]:
    """The two towers as modules whose forward takes the contract's input names."""
    functional = torch.nn.functional

    class TextTower(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, input_ids: Any) -> dict[str, Any]:
            features = self.clip.get_text_features(input_ids=input_ids)
            return {
                "text_embeddings": features,
                "l2norm_text_embeddings": functional.normalize(features, p=2, dim=-1),
            }

    class VisionTower(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, pixel_values: Any) -> dict[str, Any]:
            features = self.clip.get_image_features(pixel_values=pixel_values)
            return {
                "image_embeddings": features,
                "l2norm_image_embeddings": functional.normalize(features, p=2, dim=-1),
            }

    return {"text_model": TextTower().eval(), "vision_model": VisionTower().eval()}


def export_towers(
    out_dir: Path,
    *,
    source: str = release.REPO_ID,
    revision: str | None = None,
    device: str = "cpu",
    threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Path:
    """Export ``source`` (a Hub id or a local folder of PyTorch weights) to a model folder."""
    torch, transformers, optimum_onnx, optimum_utils = _require()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ModelError(f"{out_dir} is not empty", "choose a new folder for the export")
    clip = transformers.AutoModel.from_pretrained(source, trust_remote_code=True, revision=revision)
    clip.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        source, trust_remote_code=True, revision=revision
    )
    image_size = int(getattr(clip.config.vision_config, "image_size", 512))
    configs = _configs(transformers, optimum_onnx, optimum_utils, len(tokenizer), image_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent) as work_dir:
        work = Path(work_dir)
        with torch.no_grad():
            optimum_onnx.onnx_export_from_model(
                clip,
                output=work,
                opset=OPSET,
                task="feature-extraction",
                custom_onnx_configs=configs,
                fn_get_submodels=lambda model: _towers(torch, model),
                device=device,
                do_validation=True,
            )
        repack(work / "text_model.onnx", out_dir / "text.onnx", threshold=threshold)
        repack(work / "vision_model.onnx", out_dir / "vision.onnx", threshold=threshold)
    tokenizer.backend_tokenizer.save(str(out_dir / release.TOKENIZER_FILE))
    label = revision or getattr(clip.config, "_commit_hash", None) or "local-export"
    write_manifest(out_dir, jina_clip_v2_manifest(revision=str(label), variant="fp32-export"))
    return out_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m onnx_models.export",
        description=(
            "Export jina-clip-v2's text and vision towers from its PyTorch weights to a model "
            "folder (needs the 'export' extra), then install it with `lanterna model import`."
        ),
    )
    parser.add_argument("out_dir", type=Path, help="new folder for the model")
    parser.add_argument("--source", default=release.REPO_ID, help="Hub id or local folder")
    parser.add_argument("--revision", help="commit of the weights to export")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    try:
        folder = export_towers(
            args.out_dir, source=args.source, revision=args.revision, device=args.device
        )
    except ModelError as exc:
        print(f"export: {exc.one_line()}", file=sys.stderr)
        return 1
    print(f"exported to {folder}; install it with: lanterna model import {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
