"""What the desktop does with a file: open it, show it in its folder, copy it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication, QImage, QImageReader

log = logging.getLogger(__name__)


def open_file(path: str) -> bool:
    """With the app the system uses for this kind of file (False: none would open it)."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


def cannot_open(path: str) -> str:
    """What to say when :func:`open_file` found nothing to open ``path`` with."""
    from engine.paths import display

    name = display(os.path.basename(path))
    return f"No application on this system opens {name}"


def reveal(path: str) -> bool:
    """Show the file in its folder, selected where the file manager can do that."""
    try:
        if sys.platform == "darwin":
            subprocess.Popen(["open", "-R", path])
            return True
        if sys.platform == "win32":
            subprocess.Popen(["explorer", "/select,", os.path.normpath(path)])
            return True
    except OSError as exc:
        log.warning("cannot reveal %s: %s", path, exc)
    # Freedesktop has no portable "select this file"; opening the folder is the common ground.
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path))))


def copy_paths(paths: list[str]) -> None:
    """As text for editors and terminals, and as file URLs for file managers and mail."""
    mime = QMimeData()
    mime.setText("\n".join(paths))
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    QGuiApplication.clipboard().setMimeData(mime)


def load_image(path: str) -> QImage | None:
    """Runs on a worker: full decode of an image for the clipboard (EXIF orientation applied)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    image = reader.read()
    if not image.isNull():
        return image
    try:
        from PIL import Image, ImageOps

        from app.thumbnails import pil_to_qimage

        with Image.open(path) as picture:
            return pil_to_qimage(ImageOps.exif_transpose(picture))
    except Exception as exc:
        log.info("cannot copy %s as an image: %s", path, exc)
        return None


def copy_image(path: str, image: QImage) -> None:
    mime = QMimeData()
    mime.setImageData(image)
    mime.setUrls([QUrl.fromLocalFile(path)])
    QGuiApplication.clipboard().setMimeData(mime)
