"""Text in pictures, through the whole engine: index, search, status, the setting, resuming."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import db
from engine.indexer import Progress
from engine.library import Library
from engine.migrations import LATEST, MIGRATIONS
from engine.ocrindex import OcrIndexer
from engine.search import Query
from tests import ocr_images
from tests.images import write

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder as people have them: photos, a photographed receipt, a screenshot, a scan."""
    folder = tmp_path / "mixed"
    ocr_images.receipt(folder / "IMG_2041.jpg")
    ocr_images.screenshot(folder / "Screenshot 2024-05-02.png")
    ocr_images.photo_without_text(folder / "hills.jpg")
    ocr_images.scanned_letter(folder / "scan0001.pdf")
    for i, colour in enumerate(["red", "blue"]):
        write(folder / f"{colour}.jpg", colour, seed=i)
    return folder


@pytest.fixture
def lib(data_dir: Path, toy_model: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    monkeypatch.setenv("LANTERNA_OCR", "on")
    library = Library(data_dir, toy_model, device="cpu", quiet=0.3)
    yield library
    library.close()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_finds_the_receipt_by_its_invoice_number_first(
    tmp_path: Path, toy_model: Path, mixed: Path
) -> None:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(tmp_path / "d"),
        "LANTERNA_MODEL_DIR": str(toy_model),
        "LANTERNA_OCR": "on",
    }
    cli("index", str(mixed), env=env)
    hits = json.loads(cli("search", "INV-2024-0042", "--json", env=env).stdout)
    assert hits[0]["path"] == str(mixed / "IMG_2041.jpg")
    assert hits[0]["text_in_image"] == f"Invoice {ocr_images.INVOICE}"
    shown = cli("search", "INV-2024-0042", "-k", "1", env=env).stdout
    assert f"text in the image: “Invoice {ocr_images.INVOICE}”" in shown

    scan = json.loads(cli("search", "Quixotic", "--json", env=env).stdout)
    assert scan[0]["path"] == str(mixed / "scan0001.pdf") and scan[0]["item"] == 1
    assert "Quixotic" in scan[0]["text_in_image"]

    status = json.loads(cli("status", "--json", env=env).stdout)["ocr"]
    assert status["enabled"] and status["unavailable"] is None
    assert status["images_with_text"] == 2  # the receipt and the screenshot, not the photos
    assert status["document_pages_with_text"] == 1
    assert status["pending"] == 0
    assert "images with text: 2" in cli("status", env=env).stdout


def test_search_marks_the_line_and_its_box(lib: Library, mixed: Path) -> None:
    lib.add_folders([mixed])
    lib.index()
    (hit,) = lib.search(Query(text="connection refused", k=1))
    assert hit.path.endswith("Screenshot 2024-05-02.png")
    assert hit.source == "ocr" and hit.line == "Error: connection refused"
    (box,) = hit.boxes
    left, top, right, bottom = box
    assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
    # the screenshot is upside down: its second line of text is in the lower half
    assert top > 0.5
    # an image hit that is not about text says nothing of text
    colour = lib.search(Query(text="red", k=10))
    red = next(r for r in colour if r.path.endswith("red.jpg"))
    assert red.source is None and red.line is None and red.boxes == ()


def test_photos_without_text_get_no_recognition(lib: Library, mixed: Path) -> None:
    lib.add_folders([mixed])
    lib.index()
    stats = lib.ocr_worker().stats
    # five pictures and one scanned page looked at; three held text
    assert stats.gate_passes == 6
    assert stats.full_passes == 3
    counts = lib.store.ocr_counts()
    assert counts["files_read"] == 6 and counts["images_with_text"] == 2


def test_turning_ocr_off_and_on_never_reruns_the_vision_tower(lib: Library, mixed: Path) -> None:
    lib.add_folders([mixed])
    lib.index()
    images = lib.embedder.stats.images
    vectors = lib.store.counts()["vectors"]
    assert lib.search(Query(text="INV-2024-0042", k=1))[0].path.endswith("IMG_2041.jpg")

    dropped = lib.set_ocr(False)
    assert dropped > 0 and not lib.ocr_enabled()
    lib.index()
    assert lib.store.counts()["vectors"] == vectors - dropped
    hits = lib.search(Query(text="INV-2024-0042", k=3))
    assert all(h.source is None for h in hits)
    assert lib.status(load_model=False)["ocr"]["pending"] == 0

    lib.set_ocr(True)
    lib.index()
    assert lib.store.counts()["vectors"] == vectors
    assert lib.search(Query(text="INV-2024-0042", k=1))[0].source == "ocr"
    assert lib.embedder.stats.images == images  # no picture was embedded again


def test_reading_resumes_where_it_stopped(lib: Library, mixed: Path) -> None:
    lib.set_ocr(False)
    lib.add_folders([mixed])
    lib.index()  # vectors only
    lib.store.set_setting("ocr", True)
    cancel = threading.Event()
    seen: list[Progress] = []

    def progress(p: Progress) -> None:
        seen.append(p)
        if p.stage == "text" and p.done >= 2:
            cancel.set()  # as if the app were closed here

    lib.read_text(cancel=cancel, progress=progress)
    assert lib.store.ocr_counts()["files_read"] == 2
    worker = lib.ocr_worker()
    before = worker.stats.pictures
    run = lib.read_text()
    assert run.files == 4 and worker.stats.pictures - before == 4  # only the rest
    assert seen[-1].total == 6 and seen[-1].stage == "text"
    assert lib.store.count_ocr_pending(("image", "document")) == 0


