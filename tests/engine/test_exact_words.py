"""Exact words only: ``--words``, a query of quoted phrases, ``name:`` alone. They are answered
from the keyword index without the model: no tower, no numpy, no Pillow, nothing to load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import ModelError
from engine.library import Library
from engine.search import Query, needs_model
from tests.images import write

HEAVY = ("numpy", "PIL", "onnxruntime", "watchdog", "engine.embedder", "engine.indexer")


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, toy_model: Path) -> Iterator[Path]:
    """A small library (red photos with numbered names, notes), indexed; yields its root."""
    root = tmp_path_factory.mktemp("words")
    photos = root / "photos"
    for i in range(4):
        write(photos / f"IMG_{i:04d}.jpg", "red", seed=i)
    write(photos / "tarpaulin-receipt.jpg", "green", seed=9)
    write(photos / "a-tarpaulin-photo-from-the-old-shed-copy.jpg", "blue", seed=3)
    write(photos / "tarpaulin.jpg", "blue", seed=4)
    notes = root / "notes"
    notes.mkdir()
    (notes / "a-once.txt").write_text("The blue tarpaulin is in the shed.", encoding="utf-8")
    (notes / "b-often.txt").write_text(
        "Tarpaulin, tarpaulin: the tarpaulin covers the tarpaulin pile.", encoding="utf-8"
    )
    (notes / "tomatoes.txt").write_text("The tomatoes are red and ripe.", encoding="utf-8")
    with Library(root / "data", toy_model, device="cpu", quiet=0.3) as lib:
        lib.add_folders([photos, notes])
        lib.index()
    return root


def _names(results: list) -> list[str]:
    return [os.path.basename(r.path) for r in results]


def test_words_need_no_model_even_a_broken_one(indexed: Path, tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ not json", encoding="utf-8")
    with Library(indexed / "data", broken, device="cpu") as lib:
        for query in (
            Query(text="tarpaulin", words_only=True),
            Query(text='"blue tarpaulin"'),
            Query(text="name:tarpaulin"),
        ):
            assert lib.search(query), query
        assert lib._embedder is None  # never loaded
        with pytest.raises(ModelError):  # a search by meaning does need it, and says so
            lib.search(Query(text="tarpaulin"))


def test_quoted_text_gives_only_what_holds_it(indexed: Path, toy_model: Path) -> None:
    with Library(indexed / "data", toy_model, device="cpu") as lib:
        by_meaning = _names(lib.search(Query(text="red")))
        assert {f"IMG_{i:04d}.jpg" for i in range(4)} <= set(by_meaning)  # the red photos
        exact = lib.search(Query(text='"red"'))
        assert _names(exact) == ["tomatoes.txt"]
        assert exact[0].how == "keyword" and "[red]" in (exact[0].snippet or "")
        assert lib._embedder is not None  # the meaning search loaded it; words did not need it


def test_words_rank_by_the_keyword_index(indexed: Path, toy_model: Path) -> None:
    with Library(indexed / "data", toy_model, device="cpu") as lib:
        results = lib.search(Query(text="tarpaulin", words_only=True))
        assert set(_names(results)) == {
            "b-often.txt",
            "a-once.txt",
            "tarpaulin-receipt.jpg",
            "tarpaulin.jpg",
            "a-tarpaulin-photo-from-the-old-shed-copy.jpg",
        }
        text_hits = [n for n in _names(results) if n.endswith(".txt")]
        assert text_hits == ["b-often.txt", "a-once.txt"]  # bm25: four times before once
        name_hits = [n for n in _names(results) if n.endswith(".jpg")]
        assert name_hits == [  # bm25 too: the shorter the name, the more it is about the word
            "tarpaulin.jpg",
            "tarpaulin-receipt.jpg",
            "a-tarpaulin-photo-from-the-old-shed-copy.jpg",
        ]
        assert {r.how for r in results if r.path.endswith(".jpg")} == {"name"}
        assert all(not r.weak and r.match >= 0.5 for r in results)
        assert [r.path for r in lib.search(Query(text="tarpaulin", words_only=True, k=1))] == [
            results[0].path
        ]
        # words to leave out, by -word and by a "not" text: no result holds them
        left = _names(lib.search(Query(text="tarpaulin -shed", words_only=True)))
        assert "a-once.txt" not in left and "b-often.txt" in left
        left = _names(lib.search(Query(text="tarpaulin", words_only=True, not_texts=("pile",))))
        assert "b-often.txt" not in left and "a-once.txt" in left


def test_not_text_words_leave_files_out_by_meaning_too(indexed: Path, toy_model: Path) -> None:
    with Library(indexed / "data", toy_model, device="cpu") as lib:
        assert "b-often.txt" in _names(lib.search(Query(text="tarpaulin")))
        assert "b-often.txt" not in _names(lib.search(Query(text="tarpaulin", not_texts=("pile",))))


def test_which_queries_need_the_model() -> None:
    assert not needs_model(Query(text="x", words_only=True))
    assert not needs_model(Query(text='"red car"'))
    assert not needs_model(Query(text='"red car" -"blue"'))
    assert not needs_model(Query(text="name:invoice kind:pdf"))
    assert needs_model(Query(text="red car"))
    assert needs_model(Query(text='"red car" blue'))  # an unquoted word is also meaning
    assert needs_model(Query(text='"red car"', not_texts=("blue",)))  # less of it by meaning
    assert needs_model(Query(text="name:invoice -people"))
    assert needs_model(Query(text='"red"', image=b"png"))  # a picture always needs a tower
    assert needs_model(Query(text="red", meaning_only=True, words_only=True))


def _cli(args: list[str], env: dict[str, str], probe: bool = False) -> subprocess.CompletedProcess:
    code = (
        "import sys\nfrom engine.cli import main\nrc = main(sys.argv[1:])\n"
        f"print('MODULES', [m for m in sys.modules if m.startswith({HEAVY!r})])\n"
        "sys.exit(rc)"
    )
    cmd = [sys.executable, "-c", code] if probe else [sys.executable, "-m", "engine"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_cli_words_load_nothing_heavy(indexed: Path, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(indexed / "data"),
        "LANTERNA_MODEL_DIR": str(tmp_path / "no-model-here"),
    }
    for args in (["search", "--words", "tarpaulin"], ["search", '"blue tarpaulin"', "--json"]):
        proc = _cli(args, env, probe=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert "MODULES []" in proc.stdout, proc.stdout
    hits = json.loads(_cli(["search", '"blue tarpaulin"', "--json"], env).stdout)
    assert [os.path.basename(h["path"]) for h in hits] == ["a-once.txt"]
    # a search by meaning says in one line that it needs the model
    proc = _cli(["search", "tarpaulin"], env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no model folder" in proc.stderr.splitlines()[0]
    assert "--words" in proc.stderr.splitlines()[1]  # and how to find words meanwhile


def test_cli_words_refuse_an_image_and_nothing_to_match(indexed: Path, tmp_path: Path) -> None:
    env = {**os.environ, "LANTERNA_DATA_DIR": str(indexed / "data")}
    picture = write(tmp_path / "q.jpg", "red", seed=1)
    proc = _cli(["search", "--words", "red", "--image", str(picture)], env)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) <= 2
    assert "--words" in proc.stderr and "Traceback" not in proc.stderr
    proc = _cli(["search", "--words", "..."], env)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no words" in proc.stderr


def test_index_without_a_model_leaves_words_to_find(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "plan.txt").write_text("The quokka enclosure opens in May.", encoding="utf-8")
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(tmp_path / "data"),
        "LANTERNA_MODEL_DIR": str(tmp_path / "no-model-here"),
    }
    proc = _cli(["index", str(notes)], env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first, hint = proc.stderr.strip().splitlines()
    assert "no model folder" in first
    assert "searchable already: `lanterna search --words`" in hint
    found = _cli(["search", "--words", "quokka"], env)
    assert found.returncode == 0 and "plan.txt" in found.stdout, found.stderr
