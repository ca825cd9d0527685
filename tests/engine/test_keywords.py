"""Keywords in every script: the index's tokenizer (engine.fts) on a real SQLite index, through
Store.keyword with the MATCH expressions that fts.term and fts.phrase build."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engine import db, fts
from engine.migrations import LATEST, MIGRATIONS
from engine.store import INDEXED, Indexed, ItemVector, KeywordHit, Store

PASSAGES = {
    "tarpaulins.txt": "The tarpaulins were folded and stored in the shed by the farmers.",
    "tarpaulin.txt": "A single tarpaulin covered the woodpile all winter, the neighbours said.",
    "shed.txt": "The farmers stored a shed in the tarpaulins, folded.",
    "manual-ja.txt": "これは端子台の説明書です。電源を入れると自動的にスタートします。",
    "story-ja.txt": "宮沢賢治はイーハトーヴォという理想郷を描いた。",
    "letter-zh.txt": "亲爱的Belding和Kevin，你们好。我们明天在北京见面。",
    "thai.txt": "สวัสดีครับ ภาษาไทยเป็นภาษาที่สวยงามมาก",
    "german.txt": "Die Häuser am Fluss wurden im Sommer renoviert, sagte der Bürgermeister.",
    "ligature.txt": "The ﬁnancial report of the Café Noir, ＦＵＬＬ ＷＩＤＴＨ.",
    "libs.txt": "The lib folder of the system holds the shared code that programs load.",
}


def _vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=256).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    st = Store(tmp_path / "index.db")
    folder = st.add_folder(str(tmp_path))
    st.add_files([(folder, str(tmp_path / n), 1, 1, "document") for n in PASSAGES])
    st.add_files([(folder, str(tmp_path / "holiday_tarpaulin.mkv"), 9, 9, "other")])
    st.add_files([(folder, str(tmp_path / "端子台の図面.dwg"), 9, 9, "other")])
    rows = st.pending(100)
    st.store_indexed(
        [
            Indexed(
                file=r,
                items=[ItemVector(1, "text", _vector(r.id), PASSAGES[Path(r.path).name])],
                digest=str(r.id),
                size=1,
                mtime_ns=1,
            )
            for r in rows
        ]
    )
    yield st
    st.close()


def found(store: Store, match: str | None, *, names: bool = False) -> list[str]:
    assert match is not None
    return [Path(h.path).name for h in store.keyword(match, 10, names=names)]


def hits(store: Store, match: str | None) -> dict[str, KeywordHit]:
    assert match is not None
    return {Path(h.path).name: h for h in store.keyword(match, 10, names=False)}


@pytest.mark.parametrize(
    ("word", "name"),
    [
        ("端子", "manual-ja.txt"),  # a two-character word inside a sentence
        ("自動的にスタート", "manual-ja.txt"),  # kanji, hiragana and katakana in one run
        ("イーハトーヴォ", "story-ja.txt"),
        ("北京", "letter-zh.txt"),
        ("Belding", "letter-zh.txt"),  # Latin words stuck to Chinese
        ("Kevin", "letter-zh.txt"),
        ("Belding和Kevin", "letter-zh.txt"),
        ("ภาษา", "thai.txt"),  # a Thai word in the middle of a run
        ("สวยงาม", "thai.txt"),
        ("hauser", "german.txt"),  # diacritics folded, as before
        ("BÜRGERMEISTER", "german.txt"),
        ("financial", "ligature.txt"),  # the ﬁ ligature of PDFs
        ("cafe", "ligature.txt"),
        ("full", "ligature.txt"),  # full-width letters
    ],
)
def test_words_in_every_script(store: Store, word: str, name: str) -> None:
    assert found(store, fts.term(word)) == [name]


def test_no_match_across_words_of_a_script_without_spaces(store: Store) -> None:
    assert found(store, fts.term("子説")) == []  # 端子台の説明書: these two are not adjacent
    assert found(store, fts.term("タワー")) == []
    assert found(store, fts.term("ภาษาอังกฤษ")) == []


def test_one_character_of_a_cjk_run(store: Store) -> None:
    assert found(store, fts.term("端")) == ["manual-ja.txt"]
    assert found(store, fts.term("见")) == ["letter-zh.txt"]
    assert found(store, fts.term("見")) == []  # the traditional form is another character
    assert found(store, fts.term("面")) == ["letter-zh.txt"]  # the last of its run


def test_plural_found_by_its_singular_and_exact_forms_first(store: Store) -> None:
    singular = hits(store, fts.term("tarpaulin"))
    assert set(singular) == {"tarpaulin.txt", "tarpaulins.txt", "shed.txt"}
    ranked = found(store, fts.term("tarpaulin"))
    assert ranked[0] == "tarpaulin.txt"
    assert singular["tarpaulin.txt"].matched == "exact"
    assert singular["tarpaulins.txt"].matched == "stemmed"
    plural = found(store, fts.term("tarpaulins"))
    assert set(plural) == {"tarpaulin.txt", "tarpaulins.txt", "shed.txt"}
    assert plural[-1] == "tarpaulin.txt"  # only through its stem: after both exact forms
    assert hits(store, fts.term("tarpaulins"))["tarpaulin.txt"].matched == "stemmed"
    # German: the passage's language chose the stemmer
    assert found(store, fts.term("Haus")) == ["german.txt"]
    # a prefix is a prefix of the exact forms, not of stems
    assert set(found(store, fts.term("tarp", prefix=True))) == {
        "tarpaulin.txt",
        "tarpaulins.txt",
        "shed.txt",
    }


def test_an_exact_form_beats_many_stemmed_ones(tmp_path: Path) -> None:
    st = Store(tmp_path / "index.db")
    folder = st.add_folder(str(tmp_path))
    texts = {
        "many.txt": "Tarpaulins, tarpaulins and more tarpaulins were piled in the yard.",
        "one.txt": "In a long letter about the farm, the harvest, the weather, the roads and the "
        "animals, she mentioned the old tarpaulin only once, near the end of the page.",
    }
    st.add_files([(folder, str(tmp_path / n), 1, 1, "document") for n in texts])
    st.store_indexed(
        [
            Indexed(r, [ItemVector(1, "text", _vector(r.id), texts[Path(r.path).name])], "d", 1, 1)
            for r in st.pending(10)
        ]
    )
    ranked = st.keyword(str(fts.term("tarpaulin")), 5, names=False)
    assert [Path(h.path).name for h in ranked] == ["one.txt", "many.txt"]
    assert ranked[0].rank > ranked[1].rank  # bm25 alone would put the stemmed one first
    st.close()


def test_a_stem_meets_passages_of_its_own_language_only(store: Store) -> None:
    assert "~hu~lib" in str(fts.term("libidn"))  # Hungarian cuts "libidn" to "lib"…
    assert found(store, fts.term("libidn")) == []  # …but "lib" here is an English word
    assert found(store, fts.term("lib")) == ["libs.txt"]


def test_short_or_unclear_passages_get_no_stems() -> None:
    assert fts.language("Tarpaulins") is None
    assert fts.language(PASSAGES["tarpaulins.txt"]) == "en"
    assert fts.language(PASSAGES["german.txt"]) == "de"
    assert [t[3] for t in fts.tokens(PASSAGES["german.txt"], stems=True) if len(t) > 3][:2] == [
        "~de~die",
        "~de~haus",
    ]
    assert all(len(t) == 3 for t in fts.tokens("Tarpaulins", stems=True))


def test_phrase_against_the_same_words_apart(store: Store) -> None:
    words = " AND ".join(str(fts.term(w)) for w in ("stored", "shed"))
    assert set(found(store, words)) == {"tarpaulins.txt", "shed.txt"}
    assert found(store, fts.phrase(["stored", "in", "the", "shed"])) == ["tarpaulins.txt"]
    assert found(store, fts.phrase(["stored in the shed"])) == ["tarpaulins.txt"]
    assert found(store, fts.phrase(["in", "the", "stored"])) == []


def test_snippets_highlight_what_matched(store: Store) -> None:
    hit = hits(store, fts.term("端子"))["manual-ja.txt"]
    assert hit.snippet is not None and "[端子]" in hit.snippet
    thai = hits(store, fts.term("ภาษา"))["thai.txt"].snippet
    assert thai is not None and thai.startswith("สวัสดีครับ [ภาษา]ไทยเป็น[ภาษา]ที่สวย")
    phrase = hits(store, fts.phrase(["stored in the shed"]))["tarpaulins.txt"]
    assert phrase.snippet is not None and "[stored in the shed]" in phrase.snippet
    german = hits(store, fts.term("Bürgermeister"))["german.txt"]
    assert german.snippet is not None and german.snippet.endswith("sagte der [Bürgermeister]")


def test_several_snippets_from_a_long_passage(tmp_path: Path) -> None:
    st = Store(tmp_path / "index.db")
    folder = st.add_folder(str(tmp_path))
    st.add_files([(folder, str(tmp_path / "long.txt"), 1, 1, "document")])
    filler = " ".join(["nothing to see in these words"] * 12)
    text = f"A lighthouse at the start. {filler} The lighthouse again. {filler} Last lighthouse."
    row = st.pending(1)[0]
    st.store_indexed([Indexed(row, [ItemVector(1, "text", _vector(1), text)], "d", 1, 1)])
    hit = st.keyword(str(fts.term("lighthouse")), 5, names=False)[0]
    assert len(hit.snippets) == 3
    assert all("[lighthouse]" in s for s in hit.snippets)
    assert hit.snippet == hit.snippets[0]
    st.close()


def test_files_found_by_name_whatever_their_state(store: Store, tmp_path: Path) -> None:
    by_name = found(store, fts.term("tarpaulin"), names=True)
    assert set(by_name) == {"holiday_tarpaulin.mkv", "tarpaulin.txt"}  # names are not stemmed
    assert found(store, fts.term("端子"), names=True) == ["端子台の図面.dwg"]
    damaged = store.files_by_path([str(tmp_path / "german.txt")])[str(tmp_path / "german.txt")]
    store.mark_error(damaged.id, "damaged document")
    assert found(store, fts.term("german"), names=True) == ["german.txt"]
    assert found(store, fts.term("hauser")) == []  # its passages went with the error
    assert store.keyword(str(fts.term("tarpaulin")), 5, names=True)[0].matched == "name"


def test_odd_user_words_make_valid_expressions(store: Store) -> None:
    for word in ['"', "''", "*", "a*b", "NEAR(", ")", "~", "~~x", "-", "AND", "^x", "x:y", "\x00"]:
        match = fts.term(word)
        if match is not None:
            store.keyword(match, 5, names=False)  # never an FTS5 syntax error
    assert fts.term("...") is None
    assert fts.term("450,000") == '"450 000"'
    assert fts.term("e-mail") == '"e mail"'
    assert found(store, fts.term("~tarpaulin")) != []  # the user's ~ is punctuation


def test_migration_from_unicode61_keeps_text_searchable(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    conn = db.connect(path)
    for version, step in enumerate(MIGRATIONS[:5], start=1):  # before the tokenizer (6)
        with db.transaction(conn):
            step(conn)
            conn.execute(f"PRAGMA user_version={version}")
    with db.transaction(conn):
        conn.execute("INSERT INTO folders(path, added) VALUES(?, 0)", (str(tmp_path).encode(),))
        conn.execute(
            "INSERT INTO files(folder_id, path, name, size, mtime_ns, kind, status) "
            "VALUES(1, ?, '端子台.txt', 1, 1, 'document', ?)",
            (str(tmp_path / "端子台.txt").encode(), INDEXED),
        )
        conn.execute(
            "INSERT INTO items(file_id, type, text) VALUES(1, 'text', ?)",
            (PASSAGES["manual-ja.txt"],),
        )
    assert conn.execute("SELECT count(*) FROM fts_text WHERE fts_text MATCH '端子'").fetchall() == [
        (0,)
    ]
    conn.close()
    st = Store(path)
    assert db.user_version(st.reader()) == LATEST
    assert found(st, fts.term("端子")) == ["端子台.txt"]
    assert found(st, fts.term("端子"), names=True) == ["端子台.txt"]
    with st.write() as w:  # deleting a passage migrated from before removes its tokens
        w.execute("DELETE FROM items")
    assert found(st, fts.term("端子")) == []
    st.close()


def test_new_tokens_rebuild_the_keyword_index(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    st = Store(path)
    folder = st.add_folder(str(tmp_path))
    st.add_files([(folder, str(tmp_path / "a.txt"), 1, 1, "document")])
    row = st.pending(1)[0]
    st.store_indexed(
        [Indexed(row, [ItemVector(1, "text", _vector(1), PASSAGES["thai.txt"])], "d", 1, 1)]
    )
    with st.write() as w:  # as if made by another tokenizer: the index holds other tokens
        w.execute("INSERT INTO fts_text(fts_text) VALUES('delete-all')")
        w.execute("UPDATE meta SET value='lanterna-0' WHERE key='fts_signature'")
    assert found(st, fts.term("ภาษา")) == []
    st.close()
    st = Store(path)
    assert found(st, fts.term("ภาษา")) == ["a.txt"]
    assert st.meta()["fts_signature"] == fts.signature()
    st.close()