def test_new_files_come_before_reading_text(lib: Library, mixed: Path) -> None:
    lib.add_folders([mixed])
    lib.scan()
    embedded = lib.embed_pending(cancel=None)
    assert embedded.embedded == 6
    stage = OcrIndexer(lib.store, lib.embedder, lib.ocr_worker())
    lib.store.drop_ocr()
    run = stage.run(give_way=lambda: True)
    assert run.gave_way and run.files == 0


def test_a_changed_picture_is_read_again_and_a_copy_is_not(
    lib: Library, mixed: Path, tmp_path: Path
) -> None:
    lib.add_folders([mixed])
    lib.index()
    worker = lib.ocr_worker()
    receipt = mixed / "IMG_2041.jpg"
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(receipt, other / "copy.jpg")
    lib.add_folders([other])
    pictures = worker.stats.pictures
    lib.index()
    assert worker.stats.pictures == pictures  # the copy got the original's text, not a reading
    hits = lib.search(Query(text="INV-2024-0042", k=5))
    paths = {h.path for h in hits if h.line and ocr_images.INVOICE in h.line}
    assert paths == {str(receipt), str(other / "copy.jpg")}

    ocr_images.screenshot(receipt, upside_down=False)  # other content under the same name
    os.utime(receipt, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    lib.index()
    assert worker.stats.pictures == pictures + 1
    hits = lib.search(Query(text="INV-2024-0042", k=5))
    assert {h.path for h in hits if h.line and ocr_images.INVOICE in h.line} == {
        str(other / "copy.jpg")
    }
    proxy = lib.search(Query(text="gateway.example", k=1))
    assert proxy[0].source == "ocr"


def test_unreadable_text_is_one_line_and_the_file_stays_findable(
    lib: Library, tmp_path: Path
) -> None:
    folder = tmp_path / "p"
    ocr_images.screenshot(folder / "a.png")
    lib.add_folders([folder])
    lib.scan()
    lib.embed_pending()
    lib.store.drop_ocr()
    lib.ocr_worker().timeout = 0.01  # every reading overruns (after the models load)
    lib.ocr_worker().provider()
    run = lib.read_text()
    assert run.errors == 1 and run.files == 1
    status = lib.status(load_model=False)
    assert status["ocr"]["errors"] == 1 and status["ocr"]["pending"] == 0
    assert status["files"]["indexed"] == 1  # the picture keeps its vector
    assert lib.search(Query(text="a", k=5, show_all=True))


def test_migration_to_v5_keeps_existing_items(tmp_path: Path) -> None:
    path = tmp_path / "index.db"
    conn = db.connect(path)
    for step in MIGRATIONS[:4]:  # the schema before OCR (step 5)
        step(conn)
    conn.execute("PRAGMA user_version=4")
    conn.execute("INSERT INTO folders(path, added) VALUES(x'2f70', 0)")
    conn.execute(
        "INSERT INTO files(folder_id, path, name, size, mtime_ns, kind, status) "
        "VALUES(1, x'2f702f612e706466', 'a.pdf', 1, 1, 'document', 'indexed')"
    )
    conn.execute("INSERT INTO items(file_id, page, type, text) VALUES(1, 1, 'text', 'hello')")
    conn.close()
    from engine.store import Store

    store = Store(path)
    try:
        rows = store.reader().execute("SELECT text, source, boxes FROM items").fetchall()
        assert rows == [("hello", None, None)]
        assert store.ocr_counts()["files_read"] == 0
        assert db.user_version(store.reader()) == LATEST
    finally:
        store.close()


def test_text_is_written_only_for_the_content_that_was_read(tmp_path: Path) -> None:
    """A file re-embedded (new content) while its old content was being read gets nothing."""
    from dataclasses import replace

    import numpy as np

    from engine.store import Indexed, ItemVector, Store

    store = Store(tmp_path / "index.db")
    try:
        folder_id = store.add_folder(str(tmp_path / "p"))
        path = str(tmp_path / "p" / "a.jpg")
        store.add_files([(folder_id, path, 10, 1, "image")])
        row = store.files_by_path([path])[path]
        vec = np.zeros(256, dtype=np.float32)
        vec[0] = 1.0
        store.store_indexed(
            [Indexed(row, [ItemVector(1, "image", vec)], digest="old", size=10, mtime_ns=1)]
        )
        (pending,) = store.ocr_pending(10, ("image",))
        passage = ItemVector(1, "text", vec, text="Invoice 42", source="ocr", boxes="{}")
        assert not store.store_ocr(replace(pending, hash="older"), [passage], lines=1, pages=1)
        assert store.ocr_counts()["files_read"] == 0 and store.ocr_items(row.id) == []
        assert store.store_ocr(pending, [passage], lines=1, pages=1)
        assert store.ocr_pending(10, ("image",)) == []
        assert [t for _, _, t, _ in store.ocr_items(row.id)] == ["Invoice 42"]
        assert store.keyword('"invoice"', 5, names=False)[0].file_id == row.id
    finally:
        store.close()
