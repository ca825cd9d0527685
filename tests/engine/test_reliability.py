"""Faults a real library meets: killed processes, full disks, vanishing and changing files,
hostile inputs, two instances, a damaged index. Each on real files and a real database."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import db
from engine.documents import pages
from engine.errors import DecodeError, IndexError_
from engine.library import Library
from engine.preprocess import prepare
from engine.search import Query
from engine.store import Store
from tests import documents as make
from tests.images import picture, write

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]


def consistent(index: Path) -> None:
    """Integrity, and every vector has its item and file row, and back."""
    conn = db.connect(index)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        orphans = conn.execute(
            "SELECT count(*) FROM vec_items v LEFT JOIN items i ON i.id = v.item_id "
            "WHERE i.id IS NULL"
        ).fetchall()[0][0]
        missing = conn.execute(
            "SELECT count(*) FROM items i LEFT JOIN vec_items v ON v.item_id = i.id "
            "WHERE v.item_id IS NULL"
        ).fetchall()[0][0]
        empty = conn.execute(
            "SELECT count(*) FROM files f WHERE f.status='indexed' AND f.kind='image' AND "
            "NOT EXISTS (SELECT 1 FROM items i WHERE i.file_id = f.id)"
        ).fetchall()[0][0]
        assert (orphans, missing, empty) == (0, 0, 0)
    finally:
        conn.close()


def test_kill_9_during_indexing_loses_nothing(tmp_path: Path, toy_model: Path) -> None:
    photos = tmp_path / "photos"
    for i in range(120):
        write(photos / f"p{i:03}.jpg", COLOURS[i % 8], seed=i, size=(200, 150))
    data = tmp_path / "data"
    env = {**os.environ, "LANTERNA_DATA_DIR": str(data), "LANTERNA_MODEL_DIR": str(toy_model)}
    cmd = [sys.executable, "-m", "engine", "--device", "cpu", "index", str(photos)]
    rng = random.Random(7)
    for _ in range(int(os.environ.get("LANTERNA_KILL_ROUNDS", "5"))):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        consistent(data / "index.db")
    with Library(data, toy_model, device="cpu") as lib:
        before = lib.store.counts()
        report = lib.index()
        # only what was not committed is embedded now
        assert report.run.embedded == 120 - before["indexed"]
        assert lib.store.counts()["indexed"] == 120
    consistent(data / "index.db")


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
