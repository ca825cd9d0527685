"""Errors of the model tooling: each is a :class:`engine.errors.ModelError`, shown in one line."""

from __future__ import annotations

from engine.errors import ModelError


class DownloadError(ModelError):
    """The model could not be fetched from the Hub (no network, refused, damaged in transit)."""

    title = "Download failed"


class ConsentRequired(ModelError):
    """The user has not agreed to the licence and the download."""

    title = "Consent needed"


class SplitError(ModelError):
    """A combined graph could not be split into the two towers."""

    title = "Cannot split the model"


class SelfTestFailed(ModelError):
    """The towers load but give wrong answers (see the model contract's known traps)."""

    title = "Model self-test failed"
