"""Where Lanterna keeps its data: one place, overridable for tests and portable installs.

Order of precedence: an explicit argument (``--data-dir``), then ``LANTERNA_DATA_DIR``, then the
platform's user data folder (platformdirs).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "Lanterna"
DATA_ENV = "LANTERNA_DATA_DIR"
MODEL_ENV = "LANTERNA_MODEL_DIR"
INDEX_FILE = "index.db"


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def model_dir(explicit: str | os.PathLike[str] | None, data: Path) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env).expanduser()
    return data / "model"


def index_path(data: Path) -> Path:
    return data / INDEX_FILE


def cache_dir(data: Path) -> Path:
    return data / "cache"


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def to_bytes(path: str | os.PathLike[str]) -> bytes:
    """Paths are stored as the file system's bytes: names that are not UTF-8 survive."""
    return os.fsencode(path)


def from_bytes(raw: bytes) -> str:
    return os.fsdecode(raw)


def display(path: str | os.PathLike[str]) -> str:
    """A printable form of a path whose name may hold undecodable bytes."""
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
