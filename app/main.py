"""``lanterna-gui`` / ``python -m app``: the desktop window.

Arguments are parsed before Qt is imported so ``--help`` is instant; the engine (and ONNX Runtime
with it) is imported on a worker after the window is shown.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("lanterna.app")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="lanterna-gui",
        description="Find your photos and documents by meaning, privately, on this machine.",
    )
    p.add_argument(
        "--data-dir",
        help="where the index lives (default: $LANTERNA_DATA_DIR or the user data folder)",
    )
    p.add_argument("--model", help="model folder (default: $LANTERNA_MODEL_DIR or DATA/model)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default=None,
        help="where the model runs (default: the saved choice, else the GPU when usable)",
    )
    p.add_argument("--theme", choices=["system", "light", "dark"], help="override the palette")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="check that this installation works (Qt, ONNX Runtime, the model) and exit",
    )
    p.add_argument(
        "--install-desktop-entry",
        action="store_true",
        help="add Lanterna to the desktop's application menu, print the entry's path and exit",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log more")
    # Qt's own options (-platform, -style…) pass through to QApplication.
    args, rest = p.parse_known_args(argv)
    args.qt_args = rest
    return args


def setup_logging(verbose: bool) -> Path | None:
    """A rotating log file in the platform's log folder; Qt's messages go there too."""
    from engine import paths

    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    target: Path | None = None
    try:
        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "lanterna-gui.log"
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(fmt)
    root.addHandler(handler)
    if verbose:
        console = logging.StreamHandler()
        console.setFormatter(fmt)
        root.addHandler(console)
    return target


def install_qt_message_handler() -> None:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }
    qt_log = logging.getLogger("qt")

    def handler(kind: Any, context: Any, message: str) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(handler)


def model_choice(args: argparse.Namespace, data: Path, settings: Any) -> str | None:
    """--model, else None: the engine then looks at $LANTERNA_MODEL_DIR, the folder chosen in
    the settings (recorded in the data folder, where the command line finds it too) and the
    default. A choice older versions kept in the Qt settings moves to the data folder."""
    from engine import paths

    saved = settings.value("model_dir")
    if saved and paths.recorded_model_dir(data) is None:
        try:
            paths.record_model_dir(data, str(saved))
        except OSError as exc:
            log.warning("could not move the model folder choice to %s: %s", data, exc)
            return str(args.model or saved)
    if saved:
        settings.remove("model_dir")
    return str(args.model) if args.model else None


def run_command(args: argparse.Namespace) -> None:
    """The flags that do one job and exit instead of opening the window."""
    if args.self_test:
        import app.selftest

        sys.exit(app.selftest.run(args.data_dir, args.model))
    if args.install_desktop_entry:
        import app.desktop_entry

        print(app.desktop_entry.install())
        sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)

    run_command(args)  # --self-test, --install-desktop-entry: no window, they exit

    import PySide6
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.qt import singletons_guarded  # first: see app/qt.py

    if singletons_guarded():
        log.info("PySide6 %s loses references to None/True here; guarded", PySide6.__version__)

    install_qt_message_handler()
    QApplication.setOrganizationName("Lanterna")
    QApplication.setApplicationName("Lanterna")
    QApplication.setDesktopFileName("lanterna")
    app = QApplication([sys.argv[0], *args.qt_args])

    from app.bridge import Bridge, data_folder
    from app.icon import app_icon
    from app.theme import SYSTEM, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow
    from engine import paths

    settings = QSettings()
    theme = ThemeFollower(app, args.theme or str(settings.value("theme", SYSTEM)))
    app.setWindowIcon(app_icon())
    data = data_folder(args.data_dir)
    device = args.device or str(settings.value("device", "auto"))
    bridge = Bridge(data, model_choice(args, data, settings), device=device)
    thumbnails = ThumbnailCache(paths.cache_dir(data) / "thumbnails")
    window = MainWindow(bridge, thumbnails, settings=settings, theme=theme)
    window.show()
    bridge.start()
    thumbnails.prune_later()

    # With the tray on, closing only hides the window (no "last window closed", no quit).
    app.aboutToQuit.connect(window.shutdown)
    log.info("window shown; data in %s", data)
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
