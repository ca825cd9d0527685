"""Screenshots of the "Get the model" dialog: consent, downloading, cancelled, offline, installed.

Builds the toy model and a release laid out like jinaai/jina-clip-v2 from it, serves that from a
fake Hub on 127.0.0.1 (slowed down, so the download can be caught half-way), opens the real
window with no model and saves PNGs into the folder given on the command line::

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python packaging/shot_model_dialog.py screenshots/

The sizes shown are the toy model's (a few MB), not the real one's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from screenshots import shoot, wait_until  # noqa: E402 - after the path set-up above


def slow_hub(files: dict[str, bytes], bytes_per_s: int) -> Any:
    """The tests' fake Hub, handing its files over at about ``bytes_per_s``."""
    from onnx_models import release
    from tests.model.fakehub import SlowHub
    from tests.model.helpers import COMMIT

    return SlowHub(release.REPO_ID, COMMIT, files, bytes_per_s=bytes_per_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="lanterna-model-shots-"))
    os.environ["LANTERNA_DATA_DIR"] = str(work / "data")
    os.environ.pop("LANTERNA_MODEL_DIR", None)
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))
    os.environ["HF_HOME"] = str(work / "hf-home")
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        os.environ.pop(name, None)

    from onnx_models.toy import build_toy_model
    from tests.model.helpers import write_release

    toy = build_toy_model(work / "toy")
    folder = write_release(toy, work / "release", variant="int8")
    files = {
        "onnx/model_int8.onnx": (folder / "onnx" / "model_int8.onnx").read_bytes(),
        "tokenizer.json": (folder / "tokenizer.json").read_bytes(),
    }

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    import app.qt  # noqa: F401  (the emit guard, first)

    QApplication.setOrganizationName("Lanterna")
    QApplication.setApplicationName("Lanterna")
    qapp = QApplication([sys.argv[0]])

    from app.bridge import Bridge
    from app.icon import app_icon
    from app.theme import LIGHT, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    settings = QSettings(str(work / "config" / "lanterna.ini"), QSettings.Format.IniFormat)
    theme = ThemeFollower(qapp, LIGHT)
    qapp.setWindowIcon(app_icon())
    bridge = Bridge(work / "data", work / "data" / "model", device="cpu")
    window = MainWindow(
        bridge,
        ThumbnailCache(work / "thumbs"),
        settings=settings,
        theme=theme,
        suggested_folders=[str(Path.home() / "Pictures"), str(Path.home() / "Documents")],
    )
    window.resize(1280, 800)
    window.move(40, 40)
    window.show()
    bridge.start()
    wait_until(lambda: bool(window._status and window._status.get("model_checked")), settle=0.3)

    # 0. First run without a model: the welcome page offers to get it.
    wait_until(lambda: window.welcome.get_model_button.isVisible(), settle=0.3)
    shoot(window, args.out / "model-dialog-0-welcome-missing.png")

    with slow_hub(files, bytes_per_s=400_000) as hub:
        os.environ["HF_ENDPOINT"] = hub.endpoint
        # 1. What will be downloaded, before consent.
        window.welcome.get_model_button.click()
        dialog = window._model_dialog
        assert dialog is not None
        wait_until(lambda: dialog.state == "ready", settle=0.4)
        shoot(dialog, args.out / "model-dialog-1-consent.png")
        # 2. Downloading: bytes, speed, time left.
        dialog.consent.click()
        dialog.download_button.click()
        wait_until(lambda: dialog.progress.value() > 350, settle=0.1)
        shoot(dialog, args.out / "model-dialog-2-downloading.png")
        dialog.cancel_button.click()
        wait_until(lambda: dialog.state == "ready", settle=0.3)
        shoot(dialog, args.out / "model-dialog-3-cancelled.png")
        dialog.close_button.click()

    # 3. No network.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{closed}"
    window.get_model()
    dialog = window._model_dialog
    wait_until(lambda: dialog.state == "unreachable", settle=0.4)
    shoot(dialog, args.out / "model-dialog-4-offline.png")
    dialog.close_button.click()

    # 4. Installed: the dialog says so and the welcome page's model box turns green.
    with slow_hub(files, bytes_per_s=50_000_000) as hub:
        os.environ["HF_ENDPOINT"] = hub.endpoint
        window.get_model()
        dialog = window._model_dialog
        wait_until(lambda: dialog.state == "ready")
        dialog.consent.click()
        dialog.download_button.click()
        wait_until(lambda: dialog.state == "done", timeout=60)
        wait_until(lambda: window.welcome.model_headline.text().startswith("●"), settle=0.4)
        shoot(dialog, args.out / "model-dialog-5-installed.png")
        dialog.close_button.click()
        wait_until(lambda: not dialog.isVisible(), settle=0.3)
        shoot(window, args.out / "model-dialog-6-welcome-ready.png")

    window.close()
    qapp.processEvents()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
