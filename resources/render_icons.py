"""Write the app icon as SVG and PNGs (16–512 px) into this folder, from app/icon.py.

Run at build time: ``python resources/render_icons.py`` (needs PySide6; no display).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = (16, 32, 48, 64, 128, 256, 512)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(HERE.parent))
    from PySide6.QtGui import QGuiApplication

    from app.icon import SVG, render

    _app = QGuiApplication.instance() or QGuiApplication([])
    (HERE / "lanterna.svg").write_text(SVG, encoding="utf-8")
    for side in SIZES:
        target = HERE / f"lanterna-{side}.png"
        if not render(side).save(str(target), "PNG"):  # type: ignore[call-overload]
            print(f"cannot write {target}", file=sys.stderr)
            return 1
        print(target.name, target.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
