"""Screenshots of text found in pictures: a receipt found by its invoice number, a scanned letter
found by a word on it, each with the matching line marked on the preview.

Like packaging/screenshots.py (whose helpers it uses), under a display::

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python packaging/screenshot_ocr.py screenshots/
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="lanterna-ocr-shots-"))
    os.environ["LANTERNA_DATA_DIR"] = str(work / "data")
    os.environ["LANTERNA_OCR"] = "on"
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))

    from engine.library import Library
    from onnx_models.toy import build_toy_model

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from screenshots import make_photo, shoot, wait_until

    from tests import ocr_images

    model = build_toy_model(work / "model")
    photos = work / "Pictures"
    for i, colour in enumerate(["red", "blue", "green", "yellow", "orange", "purple"]):
        make_photo(photos / f"IMG_{1000 + i}.jpg", colour, seed=i)
    ocr_images.receipt(photos / "IMG_2041.jpg")
    ocr_images.screenshot(photos / "Screenshot 2024-05-02.png")
    ocr_images.scanned_letter(work / "Documents" / "scan0001.pdf")
    with Library(work / "data", model, device="cpu") as lib:
        lib.add_folders([photos, work / "Documents"])
        report = lib.index()
        print(f"indexed {report.run.embedded} files, read the text of {report.run.ocr_files}")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import app.qt  # noqa: F401  (before any signal: see app/qt.py)

    qapp = QApplication([sys.argv[0]])
    qapp.setApplicationName("Lanterna")

    from app.bridge import Bridge
    from app.theme import LIGHT, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow

    theme = ThemeFollower(qapp, LIGHT)
    bridge = Bridge(work / "data", model, device="cpu", quiet=0.3)
    thumbs = ThumbnailCache(work / "data" / "cache" / "thumbnails")
    window = MainWindow(
        bridge,
        thumbs,
        settings=QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat),
        theme=theme,
        suggested_folders=[],
    )
    window.resize(args.width, args.height)
    window.move(0, 0)
    window.show()
    bridge.start()
    wait_until(lambda: bool(window._status and window._status.get("model_checked")))

    def ready() -> bool:
        idle = not thumbs._waiting and not thumbs._running
        return not window._searching and not window._debounce.isActive() and idle

    for query, name in (
        ("INV-2024-0042", "20-ocr-receipt.png"),
        ("Quixotic", "21-ocr-scanned-letter.png"),
    ):
        window.search.setText(query)
        window.run_search()
        wait_until(ready, settle=1.0)
        entry = window.preview.entry
        marks = window.preview.picture.marks
        print(f"{query!r}: first {entry.name if entry else None}, marks {marks}")
        wait_until(ready, settle=1.0)
        shoot(window, args.out / name)
    window.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
