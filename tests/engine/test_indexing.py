"""End to end on the real parts: toy ONNX towers, SQLite + sqlite-vec, real files."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import ModelMismatchError
from engine.indexer import Progress
from engine.library import Library
from engine.search import Query
from tests.images import picture, write

COLOURS8 = ["red", "green", "blue", "yellow", "black", "white", "orange", "purple"]

QUERIES = {
    "red": ["a red car", "une voiture rouge", "ein rotes Auto", "赤い車", "красная машина"],
    "green": ["green meadow", "prairie verte", "grüne Wiese", "绿色的草地", "зелёный луг"],
    "blue": ["blue sky", "ciel bleu", "blauer Himmel", "青い空", "cielo azul"],
    "yellow": ["yellow flowers", "fleurs jaunes", "gelbe Blumen", "黄色い花", "flores amarillas"],
}


def _top(lib: Library, text: str, **kw: object) -> list[str]:
    return [Path(r.path).stem for r in lib.search(Query(text=text, **kw))]  # type: ignore[arg-type]


@pytest.fixture
def indexed(library: Library, photos: Path) -> Library:
    for i, colour in enumerate(COLOURS8):
        write(photos / f"{colour}.jpg", colour, seed=i)
    library.add_folders([photos])
    report = library.index()
    assert report.run.embedded == len(COLOURS8)
    assert report.run.errors == 0
    return library


def test_multilingual_text_queries_find_the_right_photo(indexed: Library) -> None:
    for colour, queries in QUERIES.items():
        for text in queries:
            assert _top(indexed, text)[0] == colour, text


def test_results_are_grouped_per_file_and_scored(indexed: Library) -> None:
    results = indexed.search(Query(text="red", k=5, show_all=True))
    assert len(results) == 5
    assert len({r.path for r in results}) == 5
    assert all(r.kind == "image" and r.item == 1 for r in results)
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert -1.0 <= scores[-1] <= scores[0] <= 1.0


def test_image_query_finds_its_near_duplicates(library: Library, photos: Path) -> None:
    original = write(photos / "beach.png", "blue", seed=1, size=(800, 600))
    copy = photos / "beach-small.jpg"
    Image.open(original).resize((400, 300)).save(copy, quality=70)
    for seed in range(2, 6):
        write(photos / f"other-blue-{seed}.png", "blue", seed=seed, size=(800, 600))
    library.add_folders([photos])
    library.index()
    results = library.search(Query(image=str(original), k=3))
    assert [Path(r.path).name for r in results[:2]] == ["beach.png", "beach-small.jpg"]
    assert results[0].score > 0.999
    similar = library.similar(str(original))
    assert Path(similar[0].path).name == "beach-small.jpg"
    assert all(Path(r.path).name != "beach.png" for r in similar)


def test_text_and_image_combined(indexed: Library, photos: Path) -> None:
    red = str(photos / "red.jpg")
    both = indexed.search(Query(text="yellow", image=red, k=8))
    names = [Path(r.path).stem for r in both]
    assert set(names[:2]) == {"red", "yellow"}


def test_move_rename_touch_delete_and_copy(library: Library, photos: Path) -> None:
    a = write(photos / "a.jpg", "red", seed=1)
    write(photos / "b.jpg", "green", seed=2)
    library.add_folders([photos])
    library.index()
    stats = library.embedder.stats
    assert stats.images == 2

    # touch: new mtime, same content -> nothing re-embedded
    os.utime(a, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    report = library.index()
    assert report.changes.changed == 1 and report.run.unchanged == 1
    assert stats.images == 2

    # rename and move into a subfolder while "closed" -> keeps its vectors
    (photos / "sub").mkdir()
    a.rename(photos / "sub" / "renamed.jpg")
    report = library.index()
    assert report.changes.moved == 1 and report.changes.removed == 0
    assert stats.images == 2
    assert Path(library.search(Query(text="red", k=1))[0].path).name == "renamed.jpg"

    # an identical copy gets the vectors of its twin
    shutil.copy(photos / "b.jpg", photos / "b-copy.jpg")
    report = library.index()
    assert report.run.duplicates == 1
    assert stats.images == 2

    # changed content -> re-embedded once
    write(photos / "b.jpg", "blue", seed=3)
    library.index()
    assert stats.images == 3
    assert Path(library.search(Query(text="blue", k=1))[0].path).name == "b.jpg"

    # delete -> gone from results and from the vector table
    (photos / "b.jpg").unlink()
    report = library.index()
    assert report.changes.removed == 1
    assert all(Path(r.path).name != "b.jpg" for r in library.search(Query(text="blue")))
    counts = library.store.counts()
    assert counts["vectors"] == counts["items"] == 2


def test_bad_files_are_recorded_and_indexing_goes_on(library: Library, photos: Path) -> None:
    write(photos / "good.jpg", "red")
    (photos / "empty.jpg").write_bytes(b"")
    (photos / "garbage.png").write_bytes(os.urandom(4096))
    full = photos / "whole.jpg"
    write(full, "green", size=(640, 480))
    (photos / "truncated.jpg").write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    # a PNG header claiming 30000×30000 pixels: refused before any pixel is decoded
    bomb = photos / "bomb.png"
    Image.new("1", (30000, 30000)).save(bomb, optimize=True)
    library.add_folders([photos])
    report = library.index()
    assert report.run.embedded == 2
    assert report.run.errors == 4
    errors = {Path(r.path).name: r.error for r in library.store.errors()}
    assert set(errors) == {"empty.jpg", "garbage.png", "truncated.jpg", "bomb.png"}
    assert all(errors.values())
    assert "large" in errors["bomb.png"] or "bomb" in errors["bomb.png"]
    # an unchanged broken file is not retried at every scan
    again = library.index()
    assert again.run.errors == 0 and again.changes.changed == 0


def test_hidden_files_excludes_and_symlink_loops(library: Library, photos: Path) -> None:
    write(photos / "visible.jpg", "red")
    write(photos / ".hidden.jpg", "red")
    write(photos / ".thumbnails" / "t.jpg", "red")
    write(photos / "drafts" / "skip.jpg", "red")
    write(photos / "keep" / "k.jpg", "blue")
    (photos / "keep" / "loop").symlink_to(photos, target_is_directory=True)
    (photos / "drafts" / "skip.bin").write_bytes(b"excluded")
    (photos / ".hidden.bin").write_bytes(b"hidden")
    (photos / "clip.bin").write_bytes(b"a file known by its name only")
    library.add_folders([photos])
    library.set_rules(excludes=["drafts"])
    library.index()
    every = library.search(Query(text="red", kind="image", show_all=True))
    assert sorted(Path(r.path).name for r in every) == ["k.jpg", "visible.jpg"]
    assert [Path(r.path).name for r in library.search(Query(text="red"))] == ["visible.jpg"]
    # files Lanterna cannot read are there by name; the same rules keep the others out
    listed = {Path(p).name for p in library.store.files_in_folder(1)}
    assert listed == {"visible.jpg", "k.jpg", "clip.bin"}


def test_filters_kind_folder_and_date(library: Library, photos: Path) -> None:
    old = write(photos / "2019" / "old-red.jpg", "red", seed=1)
    write(photos / "2024" / "new-red.jpg", "red", seed=2)
    os.utime(old, (1_560_000_000, 1_560_000_000))  # June 2019
    library.add_folders([photos])
    library.index()
    in_2024 = library.search(Query(text="red", folder=str(photos / "2024")))
    assert [Path(r.path).name for r in in_2024] == ["new-red.jpg"]
    from engine.search import parse_date

    early = library.search(Query(text="red", date_to=parse_date("2019", end=True)))
    assert [Path(r.path).name for r in early] == ["old-red.jpg"]
    late = library.search(Query(text="red", date_from=parse_date("2020-01-01")))
    assert [Path(r.path).name for r in late] == ["new-red.jpg"]
    assert library.search(Query(text="red", kind="document")) == []
    assert len(library.search(Query(text="red", kind="image"))) == 2


def test_exif_capture_date_is_used(library: Library, photos: Path) -> None:
    img = picture("red")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2001:02:03 04:05:06"
    img.save(photos / "exif.jpg", exif=exif)
    library.add_folders([photos])
    library.index()
    row = next(iter(library.store.files_in_folder(library.folders()[0].id).values()))
    assert row.taken is not None
    assert time.localtime(row.taken)[:3] == (2001, 2, 3)
    assert (row.width, row.height) == (320, 240)


def test_non_utf8_file_name(library: Library, photos: Path) -> None:
    if os.name != "posix":
        pytest.skip("undecodable names are a POSIX matter")
    raw = os.fsencode(str(photos)) + b"/caf\xe9-\xff.jpg"
    picture("yellow").save(os.fsdecode(raw), format="JPEG")
    library.add_folders([photos])
    report = library.index()
    assert report.run.embedded == 1
    hit = library.search(Query(text="yellow", k=1))[0]
    assert os.fsencode(hit.path) == raw


def test_batch_invariance(library: Library, photos: Path) -> None:
    emb = library.embedder
    texts = ["red", "a long sentence about a green meadow under a blue sky in summer", "赤"]
    batched = emb.embed_texts(texts, query=True)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(emb.embed_texts([text], query=True)[0], batched[i], atol=1e-5)
    from engine.preprocess import prepare

    pixels = np.stack(
        [prepare(str(write(photos / f"{c}.png", c)), emb.model.vision)[0] for c in COLOURS8[:3]]
    )
    together = emb.embed_pixels(pixels)
    for i in range(3):
        np.testing.assert_allclose(emb.embed_pixels(pixels[i : i + 1])[0], together[i], atol=1e-5)
    assert together.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_query_prefix_only_for_queries(library: Library) -> None:
    emb = library.embedder
    prefix = emb.model.text.query_prefix
    assert prefix
    ids_query = emb.tokenize(["red"], query=True)["input_ids"]
    ids_doc = emb.tokenize(["red"], query=False)["input_ids"]
    assert ids_query.shape[1] > ids_doc.shape[1]
    long_text = " ".join(["red"] * 5000)
    assert emb.tokenize([long_text], query=False)["input_ids"].shape[1] == emb.model.text.max_tokens


def test_another_model_is_never_mixed(
    library: Library, photos: Path, data_dir: Path, other_toy_model: Path
) -> None:
    write(photos / "a.jpg", "red")
    library.add_folders([photos])
    library.index()
    library.close()
    other = Library(data_dir, other_toy_model, device="cpu")
    try:
        with pytest.raises(ModelMismatchError):
            other.search(Query(text="red"))
        with pytest.raises(ModelMismatchError):
            write(photos / "b.jpg", "blue")
            other.index()
        assert other.store.counts()["vectors"] == 1
        other.reembed()
        report = other.index()
        assert report.run.embedded == 2
        assert other.store.meta()["model_id"] == "lanterna/other-toy"
    finally:
        other.close()


def test_progress_and_cancel_then_resume(library: Library, photos: Path) -> None:
    for i in range(40):
        write(photos / f"p{i:02}.png", COLOURS8[i % 8], seed=i, size=(64, 48))
    library.add_folders([photos])
    cancel = threading.Event()
    seen: list[int] = []

    def progress(p: Progress) -> None:
        if p.stage == "calibrate":  # the model's probes, before the photos
            assert p.total == 16
            return
        seen.append(p.done)
        assert p.total == 40
        if p.done >= 10:
            cancel.set()

    report = library.index(cancel=cancel, progress=progress)
    assert report.run.cancelled
    assert seen == sorted(seen) and seen[0] == 0
    done_first = library.store.counts()["indexed"]
    assert 10 <= done_first < 40
    embedded_first = library.embedder.stats.images
    report = library.index()
    assert not report.run.cancelled
    assert library.store.counts()["indexed"] == 40
    # what the cancelled run committed was not embedded again
    assert library.embedder.stats.images == 40 + (embedded_first - done_first)


def test_missing_folder_keeps_its_index(library: Library, tmp_path: Path) -> None:
    drive = tmp_path / "usb"
    write(drive / "a.jpg", "red")
    library.add_folders([drive])
    library.index()
    drive.rename(tmp_path / "unplugged")
    report = library.index()
    assert report.changes.removed == 0
    assert report.problems and "cannot be found" in report.problems[0][1]
    assert library.folders()[0].status == "missing"
    assert library.store.counts()["vectors"] == 1
    (tmp_path / "unplugged").rename(drive)
    report = library.index()
    assert library.folders()[0].status == "ok"
    assert library.embedder.stats.images == 1


def test_vision_self_test_catches_a_tower_that_ignores_its_input(
    library: Library, tmp_path: Path
) -> None:
    import onnxruntime as ort

    from tests.model.helpers import constant_vision_graph

    emb = library.embedder
    good = emb._ensure_vision()
    assert emb.vision_distinguishes(good)
    spec = emb.model.vision
    path = tmp_path / "constant.onnx"
    import onnx

    onnx.save(constant_vision_graph(emb.model.dim, spec.image_size), str(path))
    broken = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert not emb.vision_distinguishes(broken)
