"""The watcher on real watchdog events in temp folders."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.library import Library
from engine.search import Query
from tests.images import picture, write


def wait_for(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the condition")


@pytest.fixture
def watching(library: Library, photos: Path) -> Iterator[Library]:
    library.add_folders([photos])
    stop = threading.Event()
    thread = threading.Thread(target=library.watch, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: library.watcher is not None)
    yield library
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()


def settled(lib: Library) -> Callable[[], bool]:
    return lambda: lib.idle()


def names(lib: Library, text: str) -> list[str]:
    return [Path(r.path).name for r in lib.search(Query(text=text))]


def test_file_written_in_chunks_is_embedded_once(watching: Library, photos: Path) -> None:
    data = photos.parent / "src.jpg"
    picture("red", size=(1600, 1200)).save(data, quality=95)
    payload = data.read_bytes()
    with open(photos / "arriving.jpg", "wb") as fh:
        for start in range(0, len(payload), len(payload) // 8):
            fh.write(payload[start : start + len(payload) // 8])
            fh.flush()
            time.sleep(0.08)
    wait_for(lambda: "arriving.jpg" in names(watching, "red"))
    wait_for(settled(watching))
    time.sleep(0.5)
    assert watching.embedder.stats.images == 1
    assert watching.store.counts()["error"] == 0


def test_watch_follows_create_rename_move_delete(watching: Library, photos: Path) -> None:
    write(photos / "one.jpg", "green", seed=1)
    wait_for(lambda: "one.jpg" in names(watching, "green"))
    stats = watching.embedder.stats
    assert stats.images == 1

    (photos / "one.jpg").rename(photos / "uno.jpg")
    wait_for(lambda: names(watching, "green")[:1] == ["uno.jpg"])

    (photos / "album").mkdir()
    (photos / "uno.jpg").rename(photos / "album" / "uno.jpg")
    wait_for(lambda: watching.store.files_by_path([str(photos / "album" / "uno.jpg")]) != {})

    (photos / "album").rename(photos / "trip")
    wait_for(lambda: watching.store.files_by_path([str(photos / "trip" / "uno.jpg")]) != {})
    wait_for(settled(watching))
    assert stats.images == 1  # every move kept the vectors

    (photos / "trip" / "uno.jpg").unlink()
    wait_for(lambda: watching.store.counts()["vectors"] == 0)


def test_atomic_save_and_touch(watching: Library, photos: Path) -> None:
    target = write(photos / "pic.jpg", "blue", seed=1)
    wait_for(lambda: "pic.jpg" in names(watching, "blue"))
    stats = watching.embedder.stats
    target.touch()
    time.sleep(1.0)
    wait_for(settled(watching))
    assert stats.images == 1
    # an editor's atomic save: write a hidden temp file, then rename it over the target
    tmp = photos / ".pic.jpg.tmp"
    picture("yellow", seed=2).save(tmp, format="JPEG")
    tmp.replace(target)
    wait_for(lambda: stats.images == 2)
    wait_for(settled(watching))
    yellow = watching.search(Query(text="yellow"))[0]
    assert watching.search(Query(text="blue")) == []  # the old content is gone
    blue = watching.search(Query(text="blue", show_all=True))[0]
    assert yellow.path == blue.path == str(target)
    assert yellow.match > 0.5 > blue.match and yellow.score > blue.score + 0.2


def test_new_subfolder_with_files(watching: Library, photos: Path) -> None:
    staging = photos.parent / "staging"
    write(staging / "a.jpg", "purple", seed=1)
    write(staging / "b.jpg", "orange", seed=2)
    staging.rename(photos / "imported")
    wait_for(lambda: watching.store.counts()["indexed"] == 2)
    assert names(watching, "purple")[0] == "a.jpg"
