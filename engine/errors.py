"""Errors a user can meet, each with a short title and a fix-it hint.

The CLI prints ``title: detail`` and, when present, the hint; the GUI shows the same fields.
"""

from __future__ import annotations


class LanternaError(Exception):
    """Base class for errors that are shown to the user without a traceback."""

    title = "Lanterna error"

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return self.detail

    def one_line(self) -> str:
        text = f"{self.title}: {self.detail}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(LanternaError):
    title = "Configuration error"


class ModelError(LanternaError):
    """The model folder is missing, malformed, tampered with or cannot be run."""

    title = "Model error"


class IndexError_(LanternaError):
    """The index database cannot be opened, is newer than this code or belongs to another model."""

    title = "Index error"


class ModelMismatchError(IndexError_):
    title = "Index made with another model"


class IndexDamagedError(IndexError_):
    """A page of the index cannot be read: the index is set aside (a copy is kept) and rebuilt."""

    title = "Index damaged"


class DecodeError(LanternaError):
    """One file could not be read or decoded; recorded against that file, indexing goes on."""

    title = "Cannot read file"


class FileVanishedError(DecodeError):
    title = "File vanished"


class ReadError(DecodeError):
    """The file could not be read just now (permissions, an I/O error, a busy network share):
    not a fault of its content, so its old vectors are kept and it is tried again later."""

    title = "Cannot read file now"


class Cancelled(LanternaError):
    title = "Cancelled"

    def __init__(self, detail: str = "cancelled by the user", hint: str = "") -> None:
        super().__init__(detail, hint)
