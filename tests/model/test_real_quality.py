"""Quality smoke test of the real model: real photos, queries in five languages, recall@1/@5.

The photos are the public-domain samples that scikit-image ships (a cat, a cup of coffee, an
astronaut, a rocket launch, a horse, a man with a camera, a deep-sky field). Needs
``LANTERNA_REAL_MODEL`` pointing at an installed model folder and scikit-image; skips, saying
why, otherwise. Run it where the real model is, e.g.::

    LANTERNA_REAL_MODEL=~/.local/share/Lanterna/model pytest tests/model/test_real_quality.py -s
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from engine import model as model_folder
from engine.errors import ModelError
from engine.library import Library
from engine.search import Query

pytestmark = pytest.mark.real_model

QUERIES = {
    "chelsea": ["a cat", "un chat", "eine Katze", "猫", "кошка"],
    "coffee": [
        "a cup of coffee",
        "une tasse de café",
        "eine Tasse Kaffee",
        "コーヒー",
        "чашка кофе",
    ],
    "astronaut": ["an astronaut", "une astronaute", "eine Astronautin", "宇宙飛行士", "космонавт"],
    "rocket": [
        "a rocket launch",
        "le lancement d'une fusée",
        "ein Raketenstart",
        "ロケット",
        "запуск ракеты",
    ],
    "horse": ["a horse", "un cheval", "ein Pferd", "馬", "лошадь"],
    "camera": [
        "a man with a camera",
        "un homme avec un appareil photo",
        "ein Mann mit einer Kamera",
        "カメラを持つ男性",
        "мужчина с фотоаппаратом",
    ],
    "hubble_deep_field": [
        "galaxies in deep space",
        "des galaxies",
        "Galaxien im All",
        "銀河",
        "галактики",
    ],
}


@pytest.fixture(scope="module")
def real_folder() -> Path:
    value = os.environ.get("LANTERNA_REAL_MODEL")
    if not value:
        pytest.skip(
            "LANTERNA_REAL_MODEL is not set: point it at an installed jina-clip-v2 "
            "model folder to measure retrieval quality"
        )
    try:
        model_folder.load(Path(value).expanduser())
    except ModelError as exc:
        pytest.skip(f"LANTERNA_REAL_MODEL is not an installed model folder ({exc})")
    return Path(value).expanduser()


def test_multilingual_recall_on_real_photos(real_folder: Path, tmp_path: Path) -> None:
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the sample photos")
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in QUERIES:
        Image.fromarray(getattr(data, name)()).convert("RGB").save(photos / f"{name}.png")
    with Library(
        tmp_path / "data", real_folder, device=os.environ.get("LANTERNA_DEVICE", "auto")
    ) as lib:
        lib.add_folders([photos])
        assert lib.index().run.errors == 0
        hits1 = hits5 = total = 0
        misses = []
        for name, queries in QUERIES.items():
            for text in queries:
                ranked = [Path(r.path).stem for r in lib.search(Query(text=text, k=5))]
                total += 1
                hits1 += ranked[:1] == [name]
                hits5 += name in ranked
                if ranked[:1] != [name]:
                    misses.append(f"{text!r} → {ranked[:1]}")
        print(
            f"\nreal-model quality on {len(QUERIES)} photos, {total} queries in 5 languages "
            f"({lib.embedder.provider}): recall@1 {hits1 / total:.2f}, recall@5 "
            f"{hits5 / total:.2f}; misses: {misses}"
        )
    assert hits1 / total >= 0.8
