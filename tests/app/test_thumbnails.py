"""Thumbnails: decoded off the GUI thread, EXIF-rotated, cached on disk, pruned."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PIL import Image

from app.thumbnails import ThumbnailCache, load_thumbnail, prune
from tests.images import picture, write


def rotated_jpeg(path: Path) -> Path:
    """A 320×240 JPEG whose EXIF says "rotate 90° clockwise to view" (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    picture("green", 1, (320, 240)).save(path, exif=exif)
    return path


def test_exif_rotation_and_disk_cache(tmp_path: Path) -> None:
    source = rotated_jpeg(tmp_path / "portrait.jpg")
    cache = tmp_path / "cache"
    image = load_thumbnail(str(source), 256, cache)
    assert image is not None
    assert (image.width(), image.height()) == (192, 256)  # upright, fitted in 256
    cached = list(cache.glob("*/*.jpg"))
    assert len(cached) == 1
    again = load_thumbnail(str(source), 256, cache)  # from the cache now
    assert again is not None and (again.width(), again.height()) == (192, 256)
    os.utime(source, ns=(1, 1))  # an edited file gets a new thumbnail
    load_thumbnail(str(source), 256, cache)
    assert len(list(cache.glob("*/*.jpg"))) == 2


def test_unreadable_files_have_no_thumbnail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    assert load_thumbnail(str(bad), 128, tmp_path / "cache") is None
    assert load_thumbnail(str(tmp_path / "missing.jpg"), 128, None) is None


def test_cache_fetches_off_the_gui_thread(qtbot: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "red.png", "red")
    thumbs = ThumbnailCache(tmp_path / "cache")
    assert thumbs.get(str(source), 64) is None  # not yet: it is being fetched
    with qtbot.waitSignal(thumbs.ready, timeout=5000) as blocker:
        pass
    assert blocker.args == [str(source)]
    pixmap = thumbs.get(str(source), 64)
    assert pixmap is not None and max(pixmap.width(), pixmap.height()) == 64
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    thumbs.get(str(bad), 64)
    qtbot.waitUntil(lambda: thumbs.failed(str(bad), 64))
    thumbs.wait(5000)


def test_prune_keeps_the_cache_under_its_budget(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for i in range(10):
        f = cache / f"{i:02d}" / f"{i:02d}.jpg"
        f.parent.mkdir(parents=True)
        f.write_bytes(b"x" * 1000)
        os.utime(f, (1000 + i, 1000 + i))
    removed = prune(cache, budget=5000)
    left = sorted(p.name for p in cache.glob("*/*.jpg"))
    assert removed == 6 and left == ["06.jpg", "07.jpg", "08.jpg", "09.jpg"]
