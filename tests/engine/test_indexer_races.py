"""Races between the indexer, the watcher and the disk, each forced into the interleaving that
broke it: a hook on the real embedder changes the disk (and, where the case needs it, hands the
watcher's batch over) between a file's read and the commit of its vectors."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from engine import db, documents
from engine.errors import DecodeError
from engine.library import Library
from engine.search import Query
from engine.store import Store
from engine.watcher import Batch
from tests import documents as make
from tests.engine.test_reliability import consistent
from tests.images import picture, write

Pixels = npt.NDArray[np.float32]


def between_read_and_commit(
    library: Library, monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]
) -> None:
    """Run ``action`` once, after the first batch was read and embedded, before its commit."""
    library.searcher().ensure_probes()  # the calibration probes are embedded before any file
    embedder = library.embedder
    real = embedder.embed_pixels
    done = []

    def embed(pixels: Pixels, **kwargs: bool) -> Pixels:
        vectors = real(pixels, **kwargs)
        if not done:
            done.append(True)
            action()
        return vectors

    monkeypatch.setattr(embedder, "embed_pixels", embed)


def top(library: Library, image: Path) -> tuple[str, float]:
    best = library.search(Query(image=str(image), k=1))[0]
    return best.path, best.score


def test_file_deleted_between_decode_and_commit_is_skipped(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 1: `watch` died with a FOREIGN KEY error when a file went between decode and write."""
    files = [write(photos / f"p{i}.jpg", "red", seed=i) for i in range(6)]
    # a document: not in an image batch, it stays
    (photos / "keep.txt").write_text("a note that stays", encoding="utf-8")
    library.add_folders([photos])
    library.scan()
    gone = files  # the batch in the tower was read before; the others are read after

    def delete() -> None:
        for path in gone:
            path.unlink()
        library.apply_changes(Batch(paths={str(p) for p in gone}))  # the watcher's batch

    between_read_and_commit(library, monkeypatch, delete)
    run = library.embed_pending()
    assert run.errors == 0 and run.vanished >= 1  # at least the batch in the tower went
    counts = library.store.counts()
    assert (counts["indexed"], counts["pending"], counts["error"]) == (1, 0, 0)
    assert library.store.files_by_path([str(p) for p in files]) == {}
    consistent(library.store.path)


