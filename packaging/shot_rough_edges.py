"""Screenshots of the window where a new user met rough edges: its smallest size, indexing
paused, a result nothing can open, a data folder that is a file.

Run it under a display, as ``packaging/screenshots.py``::

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python packaging/shot_rough_edges.py screenshots/
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "packaging"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lanterna-rough-"))
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))

    from screenshots import SCENES, make_photo, shoot, wait_until

    from onnx_models.toy import build_toy_model

    model = build_toy_model(work / "model")
    photos = work / "Pictures"
    seed = 0
    for colour, names in SCENES.items():
        for name in names:
            seed += 1
            make_photo(photos / f"{name}.jpg", colour, seed, size=(480, 320))
    more = work / "More pictures"
    for i in range(80):
        colour = list(SCENES)[i % len(SCENES)]
        make_photo(more / f"IMG_{5000 + i}.jpg", colour, 500 + i, size=(480, 320))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import app.qt  # noqa: F401  (before any signal: see app/qt.py)

    qapp = QApplication([sys.argv[0]])
    qapp.setApplicationName("Lanterna")

    from app.bridge import Bridge
    from app.theme import LIGHT, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow
    from engine.library import Library

    theme = ThemeFollower(qapp, LIGHT)
    with Library(work / "data", model, device="cpu") as lib:
        lib.add_folders([photos])
        lib.index()

    def window_on(data: Path, settings: str) -> tuple[MainWindow, Bridge, ThumbnailCache]:
        bridge = Bridge(data, model, device="cpu", quiet=0.3)
        thumbs = ThumbnailCache(work / settings / "thumbnails")
        win = MainWindow(
            bridge,
            thumbs,
            settings=QSettings(str(work / f"{settings}.ini"), QSettings.Format.IniFormat),
            theme=theme,
            suggested_folders=[],
        )
        win.move(0, 0)
        return win, bridge, thumbs

    # 1. The smallest the window goes (asked for 300×200), a result chosen, a text query.
    window, bridge, thumbs = window_on(work / "data", "main")
    window.resize(300, 200)
    window.show()
    bridge.start()
    wait_until(lambda: bool(window._status and window._status.get("model_checked")))
    window.search.setText("sunset orange")
    window.run_search()
    wait_until(lambda: not window._searching and window.model.rowCount() > 0, settle=0.5)
    window.grid.setCurrentIndex(window.model.index(1))
    wait_until(lambda: not thumbs._waiting and not thumbs._running, settle=0.8)
    shoot(window, args.out / "10-smallest-window.png")

    # 2. "Open" with nothing on this system to open the file (offscreen and bare Xvfb: none).
    window.actions_.act_open.trigger()
    wait_until(lambda: True, settle=0.3)
    shoot(window, args.out / "11-nothing-opens-it.png")

    # 3. Indexing paused part way: the label says so.
    window.resize(1100, 700)
    window.search.clear()
    window.run_search()
    window.index_status.pause.setChecked(True)
    window.bridge.add_folders([str(more)])
    wait_until(lambda: window.index_status.indexing, timeout=60, settle=1.0)
    shoot(window, args.out / "12-indexing-paused.png")
    window.index_status.pause.setChecked(False)
    window.close()
    window.shutdown()

    # 4. A data folder that is a file.
    (work / "not-a-folder").write_text("oops")
    broken, broken_bridge, _ = window_on(work / "not-a-folder", "broken")
    broken.resize(1100, 700)
    broken.show()
    broken_bridge.start()
    wait_until(lambda: broken.banner.isVisible(), settle=0.5)
    shoot(broken, args.out / "13-data-folder-is-a-file.png")
    broken.close()
    broken.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
