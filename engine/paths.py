"""Where Lanterna keeps its data: one place, overridable for tests and portable installs.

Order of precedence: an explicit argument (``--data-dir``), then ``LANTERNA_DATA_DIR``, then the
platform's user data folder (platformdirs). The model folder: ``--model``, then
``LANTERNA_MODEL_DIR``, then the folder recorded in the data folder (chosen in the app's settings,
so the app and the command line on one data folder use one model), then ``DATA/model``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "Lanterna"
DATA_ENV = "LANTERNA_DATA_DIR"
MODEL_ENV = "LANTERNA_MODEL_DIR"
INDEX_FILE = "index.db"
MODEL_CHOICE_FILE = "model-folder.json"


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
    return recorded_model_dir(data) or data / "model"


def recorded_model_dir(data: Path) -> Path | None:
    """The model folder chosen for this data folder (in the app), if one was."""
    try:
        value = json.loads((data / MODEL_CHOICE_FILE).read_text(encoding="utf-8")).get("model_dir")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(value) if isinstance(value, str) and value.strip() else None


def record_model_dir(data: Path, folder: str | os.PathLike[str] | None) -> None:
    """Remember ``folder`` as this data folder's model (None: back to the default)."""
    target = data / MODEL_CHOICE_FILE
    if folder is None:
        target.unlink(missing_ok=True)
        return
    data.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json_text({"model_dir": os.fspath(folder)}) + "\n", encoding="utf-8")
    os.replace(tmp, target)


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


# Control characters (C0, DEL, C1), bidirectional overrides and marks, line and paragraph
# separators, and surrogates (a byte that is not UTF-8, decoded with surrogateescape).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # one byte of a name that is not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0xA0:
        return _NAMED.get(ch, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def display(path: str | os.PathLike[str] | bytes) -> str:
    """A path (or any text from the disk) as it may be shown on a terminal or in a label.

    Control characters, bidirectional overrides and bytes that are not UTF-8 are written as
    escapes (``\\x1b``, ``\\u202e``, ``caf\\xe9``), so a name holding ``ESC[2J`` cannot clear the
    terminal and an undecodable byte says which byte it is. For people only: ``--json`` gives the
    exact name (see :func:`json_text`).
    """
    raw = os.fspath(path)
    text = os.fsdecode(raw) if isinstance(raw, bytes) else raw
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(value: Any, **kwargs: Any) -> str:
    """JSON in which every path is exact, even a name whose bytes are not UTF-8.

    Such a name is decoded as Python decodes file names (``surrogateescape``, PEP 383): each
    undecodable byte 0xNN becomes the code point U+DCNN, written in the JSON as the escape
    ``\\udcNN``. Reading it back in Python, ``os.fsencode(json.loads(text)["path"])`` gives the
    name's real bytes; other characters, control characters included, are ordinary JSON.
    """
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
