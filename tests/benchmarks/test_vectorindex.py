"""engine.vectorindex: the same answers as an exact search and as Store.knn, filters included."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from engine.bench import synthetic_vectors
from engine.store import Store
from engine.vectorindex import (
    TRAIN_MIN,
    VectorIndex,
    from_arrays,
    from_rows,
    load_vec_items,
)

Floats = npt.NDArray[np.float32]


def unit_rows(n: int, seed: int = 0, dims: int = 256) -> Floats:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dims)).astype(np.float32)
    out: Floats = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def exact(
    data: Floats, ids: npt.NDArray[np.int64], q: Floats, k: int, mask: object = None
) -> list[tuple[int, float]]:
    q = q / np.linalg.norm(q)
    scores = data @ q
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(int(ids[i]), float(1.0 - scores[i])) for i in order if np.isfinite(scores[i])]


def test_small_index_is_exact() -> None:
    data = unit_rows(3000)
    ids = np.arange(10, 3010, dtype=np.int64)
    index = VectorIndex()
    index.add(ids, data, kind="image", folder_id=1, taken=0)
    assert len(index) == 3000
    for q in unit_rows(10, seed=1):
        got = index.search(q, 10)
        want = exact(data, ids, q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([d for _, d in got], [d for _, d in want], atol=2e-3)
        assert [d for _, d in got] == sorted(d for _, d in got)


@pytest.mark.parametrize("precision", ["float16", "float32", "int8"])
def test_recall_on_clustered_data(precision: str) -> None:
    n = 30_000  # large enough for the Hamming stage (not every row is rescored)
    data, queries = synthetic_vectors(n, 40, seed=3)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index = from_arrays(ids, data, precision=precision)  # type: ignore[arg-type]
    assert 2 * index.candidates(n, 10) < n
    hits = []
    for q in queries:
        got = {i for i, _ in index.search(q, 10)}
        hits.append(len(got & {i for i, _ in exact(data, ids, q, 10)}) / 10)
    floor = 0.97 if precision == "int8" else 0.99
    assert float(np.mean(hits)) >= floor


def test_distances_are_one_minus_cosine_and_queries_are_normalised() -> None:
    data = unit_rows(50)
    index = VectorIndex()
    index.add(np.arange(1, 51), data)
    q = data[7] * 3.0  # not unit length: cosine does not care
    best_id, best_distance = index.search(q, 1)[0]
    assert best_id == 8
    assert best_distance == pytest.approx(0.0, abs=2e-3)
    far = index.search(-data[7], 50)[-1]
    assert far[0] == 8 and far[1] == pytest.approx(2.0, abs=2e-3)
    assert all(d == 1.0 for _, d in index.search(np.zeros(256, np.float32), 5))
    with pytest.raises(ValueError):
        index.search(np.ones(3, np.float32), 1)
    assert index.search(q, 0) == []
    assert VectorIndex().search(q, 5) == []


def test_filters_match_the_store_semantics() -> None:
    n = 20_000
    data, queries = synthetic_vectors(n, 10, seed=4)
    ids = np.arange(1, n + 1, dtype=np.int64)
    kinds = np.where(ids % 5 == 0, "document", "image")
    folders = (ids % 3 + 1).astype(np.int64)
    taken = (1_600_000_000 + ids * 1000).astype(np.int64)
    index = from_arrays(ids, data, kind=list(kinds), folder_id=folders, taken=taken)
    cases = [
        ({"kind": "document"}, kinds == "document"),
        ({"kind": ""}, np.ones(n, bool)),  # empty kind: no filter, as in Store.knn
        ({"folder_ids": [2]}, folders == 2),
        ({"folder_ids": [1, 3]}, (folders == 1) | (folders == 3)),
        ({"taken_from": 1_600_000_000 + 15_000_500.7}, taken >= 1_615_000_500),
        ({"taken_to": 1_600_000_000 + 300_000.9}, taken <= 1_600_300_000),
        (
            {"kind": "image", "folder_ids": [3], "taken_from": 1_605_000_000.0},
            (kinds == "image") & (folders == 3) & (taken >= 1_605_000_000),
        ),
    ]
    for args, mask in cases:
        for q in queries[:4]:
            got = [i for i, _ in index.search(q, 10, **args)]  # type: ignore[arg-type]
            want = [i for i, _ in exact(data, ids, q, 10, mask)]
            assert len(set(got) & set(want)) >= 9, args
            assert all(mask[i - 1] for i in got), args
    assert index.search(queries[0], 10, folder_ids=[]) == []
    assert index.search(queries[0], 10, kind="video") == []
    tiny = index.search(queries[0], 10, taken_to=1_600_000_000 + 3000)
    assert sorted(i for i, _ in tiny) == [1, 2, 3]  # fewer matches than k


def test_null_metadata_never_matches_a_filter() -> None:
    data = unit_rows(4)
    index = VectorIndex()
    index.add([1, 2], data[:2], kind=None, folder_id=None, taken=None)
    index.add([3, 4], data[2:], kind="image", folder_id=7, taken=100)
    q = data[0]
    assert {i for i, _ in index.search(q, 10)} == {1, 2, 3, 4}
    assert {i for i, _ in index.search(q, 10, kind="image")} == {3, 4}
    assert {i for i, _ in index.search(q, 10, folder_ids=[7])} == {3, 4}
    assert {i for i, _ in index.search(q, 10, taken_to=1000)} == {3, 4}
    assert {i for i, _ in index.search(q, 10, taken_from=0)} == {3, 4}


def test_add_replace_remove() -> None:
    data = unit_rows(600, seed=5)
    index = VectorIndex()
    index.add(np.arange(1, 501), data[:500], kind="image", folder_id=1)
    assert len(index) == 500
    # replacing id 5 with another vector: the old one is gone, the new one is found
    index.add([5], data[500:501], kind="document", folder_id=2)
    assert len(index) == 500
    assert index.search(data[500], 1) == [(5, pytest.approx(0.0, abs=2e-3))]
    assert index.search(data[4], 1)[0][0] != 5
    assert index.search(data[500], 1, kind="document")[0][0] == 5
    # a repeated id in one batch: the last one wins
    index.add([900, 900], data[501:503])
    assert index.search(data[502], 1)[0][0] == 900
    assert len(index) == 501
    # removal, unknown ids ignored, removed ids never come back
    assert index.remove([1, 2, 3, 12345]) == 3
    assert index.remove([1]) == 0
    assert len(index) == 498
    found = {i for i, _ in index.search(data[0], 600)}
    assert found.isdisjoint({1, 2, 3}) and len(found) == 498
    # a removed id can be added again
    index.add([2], data[1:2])
    assert index.search(data[1], 1)[0][0] == 2
    assert 2 in set(index.ids().tolist())


def test_out_of_order_ids_and_compaction() -> None:
    data = unit_rows(5000, seed=6)
    ids = np.random.default_rng(0).permutation(np.arange(1, 5001))
    index = VectorIndex()
    for start in range(0, 5000, 700):
        index.add(ids[start : start + 700], data[start : start + 700])
    assert np.array_equal(index.ids(), np.arange(1, 5001))
    removed = ids[:3000]
    assert index.remove(removed) == 3000  # enough to compact
    assert index._dead == 0 and len(index) == 2000
    keep = ids[3000:]
    for row in (3000, 4000, 4999):
        assert index.search(data[row], 1)[0][0] == int(ids[row])
    assert set(index.ids().tolist()) == set(keep.tolist())


def test_folder_changes() -> None:
    data = unit_rows(20, seed=7)
    index = VectorIndex()
    index.add(np.arange(1, 21), data, folder_id=[1] * 10 + [2] * 10)
    index.set_folder([1, 2], 3)
    assert {i for i, _ in index.search(data[0], 20, folder_ids=[3])} == {1, 2}
    index.replace_folder(2, 1)
    assert len(index.search(data[0], 20, folder_ids=[1])) == 18
    assert index.search(data[0], 20, folder_ids=[2]) == []
    index.clear()
    assert len(index) == 0 and index.search(data[0], 5) == []


def test_incremental_adds_train_the_codes() -> None:
    n = 3 * TRAIN_MIN
    data, queries = synthetic_vectors(n, 20, seed=8)
    ids = np.arange(1, n + 1, dtype=np.int64)
    index = VectorIndex()
    for start in range(0, n, 64):  # as the indexer does: small batches
        index.add(ids[start : start + 64], data[start : start + 64], kind="image")
    trained = index._trained_at
    assert trained >= 2 * TRAIN_MIN  # re-centred as it doubled
    assert np.allclose(index._center, data[:trained].mean(axis=0), atol=1e-3)
    hits = [
        len({i for i, _ in index.search(q, 10)} & {i for i, _ in exact(data, ids, q, 10)}) / 10
        for q in queries
    ]
    assert float(np.mean(hits)) >= 0.99


def test_concurrent_adds_and_searches() -> None:
    data, queries = synthetic_vectors(12_000, 8, seed=9)
    index = VectorIndex()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for start in range(0, 12_000, 100):
                index.add(np.arange(start + 1, start + 101), data[start : start + 100])
                if start % 1000 == 0:
                    index.remove([start + 1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    while thread.is_alive():
        for q in queries:
            for item_id, distance in index.search(q, 5):
                assert 1 <= item_id <= 12_000 and -1e-3 <= distance <= 2.001
    thread.join()
    assert not errors
    assert len(index) == 12_000 - 12


def test_memory_per_vector() -> None:
    assert VectorIndex(precision="float16").bytes_per_vector == 602
    assert VectorIndex(precision="int8").bytes_per_vector == 350
    index = VectorIndex()
    index.add(np.arange(1, 1001), unit_rows(1000))
    assert index.nbytes >= 1000 * index.bytes_per_vector


def test_same_answers_as_store_knn(tmp_path: Path) -> None:
    """Loaded from a real index's vec_items, it answers like Store.knn (sqlite-vec)."""
    from engine.bench import _fill, _filter_args

    n = 2000
    data, queries = synthetic_vectors(n, 5, seed=10)
    store = Store(tmp_path / "index.db")
    try:
        folder_ids = [store.add_folder(f"/photos/{i}") for i in range(4)]
        _fill(store, data, first_id=1, folder_ids=folder_ids)
        with store.write() as conn:  # some documents, to filter on kind
            conn.execute("UPDATE vec_items SET kind='document/image' WHERE item_id % 7 = 0")
        index = load_vec_items(store.reader())
        assert len(index) == n
        filters = [
            {},
            {"kind": "document"},
            _filter_args(folder_ids),
            {"taken_to": 1_400_000_000.5},
        ]
        for q in queries:
            for args in filters:
                want = store.knn(q, 25, **args)
                # vec_items.kind holds the file's kind and the item's type ("image/image")
                kind = args.get("kind")
                both = {**args, "kind": f"{kind}/image"} if kind else args
                got = index.search(q, 25, **both)
                assert [i for i, _ in got] == [i for i, _ in want], args
                assert np.allclose([d for _, d in got], [d for _, d in want], atol=2e-3)
    finally:
        store.close()


def test_from_rows_accepts_nulls() -> None:
    data = unit_rows(3)
    rows = [
        (1, data[0].tobytes(), "image", 1, 10),
        (2, data[1].tobytes(), None, None, None),
        (3, data[2].tobytes(), "document", 2, 20),
    ]
    index = from_rows(rows)
    assert len(index) == 3
    assert {i for i, _ in index.search(data[1], 3, kind="image")} == {1}
    assert {i for i, _ in index.search(data[1], 3, taken_from=0)} == {1, 3}
