"""The SQLite layer on real files: migrations, corruption, vectors, folder bookkeeping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import db
from engine.errors import IndexError_
from engine.migrations import LATEST
from engine.store import FileRow, Indexed, ItemVector, Store


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=256).astype(np.float32)
    return v / np.linalg.norm(v)


def test_fresh_index_is_migrated_and_wal(tmp_path: Path) -> None:
    store = Store(tmp_path / "index.db")
    conn = store.reader()
    assert db.user_version(conn) == LATEST
    assert conn.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    assert conn.execute("SELECT vec_version()").fetchall()[0][0].startswith("v")
    store.close()


def test_newer_index_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    Store(path).close()
    conn = db.connect(path)
    conn.execute(f"PRAGMA user_version={LATEST + 1}")
    conn.close()
    with pytest.raises(IndexError_, match="newer"):
        Store(path)


@pytest.mark.expect_log_errors("the index was damaged")
def test_corrupt_index_is_set_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    store = Store(path)
    store.add_folder("/somewhere")
    store.close()
    conn = db.connect(path)
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='files_status'").fetchall()[
        0
    ][0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (page - 1) * 4096
    data[start : start + 4096] = b"\x13" * 4096  # clobber an index page, not the folders table
    path.write_bytes(bytes(data))
    store = Store(path)
    assert store.recovered is not None
    # the watched folders were carried over from the damaged copy
    assert [f.path for f in store.folders()] == ["/somewhere"]
    assert store.recovered.name.startswith("index.db.corrupt-")
    assert store.recovered.stat().st_size == len(data)
    store.close()


def test_vectors_round_trip_and_delete(tmp_path: Path) -> None:
    store = Store(tmp_path / "index.db")
    folder = store.add_folder(str(tmp_path))
    store.add_files([(folder, str(tmp_path / f"{i}.jpg"), 10, 1, "image") for i in range(3)])
    rows = store.pending(10)
    store.store_indexed(
        [
            Indexed(
                file=row,
                items=[ItemVector(1, "image", unit(row.id))],
                digest=f"h{row.id}",
                size=10,
                mtime_ns=1,
            )
            for row in rows
        ]
    )
    assert store.count_pending() == 0
    hits = store.knn(unit(rows[1].id), 3)
    assert hits[0][0] == rows[1].id and abs(hits[0][1]) < 1e-5
    store.delete_files([rows[1].id])
    assert store.counts()["vectors"] == 2
    assert all(h[0] != rows[1].id for h in store.knn(unit(rows[1].id), 3))
    store.close()


def test_absorbing_a_nested_folder_keeps_vectors(tmp_path: Path) -> None:
    store = Store(tmp_path / "index.db")
    child = store.add_folder(str(tmp_path / "a" / "b"))
    store.add_files([(child, str(tmp_path / "a" / "b" / "x.jpg"), 1, 1, "image")])
    row: FileRow = store.pending(1)[0]
    store.store_indexed([Indexed(row, [ItemVector(1, "image", unit(1))], "h", 1, 1)])
    parent = store.add_folder(str(tmp_path / "a"))
    store.absorb_folder(child, parent)
    assert [f.id for f in store.folders()] == [parent]
    assert store.knn(unit(1), 1, folder_ids=[parent])[0][0] == row.id
    assert store.knn(unit(1), 1, folder_ids=[child]) == []
    store.close()


def test_a_change_recorded_meanwhile_wins_over_a_stale_outcome(tmp_path: Path) -> None:
    """Read at one stat, the scanner or watcher records a newer one before the outcome is
    written: a retry, a vanished file, an error or vectors of the old read are not written."""
    store = Store(tmp_path / "index.db")
    folder = store.add_folder(str(tmp_path))
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x" * 10)
    store.add_files([(folder, str(photo), 10, 1, "image")])
    read = store.pending(10)[0]  # what the indexer read: size 10, mtime 1
    store.mark_changed([(read.id, 20, 2)])  # then a newer change was seen
    assert store.mark_retry(read, "permission denied") == "stale"
    assert store.forget_vanished(read) is False
    assert store.mark_error(read, "damaged", size=10, mtime_ns=1) == "stale"
    outcome = store.store_indexed(
        [
            Indexed(
                file=read, items=[ItemVector(1, "image", unit(1))], digest="h", size=10, mtime_ns=1
            )
        ]
    )
    assert outcome == ["stale"]
    row = store.files_by_path([str(photo)])[str(photo)]
    assert (row.status, row.size, row.mtime_ns, row.error) == ("pending", 20, 2, None)
    assert store.counts()["vectors"] == 0 and store.next_retry() is None
    store.close()
