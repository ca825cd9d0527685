"""Words first (engine.words): a document's words are searchable before its vectors exist,
and only while they are still true of the file on disk."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from engine import db, words, wordstore
from engine.library import Library
from engine.migrations import LATEST, MIGRATIONS
from engine.search import Query, Result
from engine.store import ERROR, PENDING, Store
from engine.watcher import Batch
from engine.words import WordsIndexer
from tests import documents as make
from tests.engine.test_reliability import consistent
from tests.images import write

Pixels = npt.NDArray[np.float32]
OLD = 1_500_000_000  # seconds: older than every photo, so the vectors' stage reaches it last


def library_with_photos(photos: Path, n: int = 8) -> tuple[Path, Path]:
    """Photos, a two-page PDF and a note; the documents are the oldest files."""
    for i in range(n):
        write(photos / f"p{i}.jpg", "red" if i % 2 else "blue", seed=i)
    report = make.pdf(photos / "report.pdf", ["an annual report", "the quokka census of 2023"])
    note = photos / "note.txt"
    note.write_text("buy marmalade and string", encoding="utf-8")
    for doc in (report, note):
        os.utime(doc, (OLD, OLD))
    return report, note


def keyword_hits(library: Library, word: str) -> list[Result]:
    return [r for r in library.search(Query(text=word, k=10)) if r.how == "keyword"]


def words_rows(store: Store, file_id: int) -> tuple[int, int]:
    """(passages written ahead of vectors, records of it) for a file."""
    conn = store.reader()
    items = conn.execute(
        "SELECT count(*) FROM items WHERE file_id=? AND source='words'", (file_id,)
    ).fetchall()[0][0]
    records = conn.execute(
        "SELECT count(*) FROM words_files WHERE file_id=?", (file_id,)
    ).fetchall()[0][0]
    return int(items), int(records)


def test_a_documents_word_is_found_before_the_vectors_reach_it(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, _ = library_with_photos(photos)
    library.add_folders([photos])
    library.scan()
    library.searcher().ensure_probes()  # the probes are embedded before any file
    embedder = library.embedder
    real = embedder.embed_pixels
    seen: list[list[Result]] = []
    row = library.store.files_by_path([str(report)])[str(report)]

    def embed(pixels: Pixels, **kwargs: bool) -> Pixels:
        if not seen:  # the first photos, long before the documents' turn
            assert library.store.file(row.id).status == PENDING  # type: ignore[union-attr]
            assert library.store.item_vectors(row.id) == []  # no vector of it yet
            seen.append(keyword_hits(library, "quokka"))
        return real(pixels, **kwargs)

    monkeypatch.setattr(embedder, "embed_pixels", embed)
    stages: list[str] = []
    run = library.embed_pending(progress=lambda p: stages.append(p.stage))
    assert seen and [r.path for r in seen[0]] == [str(report)]
    hit = seen[0][0]
    assert (hit.kind, hit.item, hit.type) == ("document", 2, "text")
    assert hit.snippet is not None and "[quokka]" in hit.snippet and not hit.weak
    # then the vectors' stage embedded it, and its own passages replaced the words
    assert run.words == 2 and run.embedded == 10 and run.errors == 0
    assert library.store.file(row.id).status == "indexed"  # type: ignore[union-attr]
    assert library.store.item_vectors(row.id) and words_rows(library.store, row.id) == (0, 0)
    assert [r.path for r in keyword_hits(library, "quokka")] == [str(report)]
    assert stages[0] == "words" and "index" in stages
    assert stages.index("index") > max(i for i, s in enumerate(stages) if s == "words")
    consistent(library.store.path)


def test_progress_counts_the_documents_in_the_words_stage(library: Library, photos: Path) -> None:
    library_with_photos(photos, n=2)
    (photos / "third.md").write_text("# heading\n\nsome prose", encoding="utf-8")
    library.add_folders([photos])
    library.scan()
    seen: list[tuple[int, int, str, str | None]] = []
    stats = WordsIndexer(library.store).run(
        progress=lambda p: seen.append((p.done, p.total, p.stage, p.path))
    )
    assert stats.files == 3 and stats.passages == 4
    assert [s[:3] for s in seen] == [(i, 3, "words") for i in range(4)]
    assert {Path(s[3]).name for s in seen[1:] if s[3]} == {"report.pdf", "note.txt", "third.md"}
    status = library.status(load_model=False)
    assert status["files"]["pending"] == 5  # the words are there; the vectors are not
    assert status["words"] == {"searchable": 3, "pending": 0}
    assert status["vectors"] == 0


def test_an_edit_after_the_words_stage_replaces_the_text(library: Library, photos: Path) -> None:
    _, note = library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    WordsIndexer(library.store).run()
    assert [r.path for r in keyword_hits(library, "marmalade")] == [str(note)]

    note.write_text("buy kumquats instead", encoding="utf-8")
    library.apply_changes(Batch(paths={str(note)}))  # the watcher's batch
    assert keyword_hits(library, "marmalade") == []  # gone with the change, before any read
    row = library.store.files_by_path([str(note)])[str(note)]
    assert words_rows(library.store, row.id) == (0, 0)
    assert [r.path for r in wordstore.pending(library.store, 10)] == [str(note)]

    assert WordsIndexer(library.store).run().files == 1
    assert [r.path for r in keyword_hits(library, "kumquats")] == [str(note)]
    assert keyword_hits(library, "marmalade") == []
    library.embed_pending()
    assert [r.path for r in keyword_hits(library, "kumquats")] == [str(note)]
    assert keyword_hits(library, "marmalade") == []
    consistent(library.store.path)


def test_an_edit_while_the_words_are_read_writes_nothing(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No watcher event: the commit's own stat check finds the file changed since its read."""
    _, note = library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    real = words.pages

    def pages_then_edit(path: str, *args: object):  # type: ignore[no-untyped-def]
        yield from real(path, *args)  # type: ignore[arg-type]
        if path == str(note):
            note.write_text("a newer note about figs", encoding="utf-8")

    monkeypatch.setattr(words, "pages", pages_then_edit)
    stats = WordsIndexer(library.store).run()
    assert stats.files == 1 and stats.skipped == 1  # the PDF written, the note left
    assert keyword_hits(library, "marmalade") == []
    monkeypatch.setattr(words, "pages", real)
    assert WordsIndexer(library.store).run().files == 1  # looked at again: the new text
    assert [r.path for r in keyword_hits(library, "figs")] == [str(note)]
    assert keyword_hits(library, "marmalade") == []


