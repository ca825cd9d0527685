"""Faults a real library meets: killed processes, full disks, vanishing and changing files,
hostile inputs, two instances, a damaged index. Each on real files and a real database."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import apsw
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import db
from engine.documents import pages
from engine.errors import DecodeError, IndexDamagedError, IndexError_
from engine.library import Library
from engine.preprocess import prepare
from engine.search import Query
from engine.store import Store
from tests import documents as make
from tests.images import picture, write

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]


def consistent(index: Path) -> None:
    """Integrity, and every vector has its item and file row, and back (but for the words of
    pending documents, written ahead of their vectors: engine.words)."""
    conn = db.connect(index)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        orphans = conn.execute(
            "SELECT count(*) FROM vec_items v LEFT JOIN items i ON i.id = v.item_id "
            "WHERE i.id IS NULL"
        ).fetchall()[0][0]
        missing = conn.execute(
            "SELECT count(*) FROM items i LEFT JOIN vec_items v ON v.item_id = i.id "
            "JOIN files f ON f.id = i.file_id WHERE v.item_id IS NULL "
            "AND NOT (i.source = 'words' AND f.status = 'pending')"
        ).fetchall()[0][0]
        empty = conn.execute(
            "SELECT count(*) FROM files f WHERE f.status='indexed' AND f.kind='image' AND "
            "NOT EXISTS (SELECT 1 FROM items i WHERE i.file_id = f.id)"
        ).fetchall()[0][0]
        assert (orphans, missing, empty) == (0, 0, 0)
    finally:
        conn.close()


def indexed_count(index: Path) -> int:
    """Files committed as indexed, read from another connection (0 before the schema exists)."""
    if not index.exists():
        return 0
    conn = db.connect(index)
    try:
        return int(
            conn.execute("SELECT count(*) FROM files WHERE status='indexed'").fetchall()[0][0]
        )
    except apsw.SQLError:
        return 0  # no files table yet
    finally:
        conn.close()


def test_kill_9_during_indexing_loses_nothing(tmp_path: Path, toy_model: Path) -> None:
    """Each round waits for a commit of its own before killing (a kill before the first commit
    tests nothing), and at least one kill lands while work is left."""
    photos = tmp_path / "photos"
    total = 200
    for i in range(total):
        write(photos / f"p{i:03}.jpg", COLOURS[i % 8], seed=i, size=(320, 240))
    data = tmp_path / "data"
    index = data / "index.db"
    env = {**os.environ, "LANTERNA_DATA_DIR": str(data), "LANTERNA_MODEL_DIR": str(toy_model)}
    cmd = [sys.executable, "-m", "engine", "--device", "cpu", "index", str(photos)]
    rng = random.Random(7)
    killed_mid_run = 0
    for _ in range(int(os.environ.get("LANTERNA_KILL_ROUNDS", "4"))):
        before = indexed_count(index)
        if before == total:
            break
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while indexed_count(index) <= before and proc.poll() is None:
            assert time.monotonic() < deadline, "no commit within 120 s"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        after = indexed_count(index)
        assert after > before, f"the run committed nothing before it ended: {err!r}"
        killed_mid_run += after < total
        consistent(index)
    assert killed_mid_run >= 1, "every run finished before its kill: nothing was tested"
    with Library(data, toy_model, device="cpu") as lib:
        before_counts = lib.store.counts()
        assert before_counts["pending"] == total - before_counts["indexed"]
        report = lib.index()
        # only what was not committed is embedded now
        assert report.run.embedded == total - before_counts["indexed"]
        assert lib.store.counts()["indexed"] == total
    consistent(index)


def test_disk_full_is_a_clear_error_and_recovers(library: Library, photos: Path) -> None:
    for i in range(60):
        write(photos / f"p{i:02}.png", COLOURS[i % 8], seed=i, size=(64, 64))
    library.add_folders([photos])
    library.scan()
    writer = library.store._writer  # the only way to shrink the "disk" under SQLite
    pages_now = writer.execute("PRAGMA page_count").fetchall()[0][0]
    writer.execute(f"PRAGMA max_page_count={pages_now + 8}")
    with pytest.raises(IndexError_, match="full"):
        library.embed_pending()
    consistent(library.store.path)
    done = library.store.counts()["indexed"]
    assert done < 60
    writer.execute("PRAGMA max_page_count=1073741823")  # space is back
    library.embed_pending()
    assert library.store.counts()["indexed"] == 60
    consistent(library.store.path)


def test_second_writer_is_refused_reader_is_not(
    library: Library, photos: Path, data_dir: Path, toy_model: Path
) -> None:
    write(photos / "a.jpg", "red")
    library.add_folders([photos])
    library.index()
    env = {**os.environ, "LANTERNA_DATA_DIR": str(data_dir), "LANTERNA_MODEL_DIR": str(toy_model)}
    other = subprocess.run(
        [sys.executable, "-m", "engine", "index"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 1
    first, hint = other.stderr.strip().splitlines()
    assert "another Lanterna" in first and hint.startswith("hint: ")
    reader = subprocess.run(
        [sys.executable, "-m", "engine", "search", "red", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reader.returncode == 0 and "a.jpg" in reader.stdout
    library.close()
    again = subprocess.run(
        [sys.executable, "-m", "engine", "index"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr


@pytest.mark.expect_log_errors("the index was damaged")
def test_unreadable_index_file_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    path.write_bytes(b"this is not a database at all" * 200)
    store = Store(path)
    assert store.recovered is not None and store.recovered.exists()
    assert store.recovered.read_bytes().startswith(b"this is not")
    store.add_folder(str(tmp_path))
    assert len(store.folders()) == 1
    store.close()


def test_vanished_and_ever_changing_files(library: Library, photos: Path) -> None:
    write(photos / "stays.jpg", "red")
    gone = write(photos / "gone.jpg", "blue")
    busy = write(photos / "busy.jpg", "green")
    library.add_folders([photos])
    library.scan()
    gone.unlink()  # between the scan and the read
    stop = threading.Event()

    def keep_writing() -> None:
        with open(busy, "ab") as fh:
            while not stop.is_set():
                fh.write(b"\0" * 512)
                fh.flush()
                time.sleep(0.005)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        run = library.embed_pending()
    finally:
        stop.set()
        writer.join()
    # the run ends; the growing file is either read between two writes or left for its next
    # event, never recorded as broken
    assert run.vanished == 1 and run.errors == 0
    assert run.embedded + run.busy == 2
    counts = library.store.counts()
    assert counts["indexed"] + counts["pending"] == 2 and counts["error"] == 0
    consistent(library.store.path)


def test_very_long_names_and_deep_folders(library: Library, photos: Path) -> None:
    deep = photos
    for i in range(30):
        deep = deep / f"level-{i:02}-{'x' * 20}"
    long_name = "ü" * 120 + ".jpg"  # 242 bytes in UTF-8, near the usual 255-byte limit
    write(deep / long_name, "purple")
    library.add_folders([photos])
    assert library.index().run.embedded == 1
    assert Path(library.search(Query(text="violet", k=1))[0].path).name == long_name


def test_watched_folder_renamed_away_and_back(library: Library, tmp_path: Path) -> None:
    root = tmp_path / "watched"
    write(root / "a.jpg", "red")
    library.add_folders([root])
    stop = threading.Event()
    thread = threading.Thread(target=library.watch, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while library.store.counts()["indexed"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    root.rename(tmp_path / "elsewhere")
    time.sleep(1.0)
    (tmp_path / "elsewhere").rename(root)
    write(root / "b.jpg", "blue")
    time.sleep(1.0)
    stop.set()
    thread.join(15)
    assert not thread.is_alive()
    report = library.index()  # a rescan puts everything right
    assert library.store.counts()["indexed"] == 2
    assert report.run.errors == 0
    consistent(library.store.path)


# -- hostile inputs -------------------------------------------------------------------------


def _seed_files(tmp: Path) -> dict[str, bytes]:
    out = {}
    for ext, fmt in (("jpg", "JPEG"), ("png", "PNG"), ("gif", "GIF"), ("webp", "WEBP")):
        path = tmp / f"seed.{ext}"
        picture("orange", size=(48, 32)).save(path, format=fmt)
        out[ext] = path.read_bytes()
    out["pdf"] = make.pdf(tmp / "seed.pdf", ["hello world", "page two"]).read_bytes()
    out["docx"] = make.docx(tmp / "seed.docx", [["hello"], ["world"]]).read_bytes()
    return out


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _seed_files(tmp_path_factory.mktemp("seeds"))


@settings(
    max_examples=int(os.environ.get("LANTERNA_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_fuzzed_files_end_in_an_image_or_a_recorded_error(
    seeds: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    from engine.preprocess import VisionSpec

    ext = data.draw(st.sampled_from(sorted(seeds)))
    blob = bytearray(seeds[ext])
    for _ in range(data.draw(st.integers(1, 8))):
        action = data.draw(st.sampled_from(["flip", "cut", "dup"]))
        pos = data.draw(st.integers(0, max(0, len(blob) - 1)))
        if action == "flip" and blob:
            blob[pos] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del blob[pos : pos + data.draw(st.integers(1, 64))]
        else:
            blob[pos:pos] = blob[pos : pos + data.draw(st.integers(1, 64))]
    path = tmp_path_factory.mktemp("fuzz") / f"f.{ext}"
    path.write_bytes(bytes(blob))
    try:
        if ext in ("pdf", "docx"):
            for page in pages(str(path), 64):
                assert page.number >= 1
        else:
            tensor, _ = prepare(str(path), VisionSpec(image_size=32))
            assert tensor.shape == (3, 32, 32) and np.isfinite(tensor).all()
    except DecodeError:
        pass


def test_storm_of_new_files_while_searching(library: Library, photos: Path) -> None:
    """Many files land at once in a watched folder: each is embedded once, memory stays
    bounded, and queries keep answering meanwhile (p95 printed)."""
    import resource

    count = int(os.environ.get("LANTERNA_STORM_FILES", "600"))
    staging = photos.parent / "staging"
    blobs = {}
    for colour in COLOURS:
        tmp = staging / f"{colour}.png"
        write(tmp, colour, size=(32, 32))
        blobs[colour] = tmp.read_bytes()
    library.add_folders([photos])
    library.embedder.embed_query("warm up")
    stop = threading.Event()
    thread = threading.Thread(target=library.watch, args=(stop,), daemon=True)
    thread.start()
    while library.watcher is None:
        time.sleep(0.01)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(count):  # distinct bytes per file: no copy is a duplicate of another
        colour = COLOURS[i % 8]
        (photos / f"s{i:05}.png").write_bytes(blobs[colour] + i.to_bytes(4, "big"))
    latencies = []
    deadline = time.monotonic() + 240
    while library.store.counts()["indexed"] < count and time.monotonic() < deadline:
        start = time.perf_counter()
        library.search(Query(text="red", k=10))
        latencies.append(time.perf_counter() - start)
        time.sleep(0.05)
    stop.set()
    thread.join(30)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert library.store.counts()["indexed"] == count
    assert library.embedder.stats.images == count
    p95 = float(np.percentile(latencies, 95)) * 1000 if latencies else 0.0
    print(
        f"\nstorm: {count} files, {len(latencies)} queries while indexing, "
        f"p95 {p95:.1f} ms, peak RSS grew {(rss_after - rss_before) / 1024:.0f} MB"
    )
    assert (rss_after - rss_before) < 1024 * 1024  # KiB: well under 1 GB whatever the count


# -- the writer, readers and faults told apart ----------------------------------------------


def test_a_search_never_takes_the_writer_lock(
    data_dir: Path, toy_model: Path, photos: Path
) -> None:
    """Case 2: the first process to load the model wrote the model identity and so took the
    writer lock: `lanterna watch` starting on a new index died while a search ran."""
    write(photos / "a.jpg", "red")
    with Library(data_dir, toy_model, device="cpu") as setup:
        setup.add_folders([photos])  # a new index, no model identity recorded yet
    searcher = Library(data_dir, toy_model, device="cpu")
    try:
        assert searcher.search(Query(text="red")) == []  # loads the model on an empty index
        assert searcher.status()["model"] is not None
        with Library(data_dir, toy_model, device="cpu") as writer:
            assert writer.index().run.embedded == 1
            assert writer.store.meta()["model_id"] == writer.embedder.model.id
            assert searcher.search(Query(text="red"))[0].path == str(photos / "a.jpg")
            # the writer holds its lock for its life, idle or not
            with (
                Library(data_dir, toy_model, device="cpu") as second,
                pytest.raises(IndexError_, match="another Lanterna"),
            ):
                second.index()
        assert not searcher.store.is_writer
    finally:
        searcher.close()


def _unprivileged(script: str, *args: str) -> dict[str, object]:
    """Run ``script`` where permissions apply: as root, in a user namespace without
    capabilities (root's files are then the caller's own, and mode 000 means no access)."""
    import shutil

    cmd = [sys.executable, "-c", script, *args]
    if os.geteuid() == 0:
        unshare = shutil.which("unshare")
        if unshare is None or subprocess.run([unshare, "--user", "true"]).returncode != 0:
            pytest.skip("runs as root and cannot drop its capabilities (no user namespaces)")
        cmd = [unshare, "--user", *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


UNREADABLE_FOLDER = """
import json, os, sys
from pathlib import Path
from engine.library import Library
from engine.search import Query
from engine.watcher import Batch
data, model, photos = map(Path, sys.argv[1:4])
album = photos / "album"
a = album / "a.jpg"
out = {}
with Library(data, model, device="cpu") as lib:
    lib.add_folders([photos])
    out["first"] = lib.index().run.embedded
    for mode in (0o600, 0o000):  # files cannot be looked at; the folder cannot be listed
        os.chmod(album, mode)
        out[f"scan_{mode:o}"] = lib.index().changes.removed
        out[f"event_{mode:o}"] = lib.apply_changes(Batch(paths={str(a)})).removed
        out[f"kept_{mode:o}"] = str(a) in lib.store.files_by_path([str(a)])
        os.chmod(album, 0o755)
    out["vectors"] = lib.store.counts()["vectors"]
    out["found"] = lib.search(Query(image=str(a), k=1))[0].path == str(a)
