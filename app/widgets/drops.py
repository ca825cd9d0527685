"""Turning what is dropped or pasted into an image query: a file path or image bytes."""

from __future__ import annotations

import os

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData
from PySide6.QtGui import QImage

# Image data some apps offer without a QImage-readable wrapper, best first.
_RAW_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp", "image/tiff")


def supported_extensions() -> frozenset[str]:
    try:
        from engine.preprocess import SUPPORTED_EXTENSIONS
    except ImportError:  # pragma: no cover - the engine always has it
        return frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
    return frozenset(SUPPORTED_EXTENSIONS)


def local_image(mime: QMimeData) -> str | None:
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            path = url.toLocalFile()
            if os.path.isfile(path) and os.path.splitext(path)[1].lower() in supported_extensions():
                return path
    return None


def image_bytes(mime: QMimeData) -> bytes | None:
    for kind in _RAW_TYPES:
        if mime.hasFormat(kind):
            data = bytes(mime.data(kind).data())
            if data:
                return data
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return qimage_png(image)
    return None


def qimage_png(image: QImage) -> bytes:
    raw = QByteArray()
    buffer = QBuffer(raw)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; only str works
    buffer.close()
    return bytes(raw.data())


def image_query(mime: QMimeData | None) -> str | bytes | None:
    """A local image file first (its path), else the image data; None if neither is there."""
    if mime is None:
        return None
    return local_image(mime) or image_bytes(mime)


def pasted_image(mime: QMimeData | None) -> str | bytes | None:
    """What Ctrl+V makes an image query of: a copied image file, or image data without text
    (text beside an image means rich text copied from a document: that pastes as text)."""
    if mime is None:
        return None
    path = local_image(mime)
    if path is not None:
        return path
    return None if mime.hasText() else image_bytes(mime)


def has_image(mime: QMimeData | None) -> bool:
    if mime is None:
        return False
    if mime.hasImage() or any(mime.hasFormat(k) for k in _RAW_TYPES):
        return True
    return local_image(mime) is not None
