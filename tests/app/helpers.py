"""Helpers for the app tests."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtWidgets import QApplication


def settle(window: Any, timeout: float = 10.0) -> None:
    """Wait until no search waits for its debounce or is in flight."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if not window._searching and not window._debounce.isActive():
            return
        time.sleep(0.01)
    raise AssertionError("the search did not finish")


def names(window: Any) -> list[str]:
    return [e.name for e in window.model.entries]


def colours(window: Any) -> list[str]:
    return [e.name.split("-")[0] for e in window.model.entries]
