"""Screenshots of the real window: first run, indexing, a text query, an image query, dark.

Builds the toy model and a folder of generated photos in a temporary folder, starts the real
window over the real engine and saves PNGs into the folder given on the command line. Run it
under a display, e.g.::

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python packaging/screenshots.py screenshots/

With ``QT_QPA_PLATFORM=offscreen`` it still works, but grabs the widgets rather than the screen
(no tooltips, no popups).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAMERA_ROLL = 240
SCENES = {
    "red": ["poppies", "tomatoes", "red-door", "strawberries", "fire-engine", "autumn-maple"],
    "blue": ["lake", "blue-sky", "ocean", "jeans", "bluebells", "swimming-pool"],
    "green": ["forest", "meadow", "ferns", "lime-tree", "garden"],
    "yellow": ["sunflowers", "lemons", "taxi", "daffodils", "rapeseed-field"],
    "orange": ["sunset", "oranges", "pumpkins", "fox"],
    "purple": ["lavender", "plums", "grapes", "violets"],
    "white": ["snow", "paper", "clouds"],
    "black": ["night-sky", "piano", "cat-at-night"],
}


def make_photo(path: Path, colour: str, seed: int, size: tuple[int, int] = (960, 640)) -> None:
    """A photo-like picture in one colour family: a sky gradient, a horizon, a sun, shapes."""
    from PIL import Image, ImageDraw, ImageFilter

    from onnx_models.toy import COLOURS

    rng = random.Random(seed)
    base = COLOURS[colour]
    w, h = size

    def shade(k: float) -> tuple[int, int, int]:
        r, g, b = (max(0, min(255, int(c * k + 255 * (1 - k) * 0.15))) for c in base)
        return r, g, b

    img = Image.new("RGB", size, shade(1.0))
    draw = ImageDraw.Draw(img)
    top, bottom = rng.uniform(0.55, 0.8), rng.uniform(1.0, 1.15)
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=shade(top + (bottom - top) * t))
    if rng.random() < 0.7:
        r = rng.randint(50, 110)
        cx, cy = rng.randint(r, w - r), rng.randint(r, h // 2)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shade(1.25))
    horizon = rng.randint(h // 2, int(h * 0.75))
    points = [(0, h)]
    phase, amp = rng.uniform(0, math.tau), rng.randint(20, 70)
    for x in range(0, w + 40, 40):
        points.append((x, horizon + int(amp * math.sin(phase + x / rng.uniform(90, 200)))))
    points.append((w, h))
    draw.polygon(points, fill=shade(0.55))
    for _ in range(rng.randint(6, 18)):
        x, y = rng.randint(0, w), rng.randint(horizon, h)
        s = rng.randint(8, 40)
        draw.ellipse([x - s, y - s, x + s, y + s], fill=shade(rng.uniform(0.7, 1.2)))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=88)


def make_library(folder: Path) -> dict[str, list[Path]]:
    made: dict[str, list[Path]] = {}
    seed = 0
    for colour, names in SCENES.items():
        for name in names:
            seed += 1
            path = folder / f"{name}.jpg"
            make_photo(path, colour, seed)
            made.setdefault(colour, []).append(path)
            # File times spread over the last months, so "recent" has an order.
            stamp = time.time() - seed * 86400 * 3
            os.utime(path, (stamp, stamp))
    # A camera roll of smaller, older pictures, so that indexing takes long enough to be seen.
    colours = list(SCENES)
    for i in range(CAMERA_ROLL):
        colour = colours[i % len(colours)]
        path = folder / "Camera roll" / f"IMG_{4100 + i}.jpg"
        make_photo(path, colour, 1000 + i, size=(480, 320))
        stamp = time.time() - (400 + i) * 86400
        os.utime(path, (stamp, stamp))
        made.setdefault(colour, []).append(path)
    return made


def wait_until(cond: Callable[[], bool], timeout: float = 30.0, settle: float = 0.0) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if cond():
            break
        time.sleep(0.01)
    else:
        raise TimeoutError("the window did not get there in time")
    end = time.monotonic() + settle
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(window: object, path: Path) -> None:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(window, QWidget)
    QApplication.processEvents()
    if QGuiApplication.platformName() == "xcb":
        geo = window.frameGeometry()
        pixmap = window.screen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    else:
        pixmap = window.grab()
    pixmap.save(str(path), "PNG")
    print(f"wrote {path} ({pixmap.width()}×{pixmap.height()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="lanterna-shots-"))
    os.environ["LANTERNA_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))

    from onnx_models.toy import build_toy_model

    model = build_toy_model(work / "model")
    photos = work / "Pictures"
    library = make_library(photos)
    documents = work / "Documents"
    documents.mkdir()

    from PySide6.QtCore import QPoint, QSettings
    from PySide6.QtWidgets import QApplication, QToolTip

    import app.qt  # noqa: F401  (before any signal: see app/qt.py)

    qapp = QApplication([sys.argv[0]])
    qapp.setApplicationName("Lanterna")

    from app.bridge import Bridge
    from app.icon import app_icon
    from app.theme import DARK, LIGHT, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow

    theme = ThemeFollower(qapp, LIGHT)
    qapp.setWindowIcon(app_icon())
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)

    # 0. First run on a machine without the model: what to do instead of a crash.
    bare = Bridge(work / "bare-data", work / "no-model", device="cpu")
    first = MainWindow(
        bare,
        ThumbnailCache(None),
        settings=QSettings(str(work / "bare.ini"), QSettings.Format.IniFormat),
        theme=theme,
        suggested_folders=[str(photos), str(documents)],
    )
    first.resize(args.width, args.height)
    first.move(0, 0)
    first.show()
    bare.start()
    wait_until(lambda: bool(first._status and first._status.get("model_checked")), settle=0.3)
    shoot(first, args.out / "00-first-run-no-model.png")
    first.close()
    bridge = Bridge(work / "data", model, device="cpu", quiet=0.3)
    thumbs = ThumbnailCache(work / "data" / "cache" / "thumbnails")
    window = MainWindow(
        bridge,
        thumbs,
        settings=settings,
        theme=theme,
        suggested_folders=[str(photos), str(documents)],
    )
    window.resize(args.width, args.height)
    window.move(0, 0)
    window.show()
    bridge.start()

    def thumbnails_done() -> bool:
        return not thumbs._waiting and not thumbs._running

    def results_ready() -> bool:
        return not window._searching and not window._debounce.isActive() and thumbnails_done()

    # 1. First run: folders suggested, the model found.
    wait_until(lambda: bool(window._status and window._status.get("model_checked")))
    shoot(window, args.out / "01-first-run.png")

    # 2. Indexing: paused part way so the status bar shows its progress.
    total = sum(len(v) for v in library.values())
    progress: list[tuple[int, int]] = []

    def track(p: object) -> None:
        progress.append((p.done, p.total))  # type: ignore[attr-defined]
        if p.done >= total // 3 and not window.index_status.pause.isChecked():  # type: ignore[attr-defined]
            window.index_status.pause.setChecked(True)

    bridge.progress.connect(track)
    window.welcome._boxes[1].setChecked(False)  # Documents stays empty here
    window.welcome.start_button.click()
    wait_until(lambda: window.index_status.pause.isChecked(), timeout=60)
    window.run_search()
    wait_until(results_ready, settle=1.0)
    shoot(window, args.out / "02-indexing.png")
    bridge.progress.disconnect(track)
    bridge.progress.connect(lambda p: progress.append((p.done, p.total)))
    window.index_status.pause.setChecked(False)
    wait_until(lambda: bool(progress) and progress[-1] == (total, total), timeout=60)
    wait_until(results_ready, settle=0.5)

    # 3. A text query, with the score tooltip over the second result.
    window.search.setText("rouge")
    window.run_search()
    wait_until(results_ready, settle=0.8)
    rect = window.grid.visualRect(window.model.index(1))
    QToolTip.showText(
        window.grid.viewport().mapToGlobal(rect.center() + QPoint(10, 10)),
        str(window.model.data(window.model.index(1), 3)),
        window.grid,
    )
    wait_until(lambda: True, settle=0.4)
    shoot(window, args.out / "03-text-query.png")
    QToolTip.hideText()

    # 4. An image query: a photo dropped in (here: set as the query image), plus a word.
    window.search.clear()
    window.set_image(str(library["blue"][0]))
    wait_until(results_ready, settle=0.8)
    shoot(window, args.out / "04-image-query.png")

    # 5. Dark palette, text and image combined.
    theme.set_mode(DARK)
    window.search.setText("sunflowers jaune")
    window.set_image(str(library["orange"][0]))
    wait_until(results_ready, settle=0.8)
    shoot(window, args.out / "05-dark.png")

    # 6. Folders & settings, in the dark palette.
    from app.views.settings import SettingsDialog

    bridge.refresh_status()
    wait_until(lambda: bool(window._status and window._status.get("provider")), settle=0.3)
    dialog = SettingsDialog(
        bridge, window._status, device="cpu", theme=DARK, tray=False, parent=window
    )
    dialog.resize(720, 480)
    dialog.move(120, 80)
    dialog.show()
    wait_until(lambda: dialog.excludes.toPlainText() != "", settle=0.4)
    shoot(dialog, args.out / "06-settings.png")
    dialog.close()

    window.close()
    qapp.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