def test_a_deleted_document_takes_its_words_with_it(library: Library, photos: Path) -> None:
    report, note = library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    row = library.store.files_by_path([str(report)])[str(report)]
    WordsIndexer(library.store).run()
    assert words_rows(library.store, row.id) == (2, 1)
    report.unlink()
    library.apply_changes(Batch(paths={str(report)}))
    assert keyword_hits(library, "quokka") == []
    assert words_rows(library.store, row.id) == (0, 0)
    # deleted before its words were read (no event): forgotten by the words stage
    note.write_text("buy marmalade and string and tea", encoding="utf-8")
    library.apply_changes(Batch(paths={str(note)}))
    note.unlink()
    stats = WordsIndexer(library.store).run()
    assert stats.vanished == 1 and library.store.files_by_path([str(note)]) == {}
    assert keyword_hits(library, "marmalade") == []


def test_bad_documents_are_one_recorded_error_each_and_not_tried_again(
    library: Library, tmp_path: Path, logfail: object
) -> None:
    from pypdf import PdfReader, PdfWriter

    folder = tmp_path / "bad"
    folder.mkdir()
    writer = PdfWriter(clone_from=PdfReader(make.pdf(tmp_path / "plain.pdf", ["secret"])))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    with open(folder / "locked.pdf", "wb") as fh:
        writer.write(fh)
    (folder / "garbage.pdf").write_bytes(os.urandom(2000))
    (folder / "empty.txt").write_bytes(b"")
    make.pdf(folder / "fine.pdf", ["all good"])
    library.add_folders([folder])
    library.scan()
    stats = WordsIndexer(library.store).run()
    assert (stats.files, stats.errors) == (1, 3)
    errors = {Path(r.path).name: r for r in library.store.errors()}
    assert set(errors) == {"locked.pdf", "garbage.pdf", "empty.txt"}
    assert "password" in (errors["locked.pdf"].error or "")
    assert all(r.status == ERROR for r in errors.values())
    assert library.store.count_pending() == 1  # only the good one waits for its vectors
    for _ in range(2):
        library.embed_pending()
    attempts = library.store.reader().execute("SELECT attempts FROM files WHERE status='error'")
    assert [r[0] for r in attempts] == [1, 1, 1]  # recorded once, never tried again
    assert library.store.count_pending() == 0 and library.status()["files"]["error"] == 3


