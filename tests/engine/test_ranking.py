"""One ranking across photos, pages and notes, on the toy with a real CLIP model's geometry.

Photos are named by number so that file names never hold the colour words; notes hold no
colour word unless a test says so. Everything runs through the real pipeline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.library import Library
from engine.search import Query
from onnx_models.toy import COLOURS
from tests.images import write

NOTES = [
    "Call the plumber about the kitchen sink on Tuesday.",
    "Zanzibar trip: book the ferry and the hotel.",
    "Meeting notes: budget approved, next review in March.",
    "Recipe: flour, eggs, milk, a pinch of salt.",
    "Remember to renew the passport before the summer.",
    "The train leaves at 8:15 from platform four.",
    "Buy batteries, light bulbs and a new kettle.",
    "Dentist appointment moved to Friday afternoon.",
    "La réunion est reportée à jeudi prochain.",
    "Bitte die Rechnung bis Ende des Monats bezahlen.",
    "El informe trimestral está casi terminado.",
    "Il treno per Milano parte alle nove.",
    "Не забудь купить хлеб и молоко.",
    "来週の会議の資料を準備してください。",
    "明天下午三点开会。",
    "The wifi password changed again this morning.",
    "Pick up the parcel from the post office.",
    "Quarterly figures are due next week.",
    "Grandma's birthday party is on Sunday.",
    "Water the plants while we are away.",
]

QUERIES = [  # colour, query, language
    ("red", "rouge", "fr"),
    ("green", "grün", "de"),
    ("blue", "azul", "es"),
    ("yellow", "giallo", "it"),
    ("black", "чёрный", "ru"),
    ("white", "白", "ja"),
    ("orange", "橙色", "zh"),
    ("purple", "보라색", "ko"),
    ("red", "a red photo", "en"),
    ("blue", "μπλε", "el"),
]


def _photos(folder: Path, per_colour: int = 2) -> dict[str, list[str]]:
    by_colour: dict[str, list[str]] = {}
    n = 0
    for colour in COLOURS:
        for seed in range(per_colour):
            path = write(folder / f"IMG_{n:04d}.jpg", colour, seed=seed)
            by_colour.setdefault(colour, []).append(str(path))
            n += 1
    return by_colour


def _notes(folder: Path, texts: list[str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, text in enumerate(texts):
        path = folder / f"note-{i:02d}.txt"
        path.write_text(text, encoding="utf-8")
        out.append(str(path))
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, toy_model: Path) -> Iterator[tuple]:
    root = tmp_path_factory.mktemp("mixed")
    photos = _photos(root / "photos")
    notes = _notes(root / "notes", NOTES)
    about_red = root / "notes" / "tomatoes.txt"
    about_red.write_text("Les tomates du jardin sont enfin rouges et mûres.", encoding="utf-8")
    lib = Library(root / "data", toy_model, device="cpu", quiet=0.3)
    lib.add_folders([root / "photos", root / "notes"])
    lib.index()
    yield lib, photos, notes, str(about_red), root
    lib.close()


@pytest.mark.parametrize(("colour", "text", "language"), QUERIES)
def test_colour_queries_find_the_photos_not_the_notes(
    mixed: tuple, colour: str, text: str, language: str
) -> None:
    lib, photos, notes, about_red, _ = mixed
    results = lib.search(Query(text=text, k=20))
    paths = [r.path for r in results]
    assert set(photos[colour]) <= set(paths), (language, paths)
    assert not set(notes) & set(paths), language  # unrelated notes are below the cut-off
    photo_ranks = [paths.index(p) for p in photos[colour]]
    assert max(photo_ranks) < len(photos[colour]) + (1 if about_red in paths else 0)
    assert all(0.5 <= r.match <= 1 for r in results)
    # the raw cosine of a matching photo sits where a real CLIP model's does (~0.3): the query
    # went through the tower with its prefix (without it the toy's bridge stays shut: ~0.15)
    assert all(0.2 < r.score < 0.4 for r in results if r.path in photos[colour])
    assert all(r.how == "image" for r in results if r.path != about_red)


def test_a_note_that_talks_about_the_colour_is_found_too(mixed: tuple) -> None:
    lib, photos, _, about_red, _ = mixed
    paths = [r.path for r in lib.search(Query(text="rouge", k=20))]
    assert about_red in paths  # by the exact word, first
    meaning = [r.path for r in lib.search(Query(text="red", k=20, meaning_only=True))]
    assert about_red in meaning and set(photos["red"]) <= set(meaning)  # and by meaning


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 20, 50, 100])
def test_an_exact_word_is_first_for_every_k(mixed: tuple, k: int) -> None:
    lib, _, notes, _, _ = mixed
    results = lib.search(Query(text="Zanzibar", k=k))
    assert results[0].path == notes[1] and results[0].how == "keyword"
    assert len(results) == 1  # nothing else holds the word or means it


def test_order_does_not_depend_on_k(mixed: tuple) -> None:
    lib = mixed[0]
    for text in ("bleu", "plumber", "a photo"):
        full = [r.path for r in lib.search(Query(text=text, k=100, show_all=True))]
        for k in (1, 3, 7, 20):
            assert [r.path for r in lib.search(Query(text=text, k=k, show_all=True))] == full[:k]


def test_a_query_that_matches_nothing_gives_nothing_unless_asked(mixed: tuple) -> None:
    lib = mixed[0]
    for text in ("coffee", "Sonnenuntergang am Strand", "a photo of a dog"):
        assert lib.search(Query(text=text)) == [], text
        nearest = lib.search(Query(text=text, show_all=True, k=5))
        assert len(nearest) == 5 and all(r.weak and r.match < 0.5 for r in nearest)


def test_weights_and_negatives_on_the_calibrated_scale(mixed: tuple) -> None:
    lib, photos, _, _, _ = mixed
    red, blue = photos["red"], photos["blue"]
    # an image part does not drown a text part: "blue" with a red photo finds both colours
    pictures = {p for paths in photos.values() for p in paths}
    both = [
        r.path
        for r in lib.search(Query(text="blue", image=red[0], k=10, show_all=True))
        if r.path in pictures
    ]
    assert set(both[:4]) == set(red + blue)
    # weights tip the balance
    weighted = Query(text="3:blue", image=red[0], k=10, show_all=True)
    tipped = [r.path for r in lib.search(weighted) if r.path in pictures]
    assert set(tipped[:2]) == set(blue)
    # a negative part pushes a colour out; "-word" also drops files holding the word
    assert not set(red) & {r.path for r in lib.search(Query(text="rouge - red", k=10))}
    assert not set(red) & {r.path for r in lib.search(Query(text="rouge", not_texts=("red",)))}
    kept = [r.path for r in lib.search(Query(text="Zanzibar OR plumber -ferry", k=10))]
    assert kept == [mixed[2][0]]


def test_cli_search_all_json_and_divider(mixed: tuple, toy_model: Path) -> None:
    lib, photos, _, _, root = mixed
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(root / "data"),
        "LANTERNA_MODEL_DIR": str(toy_model),
    }
    lib.close()  # let the CLI be the only process on the index

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "engine", "--device", "cpu", "search", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    strict = json.loads(cli("giallo", "--json").stdout)
    assert {h["path"] for h in strict} == set(photos["yellow"])
    assert all(h["how"] == "image" and h["match"] >= 0.5 for h in strict)
    everything = cli("giallo", "--all", "-k", "6")
    assert "-- weaker matches --" in everything.stdout
    none = cli("coffee")
    assert none.returncode == 0 and none.stdout == "" and "no good matches" in none.stderr


def test_photo_only_and_notes_only_libraries_answer(tmp_path: Path, toy_model: Path) -> None:
    photo_lib = Library(tmp_path / "p", toy_model, device="cpu")
    photos = _photos(tmp_path / "photos", per_colour=1)
    photo_lib.add_folders([tmp_path / "photos"])
    photo_lib.index()
    assert [r.path for r in photo_lib.search(Query(text="vert"))] == photos["green"]
    assert photo_lib.search(Query(text="Zanzibar")) == []
    photo_lib.close()

    notes_lib = Library(tmp_path / "n", toy_model, device="cpu")
    notes = _notes(tmp_path / "notes", [*NOTES[:9], "Die Tür ist grün gestrichen."])
    notes_lib.add_folders([tmp_path / "notes"])
    notes_lib.index()
    assert [r.path for r in notes_lib.search(Query(text="vert", meaning_only=True))] == [notes[-1]]
    assert notes_lib.search(Query(text="coffee")) == []
    notes_lib.close()


def test_queries_carry_the_prefix_and_passages_do_not(library: Library) -> None:
    """The towers see exactly what the contract says: the instruction before user queries only."""
    import numpy as np

    emb = library.embedder
    prefix = emb.model.text.query_prefix
    assert prefix
    query = emb.embed_query("rouge")
    assert np.allclose(query, emb.embed_texts([prefix + "rouge"])[0], atol=1e-6)
    assert not np.allclose(query, emb.embed_texts(["rouge"])[0], atol=1e-3)


def test_a_file_named_by_the_word_beats_a_stronger_meaning_match(
    tmp_path: Path, toy_model: Path
) -> None:
    lib = Library(tmp_path / "d", toy_model, device="cpu")
    photos = _photos(tmp_path / "photos", per_colour=1)
    named = tmp_path / "notes" / "rouge-plumber.txt"
    named.parent.mkdir()
    named.write_text(NOTES[0], encoding="utf-8")  # about nothing red
    lib.add_folders([tmp_path / "photos", tmp_path / "notes"])
    lib.index()
    results = lib.search(Query(text="rouge"))
    assert [r.path for r in results[:2]] == [str(named), *photos["red"]]
    assert results[0].how == "name" and results[1].match > results[0].match  # yet first
    meaning = lib.search(Query(text="rouge", meaning_only=True))
    assert [r.path for r in meaning] == photos["red"]
    lib.close()


def test_the_form_as_typed_comes_before_other_forms(tmp_path: Path, toy_model: Path) -> None:
    lib = Library(tmp_path / "d", toy_model, device="cpu")
    folder = tmp_path / "notes"
    folder.mkdir()
    stem_only = folder / "a-rouge.txt"  # means red more, but holds another form of the word
    stem_only.write_text("Rouge, rouge, rouge : la couleur de la saison.", encoding="utf-8")
    exact = folder / "b-volets.txt"
    exact.write_text("Nous avons repeint les volets rouges de la maison en juin.", encoding="utf-8")
    lib.add_folders([folder])
    lib.index()
    results = lib.search(Query(text="rouges"))
    assert [(r.path, r.how) for r in results] == [(str(exact), "keyword"), (str(stem_only), "stem")]
    assert results[1].spreads > results[0].spreads  # first although it stands out less
    lib.close()
