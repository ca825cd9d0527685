"""The in-memory vector index behind Store.knn stays in step with sqlite-vec through writes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from engine import store_vectors as store_module
from engine.library import Library
from engine.search import Query
from tests.images import write

COLOURS = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]


def sqlite_vec_answer(lib: Library, query: np.ndarray, **filters: object) -> list[int]:
    index, lib.store._vindex = lib.store._vindex, None
    loading, lib.store._vloading = lib.store._vloading, True  # no reload meanwhile
    try:
        return [i for i, _ in lib.store.knn(query, 10, **filters)]  # type: ignore[arg-type]
    finally:
        lib.store._vindex, lib.store._vloading = index, loading


def wait_loaded(lib: Library) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lib.store.knn(np.ones(256, np.float32) / 16, 1)
        if lib.store._vindex is not None and not lib.store._vloading:
            return
        time.sleep(0.05)
    raise AssertionError("the in-memory index never loaded")


def test_memory_index_matches_sqlite_vec_through_changes(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "VINDEX_MIN_VECTORS", 0)
    library.store.memory_index = True
    for i in range(24):
        write(photos / f"p{i:02}.jpg", COLOURS[i % 8], seed=i)
    library.add_folders([photos])
    library.index()
    wait_loaded(library)
    query = library.embedder.embed_query("red")

    def same() -> None:
        st = library.store
        # current, so knn answers from memory (kept in step by the writes, not reloaded)
        assert st._vindex is not None and st._generation(st.reader()) == st._vgen
        fast = [i for i, _ in st.knn(query, 10)]
        assert fast == sqlite_vec_answer(library, query)

    same()
    (photos / "p00.jpg").unlink()  # delete
    (photos / "sub").mkdir()
    (photos / "p08.jpg").rename(photos / "sub" / "moved.jpg")  # move
    write(photos / "p16.jpg", "blue", seed=99)  # change
    shutil.copy(photos / "p01.jpg", photos / "copy.jpg")  # duplicate
    library.index()
    same()
    names = [Path(r.path).name for r in library.search(Query(text="red", k=3))]
    assert "moved.jpg" in names and "p00.jpg" not in names and "p16.jpg" not in names
    folder_ids = [library.folders()[0].id]
    fast = [i for i, _ in library.store.knn(query, 10, kind="image", folder_ids=folder_ids)]
    assert fast == sqlite_vec_answer(library, query, kind="image", folder_ids=folder_ids)
    # the ranking's look-ups by id agree too (fp16 copy vs the stored float32)
    ids = [*fast, 10**9]
    from_memory = library.store.vectors(ids)
    index, library.store._vindex = library.store._vindex, None
    library.store._vloading = True
    from_disk = library.store.vectors(ids)
    library.store._vindex, library.store._vloading = index, False
    assert set(from_memory) == set(from_disk) == set(fast)
    assert all(np.allclose(from_memory[i], from_disk[i], atol=2e-3) for i in fast)


def test_a_write_from_elsewhere_is_noticed(
    library: Library,
    photos: Path,
    data_dir: Path,
    toy_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_module, "VINDEX_MIN_VECTORS", 0)
    library.store.memory_index = True
    for i in range(8):
        write(photos / f"p{i}.jpg", COLOURS[i], seed=i)
    library.add_folders([photos])
    library.index()
    wait_loaded(library)
    library.store._writer_lock.release()  # let a second writer in, as after the app quits
    other = Library(data_dir, toy_model, device="cpu")
    try:
        (photos / "p0.jpg").unlink()
        other.index()
    finally:
        other.close()
    query = library.embedder.embed_query("red")
    # the generation moved on: this answer comes from sqlite-vec, and a reload starts
    ids = [i for i, _ in library.store.knn(query, 10)]
    assert len(ids) == 7
    wait_loaded(library)
    assert [i for i, _ in library.store.knn(query, 10)] == ids