print(json.dumps(out))
"""


def test_an_unreadable_folder_is_not_a_deleted_one(
    data_dir: Path, toy_model: Path, photos: Path
) -> None:
    """Case 6: a folder made unreadable (EACCES) was taken for deleted: an existing, unchanged
    file vanished from search (at a scan, and at a watcher's event)."""
    write(photos / "album" / "a.jpg", "red", seed=1)
    write(photos / "b.jpg", "blue", seed=2)
    out = _unprivileged(UNREADABLE_FOLDER, str(data_dir), str(toy_model), str(photos))
    assert out["first"] == 2
    for mode in ("600", "0"):
        assert (out[f"scan_{mode}"], out[f"event_{mode}"], out[f"kept_{mode}"]) == (0, 0, True)
    assert out["vectors"] == 2 and out["found"] is True


TRANSIENT_ERROR = """
import json, os, sys, threading, time
from pathlib import Path
import engine.library, engine.store
from engine.library import Library
from engine.search import Query
data, model, photos, copy = map(Path, sys.argv[1:5])
a = photos / "a.jpg"
out = {}
with Library(data, model, device="cpu") as lib:
    lib.add_folders([photos])
    lib.index()
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # changed: read it again
    os.chmod(a, 0)
    run = lib.index().run
    out["run"] = [getattr(run, "retrying", None), run.errors]
    row = lib.file_info(str(a))
    out["row"] = [row.status, row.error]
    out["vectors"] = lib.store.counts()["vectors"]
    out["found"] = lib.search(Query(image=str(copy), k=1))[0].path == str(a)
    out["status"] = lib.status(load_model=False).get("retrying")
    os.chmod(a, 0o644)
    out["not_yet"] = lib.index().run.done  # the retry waits for its time
    later = time.time() + getattr(engine.store, "RETRY_BASE_S", 0) + 1
    getattr(lib.store, "requeue_due", lambda now: 0)(now=later)  # time passes
    run = lib.index().run
    out["later"] = [run.unchanged, run.embedded]
    row = lib.file_info(str(a))
    out["after"] = [row.status, row.error]
    # the same in a running watch: a short backoff, tried again by itself
    engine.store.RETRY_BASE_S = 0.3
    engine.library.RETRY_CHECK_S = 0.1
    stop = threading.Event()
    thread = threading.Thread(target=lib.watch, args=(stop,))
    thread.start()
    while lib.watcher is None:
        time.sleep(0.01)
    os.chmod(a, 0)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    deadline = time.monotonic() + 30
    while lib.file_info(str(a)).error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    out["watch_error"] = lib.file_info(str(a)).error
    os.chmod(a, 0o644)
    while lib.file_info(str(a)).error is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    out["watch_after"] = [lib.file_info(str(a)).status, lib.file_info(str(a)).error]
    stop.set()
    thread.join(30)
print(json.dumps(out))
"""


def test_a_transient_read_error_keeps_the_vectors_and_is_retried(
    data_dir: Path, toy_model: Path, photos: Path, tmp_path: Path
) -> None:
    """Case 8: a transient read error deleted the file's vectors, and the file was not tried
    again while unchanged."""
    a = write(photos / "a.jpg", "red", seed=1)
    write(photos / "b.jpg", "blue", seed=2)
    copy = tmp_path / "a-copy.jpg"
    copy.write_bytes(a.read_bytes())
    out = _unprivileged(TRANSIENT_ERROR, str(data_dir), str(toy_model), str(photos), str(copy))
    assert out["run"] == [1, 0]
    assert out["row"] == ["indexed", "permission denied"]
    assert out["vectors"] == 2 and out["found"] is True and out["status"] == 1
    assert out["not_yet"] == 0
    assert out["later"] == [1, 0]
    assert out["after"] == ["indexed", None]
    assert out["watch_error"] == "permission denied"
    assert out["watch_after"] == ["indexed", None]


@pytest.mark.expect_log_errors("the index is damaged", "the index was damaged")
def test_a_missing_keyword_table_is_damage_not_no_hits(library: Library, photos: Path) -> None:
    """Case 13: keyword search turned any SQL error, a missing FTS table included, into "no
    hits". Now it is a damaged index: set aside, rebuilt with the folders kept."""
    (photos / "notes.txt").write_text("the zebra crossing near the old mill", encoding="utf-8")
    write(photos / "a.jpg", "red")
    library.add_folders([photos])
    library.index()
    conn = db.connect(library.store.path)
    conn.execute("DROP TABLE fts_text")
    conn.close()
    with pytest.raises(IndexDamagedError, match="a copy is kept"):
        library.search(Query(text="zebra"))
    assert [f.path for f in library.folders()] == [str(photos)]
    assert library.index().run.embedded == 2
    assert Path(library.search(Query(text="zebra"))[0].path).name == "notes.txt"
    assert library.search(Query(text="zebra!!")) is not None  # odd punctuation: no error


def _run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "--device", "cpu", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_damaged_page_met_by_a_search_is_set_aside_and_rebuilt(
    tmp_path: Path, toy_model: Path
) -> None:
    """Case 10: with 4 KB of index.db overwritten, every search crashed with "vectors blob
    read error" while `status` and `index` said all was well."""
    photos = tmp_path / "photos"
    for i in range(40):
        write(photos / f"p{i:02}.png", COLOURS[i % 8], seed=i, size=(48, 48))
    data = tmp_path / "data"
    env = {**os.environ, "LANTERNA_DATA_DIR": str(data), "LANTERNA_MODEL_DIR": str(toy_model)}
    assert "40 embedded" in _run_cli(env, "index", str(photos)).stdout
    assert _run_cli(env, "status").returncode == 0  # the weekly quick check runs here, and passes
    index = data / "index.db"
    assert not Path(str(index) + "-wal").exists()  # all of it is in the main file
    with open(index, "r+b") as fh:  # the middle of the file: the vectors' chunk
        fh.seek(index.stat().st_size // 2 // 4096 * 4096)
        fh.write(bytes([0xA5]) * 4096)
    hurt = _run_cli(env, "search", "red", "--json")
    assert hurt.returncode == 1, hurt.stdout
    assert "damaged" in hurt.stderr and "Traceback" not in hurt.stderr, hurt.stderr
    assert any(p.name.startswith("index.db.corrupt-") for p in data.iterdir())
    assert str(photos) in _run_cli(env, "folders", "list").stdout  # folders kept
    assert "40 embedded" in _run_cli(env, "index").stdout
    found = json.loads(_run_cli(env, "search", "--image", str(photos / "p03.png"), "--json").stdout)
    assert found[0]["path"] == str(photos / "p03.png")
    assert json.loads(_run_cli(env, "status", "--json").stdout)["files"]["indexed"] == 40


@pytest.mark.expect_log_errors("the index is damaged", "the index was damaged")
def test_damage_found_by_a_reader_is_rebuilt_by_the_running_writer(
    library: Library, photos: Path, data_dir: Path, toy_model: Path
) -> None:
    """A search in another process cannot rebuild an index that a watch is updating: it leaves
    a note, and the watch rebuilds at once (folders kept), without being restarted."""
    (photos / "notes.txt").write_text("the zebra crossing near the old mill", encoding="utf-8")
    library.add_folders([photos])
    stop = threading.Event()
    thread = threading.Thread(target=library.watch, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while library.store.counts()["indexed"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        conn = db.connect(library.store.path)
        conn.execute("DROP TABLE fts_text")
        conn.close()
        with (
            Library(data_dir, toy_model, device="cpu") as reader,
            pytest.raises(IndexDamagedError, match="no such table") as raised,
        ):
            reader.search(Query(text="zebra"))
        assert "being rebuilt" in raised.value.hint
        while library.store.recovered is None or library.store.counts()["indexed"] < 1:
            assert time.monotonic() < deadline + 30, "the watch did not rebuild the index"
            time.sleep(0.05)
        assert Path(library.search(Query(text="zebra"))[0].path).name == "notes.txt"
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
