"""Errors a user can meet, each with a short title and a fix-it hint.

The CLI prints ``lanterna: title: detail`` on one line and, when there is one, ``hint: …`` on a
second; the GUI shows the same fields. A :class:`UsageError` (the command line itself is at
fault: retyping it fixes it) exits with status 2, every other error with status 1.
"""

from __future__ import annotations


class LanternaError(Exception):
    """Base class for errors that are shown to the user without a traceback."""

    title = "Lanterna error"
    show_title = False
    """Whether the one-line form starts with the title (the generic one says nothing)."""
    exit_status = 1

    def __init__(self, detail: str, hint: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return self.detail

    @property
    def message(self) -> str:
        """The title (when it says something) and the detail: the error's first line."""
        return f"{self.title}: {self.detail}" if self.show_title else self.detail

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def lines(self) -> list[str]:
        """What the CLI prints: the message, then the hint on a line of its own."""
        return [self.message] + ([f"hint: {self.hint}"] if self.hint else [])


class UsageError(LanternaError):
    """A value on the command line is wrong (empty, out of range, a path that is not there)."""

    title = "Usage error"
    exit_status = 2


class ConfigError(LanternaError):
    title = "Configuration error"


class ModelError(LanternaError):
    """The model folder is missing, malformed, tampered with or cannot be run."""

    title = "Model error"
    show_title = True


class IndexError_(LanternaError):
    """The index database cannot be opened, is newer than this code or belongs to another model."""

    title = "Index error"
    show_title = True


class ModelMismatchError(IndexError_):
    title = "Index made with another model"
    show_title = True


class DecodeError(LanternaError):
    """One file could not be read or decoded; recorded against that file, indexing goes on."""

    title = "Cannot read file"
    show_title = True


class FileVanishedError(DecodeError):
    title = "File vanished"
    show_title = True


class Cancelled(LanternaError):
    title = "Cancelled"
    show_title = True

    def __init__(self, detail: str = "cancelled by the user", hint: str = "") -> None:
        super().__init__(detail, hint)
