"""The run's surroundings: the project folder, the model folder (given or toy), the embedder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from ..embedder import Embedder


def _project_root() -> Path:
    return Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _model_folder(model_dir: Path | None, work: Path) -> Iterator[tuple[Path, bool]]:
    if model_dir is not None:
        yield Path(model_dir), False
        return
    from onnx_models.toy import build_toy_model

    yield build_toy_model(work / "toy-model"), True


def _embedder(model_dir: Path, device: str) -> Embedder:
    from ..model import load

    return Embedder(load(model_dir), device=device)