def test_cancel_in_the_words_stage_stops_before_the_vectors(library: Library, photos: Path) -> None:
    library_with_photos(photos, n=2)
    library.add_folders([photos])
    library.scan()
    cancel = threading.Event()

    def progress(p: object) -> None:
        if getattr(p, "done", 0) >= 1:
            cancel.set()

    stats = WordsIndexer(library.store).run(cancel=cancel, progress=progress)
    assert stats.cancelled and stats.files == 1
    assert wordstore.count_pending(library.store) == 1
    cancel.clear()  # the next run: cancelled once its one document is read
    run = library.embed_pending(cancel=cancel, progress=progress)
    assert run.cancelled and run.words == 1 and run.embedded == 0
    assert library.store.counts()["vectors"] == 0
    assert library.store.count_pending() == 4
    assert wordstore.count_searchable(library.store) == 2  # both by their words, no vector


def test_a_cancel_in_the_middle_of_a_document_writes_nothing_of_it(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "long"
    book = make.pdf(folder / "book.pdf", [f"chapter {i} of the saga" for i in range(40)])
    library.add_folders([folder])
    library.scan()
    cancel = threading.Event()
    real = words.pages

    def cancel_after_a_page(path: str, *args: object):  # type: ignore[no-untyped-def]
        for page in real(path, *args):  # type: ignore[arg-type]
            yield page
            cancel.set()  # as Library.close or Ctrl+C does, from another thread

    monkeypatch.setattr(words, "pages", cancel_after_a_page)
    stats = WordsIndexer(library.store).run(cancel=cancel)
    assert stats.cancelled and stats.files == 0
    assert keyword_hits(library, "saga") == []
    assert [r.path for r in wordstore.pending(library.store, 10)] == [str(book)]
    monkeypatch.setattr(words, "pages", real)
    assert WordsIndexer(library.store).run().files == 1
    assert len(keyword_hits(library, "saga")) == 1


def test_pause_holds_the_words_stage(library: Library, photos: Path) -> None:
    library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    pause = threading.Event()
    pause.set()
    started = threading.Event()
    result: list[words.WordsRunStats] = []

    def run() -> None:
        result.append(
            WordsIndexer(library.store).run(pause=pause, progress=lambda _p: started.set())
        )

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    time.sleep(0.5)
    assert wordstore.count_searchable(library.store) == 0  # nothing read while paused
    pause.clear()
    thread.join(60)
    assert result and result[0].files == 2


def test_documents_arriving_during_the_vectors_get_their_words(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library_with_photos(photos, n=6)
    library.add_folders([photos])
    library.scan()
    library.searcher().ensure_probes()
    monkeypatch.setattr(words, "CATCH_UP_S", 0.0)
    embedder = library.embedder
    real = embedder.embed_pixels
    late = photos / "late.txt"
    calls: list[int] = []

    def embed(pixels: Pixels, **kwargs: bool) -> Pixels:
        calls.append(len(pixels))
        if len(calls) == 1:
            late.write_text("arrived with pomegranates", encoding="utf-8")
            library.apply_changes(Batch(paths={str(late)}))
        return real(pixels, **kwargs)

    monkeypatch.setattr(embedder, "embed_pixels", embed)
    run = library.embed_pending()
    assert run.words == 3  # the two from the start, and the late one
    row = library.store.files_by_path([str(late)])[str(late)]
    assert [r.path for r in keyword_hits(library, "pomegranates")] == [str(late)]
    # newer than the run's place in the queue: its vectors are the next run's
    assert row.status == PENDING and library.store.item_vectors(row.id) == []


def test_passages_cut_long_text_with_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(3000))
    found = words.passages(text)
    assert len(found) > 5 and all(len(p) <= words.PASSAGE_CHARS for p in found)
    assert found[0].split()[-1] in found[1].split()  # the cut is whole in the next one
    assert found[-1].endswith("w2999") and found[0].startswith("w0 ")
    assert words.passages("  \n ") == [] and words.passages("short") == ["short"]
    cjk = "漢字" * 1500
    assert "".join(words.passages(cjk)).count("漢") >= 1500


def test_the_words_schema_step_upgrades_an_index_of_the_previous_version(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.db"
    conn = db.connect(path)
    try:
        for version, step in enumerate(MIGRATIONS[:7]):
            with db.transaction(conn):
                step(conn)
                conn.execute(f"PRAGMA user_version={version + 1}")
        conn.execute("INSERT INTO folders(path, added) VALUES(?, 0)", (b"/docs",))
        conn.execute(
            "INSERT INTO files(folder_id, path, name, size, mtime_ns, kind, status) "
            "VALUES(1, ?, 'a.pdf', 5, 5, 'document', 'pending')",
            (b"/docs/a.pdf",),
        )
        conn.execute("INSERT INTO items(file_id, page, type, text) VALUES(1, 1, 'text', 'old')")
    finally:
        conn.close()
    store = Store(path)
    try:
        assert db.user_version(store.reader()) == LATEST == 8
        row = store.files_by_path(["/docs/a.pdf"])["/docs/a.pdf"]
        assert wordstore.pending(store, 10) == [row]
        with store.write() as w:  # as store_words writes, then a change of the file
            w.execute(
                "INSERT INTO items(file_id, page, type, text, source) "
                "VALUES(1, 1, 'text', 'fresh', 'words')"
            )
            w.execute("INSERT INTO words_files VALUES(1, 5, 5, 1, 0)")
        assert wordstore.count_searchable(store) == 1
        store.mark_changed([(row.id, 6, 6)])
        texts = store.reader().execute("SELECT text FROM items ORDER BY id").fetchall()
        assert texts == [("old",)]  # the words went with the change; the old passage waits
        assert wordstore.count_searchable(store) == 0
    finally:
        store.close()


def test_the_command_line_finds_the_word_and_shows_the_stage(
    library: Library, photos: Path, toy_model: Path
) -> None:
    import io
    import subprocess
    import sys

    from tqdm import tqdm

    from engine.cli import _Bar
    from engine.indexer import Progress

    report, _ = library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    WordsIndexer(library.store).run()
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(library.data_dir),
        "LANTERNA_MODEL_DIR": str(toy_model),
    }

    def lanterna(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "engine", "--device", "cpu", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    out = lanterna("search", "quokka").splitlines()
    assert out[0].endswith(f"{report}  p.2  [keyword]")
    assert "[quokka]" in out[1]
    status = lanterna("status")
    assert "words      2 documents found by their words while waiting for vectors" in status

    stream = io.StringIO()
    bar = _Bar("indexing")
    bar.bar.close()
    bar.bar = tqdm(total=0, desc="indexing", unit="file", file=stream, mininterval=0)
    bar(Progress(1, 2, 0, 1, None, 0.1, stage="words"))
    assert bar.bar.desc.startswith("reading words") and "reading words" in stream.getvalue()
    bar(Progress(0, 5, 0, 0, None, 0.1))
    assert bar.bar.desc.startswith("indexing")
    bar.close()


def test_words_are_written_only_for_a_file_still_pending(library: Library, photos: Path) -> None:
    report, _ = library_with_photos(photos, n=1)
    library.add_folders([photos])
    library.scan()
    library.embed_pending()
    row = library.store.files_by_path([str(report)])[str(report)]
    st = report.stat()
    outcome = wordstore.store_words(
        library.store,
        row,
        [(1, "zebra crossing")],
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
    )
    assert outcome == "gone" and words_rows(library.store, row.id) == (0, 0)
    assert keyword_hits(library, "zebra") == []