def test_file_vanishing_without_an_event_stays_until_seen_gone(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No watcher (`lanterna index`): a file deleted before its commit gets no vectors and is
    forgotten when read again, not recorded as an error."""
    a = write(photos / "a.jpg", "red", seed=1)
    write(photos / "b.jpg", "blue", seed=2)
    library.add_folders([photos])
    library.scan()
    between_read_and_commit(library, monkeypatch, a.unlink)
    run = library.embed_pending()
    assert run.errors == 0 and run.embedded == 1
    assert library.store.files_by_path([str(a)]) == {}
    assert library.store.counts()["vectors"] == 1
    consistent(library.store.path)


def test_change_recorded_after_the_read_is_not_overwritten(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 3: a change the watcher recorded after the read was overwritten by the commit (old
    vector kept, nothing pending). Also without an event, and for an atomic save that keeps the
    size and mtime (only the inode tells)."""
    watched = write(photos / "watched.png", "red", seed=1)
    silent = write(photos / "silent.png", "green", seed=2)
    swapped = write(photos / "swapped.bmp", "blue", seed=3)  # BMP: same size for any content
    library.add_folders([photos])
    library.scan()
    staging = photos.parent / "staging"

    def change() -> None:
        write(watched, "yellow", seed=4)
        library.apply_changes(Batch(paths={str(watched)}))
        write(silent, "purple", seed=5)
        st = swapped.stat()
        tmp = write(staging / "swap.bmp", "orange", seed=6)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert (tmp.stat().st_size, tmp.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
        os.replace(tmp, swapped)

    between_read_and_commit(library, monkeypatch, change)
    run = library.embed_pending()
    assert run.errors == 0 and run.busy == 0
    assert library.store.count_pending() == 0
    for path in (watched, silent, swapped):
        found, score = top(library, path)
        assert found == str(path) and score > 0.999, path.name
    rows = library.store.files_by_path([str(watched), str(silent)])
    for path, row in rows.items():
        st = os.stat(path)
        assert (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns)
    consistent(library.store.path)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_indexing_runs_leak_no_connections_threads_or_files(library: Library, photos: Path) -> None:
    """Case 4: each run made a decode pool whose threads' reader connections stayed open
    (readers 5 → 25, open files 23 → 63 over a few runs)."""
    library.add_folders([photos])
    figures = []
    for run in range(6):
        for i in range(4):
            write(photos / f"r{run}-{i}.png", "red", seed=run * 10 + i, size=(48, 48))
        report = library.index()
        assert report.run.embedded == 4
        library.search(Query(text="red"))
        figures.append((_fds(), threading.active_count()))
    first = figures[1]  # after the pool and the model are up
    assert figures[-1] == first, figures


def test_readers_of_finished_threads_are_closed(tmp_path: Path) -> None:
    """Short-lived threads (a GUI's pool, one thread per job) leave no connection behind."""
    store = Store(tmp_path / "index.db")
    try:
        store.folders()  # this thread's own reader
        figures = []
        for _ in range(3):
            for _ in range(10):
                thread = threading.Thread(target=store.folders)
                thread.start()
                thread.join()
            deadline = time.monotonic() + 5
            while store.open_readers() > 1 and time.monotonic() < deadline:
                time.sleep(0.01)  # the finaliser runs when the thread's locals go
            assert store.open_readers() == 1
            store.folders()  # the next read closes what the ended threads left
            figures.append(_fds())
        # SQLite may keep one closed descriptor of the file for reuse; none accumulate
        assert figures[0] == figures[1] == figures[2], figures
    finally:
        store.close()


def test_slow_preview_does_not_kill_the_indexers_pdf_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 9: a preview render that overran killed the one shared PDF process; the indexer's
    next page request reached a fresh process and a good 12-page PDF was recorded as damaged."""
    pdf = make.pdf(tmp_path / "twelve.pdf", [f"page {n} of a good document" for n in range(1, 13)])
    stream = documents.pages(str(pdf), 64)
    first = next(stream)  # the indexer has opened the file and holds its first pages
    reader = documents.worker_pid(documents.INDEXING)
    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 1e-6)
    with pytest.raises(DecodeError, match="gave up"):
        documents.render_page(str(pdf), 1, 800)  # overruns: its worker is killed
    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 60.0)
    assert reader is not None and documents.worker_pid(documents.INDEXING) == reader
    rest = list(stream)
    assert [first.number] + [p.number for p in rest] == list(range(1, 13))
    assert "page 12" in rest[-1].text
    documents.close_worker()


def test_a_restarted_pdf_reader_picks_up_where_it_was(tmp_path: Path) -> None:
    """Even the indexer's own reader, killed between two requests, serves the next pages."""
    pdf = make.pdf(tmp_path / "twelve.pdf", [f"page {n}" for n in range(12)])
    stream = documents.pages(str(pdf), 64)
    next(stream)
    documents.interrupt_worker(documents.INDEXING)
    deadline = time.monotonic() + 10
    while documents.worker_pid(documents.INDEXING) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert documents.worker_pid(documents.INDEXING) is None
    assert len(list(stream)) == 11
    documents.close_worker()


def test_two_processes_migrating_a_new_index_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 11: `migrate()` read user_version before BEGIN IMMEDIATE: two `lanterna index` on a
    new data folder, and one crashed with "table meta already exists". Here the second opener
    migrates in full just after the first has read the version."""
    path = tmp_path / "index.db"
    first, second = db.connect(path), db.connect(path)
    real = db.user_version
    calls = []

    def racing(conn: object) -> int:
        value = real(conn)  # type: ignore[arg-type]
        if conn is first and not calls:
            calls.append(value)
            db.migrate(second)  # the other process, between the read and the write
        return value

    monkeypatch.setattr(db, "user_version", racing)
    try:
        assert db.migrate(first) == db.LATEST
        assert calls == [0]
        assert real(first) == real(second) == db.LATEST
        tables = {r[0] for r in first.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "files", "items", "vec_items", "fts_text"} <= tables
    finally:
        first.close()
        second.close()


def test_close_while_watching_stops_in_order(library: Library, photos: Path) -> None:
    """Case 12: `Library.close` set `watcher = None` and the watch's clean-up then called
    `stop()` on None; the library was closed under a running watch."""
    for i in range(40):
        write(photos / f"p{i:02}.png", "blue", seed=i, size=(64, 64))
    library.add_folders([photos])
    library.embedder.embed_query("warm up")
    failures: list[BaseException] = []

    def watch() -> None:
        try:
            library.watch(threading.Event())  # only close() can stop it
        except BaseException as exc:  # the test reports it
            failures.append(exc)

    thread = threading.Thread(target=watch)
    thread.start()
    deadline = time.monotonic() + 60
    while library.store.counts()["indexed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert library.store.counts()["indexed"] > 0, "the watch never committed anything"
    library.close()
    assert not thread.is_alive(), "close() returned while the watch was still running"
    thread.join()
    assert failures == []
    assert library.store.closed and library.watcher is None
    library.close()  # twice is fine
    consistent(library.store.path)
    with Library(library.data_dir, library.model_dir, device="cpu") as again:
        assert again.index().run.errors == 0
        assert again.store.counts()["indexed"] == 40


def test_close_from_another_thread_during_a_one_shot_index(library: Library, photos: Path) -> None:
    for i in range(60):
        write(photos / f"p{i:02}.png", "green", seed=i, size=(64, 64))
    library.add_folders([photos])
    library.embedder.embed_query("warm up")
    results = []
    thread = threading.Thread(target=lambda: results.append(library.index()))
    thread.start()
    deadline = time.monotonic() + 60
    while library.store.counts()["indexed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    library.close()
    assert not thread.is_alive()
    assert results and results[0].run.errors == 0
    consistent(library.store.path)


def test_image_query_scores_identical_content_at_one(library: Library, photos: Path) -> None:
    """The helper the races rely on: an image query finds the file with that content first."""
    a = photos / "a.png"
    picture("red", seed=3).save(a)
    write(photos / "b.png", "red", seed=4)
    library.add_folders([photos])
    library.index()
    assert top(library, a)[0] == str(a) and top(library, a)[1] > 0.999


def test_the_retry_schema_step_keeps_files_and_adds_retry_times(tmp_path: Path) -> None:
    """The step that adds ``files.retry_at``, on an index made by the previous version."""
    from engine.migrations import MIGRATIONS

    path = tmp_path / "index.db"
    conn = db.connect(path)
    try:
        for version, step in enumerate(MIGRATIONS[:6]):
            with db.transaction(conn):
                step(conn)
                conn.execute(f"PRAGMA user_version={version + 1}")
        conn.execute("INSERT INTO folders(path, added) VALUES(?, 0)", (b"/photos",))
        conn.execute(
            "INSERT INTO files(folder_id, path, name, size, mtime_ns, kind, status) "
            "VALUES(1, ?, 'a.jpg', 1, 1, 'image', 'indexed')",
            (b"/photos/a.jpg",),
        )
        assert MIGRATIONS[6].__name__ == "_v7" and db.migrate(conn) == db.LATEST
        rows = conn.execute("SELECT path, status, retry_at FROM files").fetchall()
        assert rows == [(b"/photos/a.jpg", "indexed", None)]
    finally:
        conn.close()
    store = Store(path)
    try:
        assert store.next_retry() is None and store.counts()["retrying"] == 0
    finally:
        store.close()
