"""PySide6's Signal and Slot, with a guard against a reference-count bug in PySide6 6.12.0.

On Python 3.10 and 3.11, PySide6 6.12.0 hands out ``None``, ``True`` and ``False`` without
taking a reference to them: every ``SignalInstance.emit`` returns ``True`` that way, and every
invalid QVariant converted to Python (``QModelIndex.data`` of an empty role,
``QComboBox.currentData``, ``QObject.property``…) returns ``None`` that way. After a few thousand
such calls the interpreter aborts ("deallocating None"). Python 3.12 made these objects immortal,
which hides the bug there, and PySide6 6.11 does not have it.

A probe at import time measures the loss. Only where there is one, the three singletons are
given a reserve of references far larger than any session can lose (they are never meant to be
freed anyway). Every app module that defines signals imports them from here, so the guard is in
place before the first emit.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal, Slot

__all__ = ["Signal", "Slot", "singletons_guarded"]

RESERVE = 1 << 40  # a million lost references a second would take twelve days to spend it


class _Probe(QObject):
    ping = Signal()


def _loses_references() -> bool:
    probe = _Probe()
    rounds = 16
    before_true, before_none = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(rounds):
        probe.ping.emit()
        probe.property("lanterna-probe")
    lost_true = before_true - sys.getrefcount(True)
    lost_none = before_none - sys.getrefcount(None)
    return lost_true >= rounds or lost_none >= rounds


def _guard() -> bool:
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons: nothing to lose
    if getattr(sys, "_lanterna_singletons_guarded", False):
        return True
    if not _loses_references():
        return False
    for obj in (None, True, False):
        # ob_refcnt is the first field of every CPython object; the GIL is held here.
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
    sys._lanterna_singletons_guarded = True  # type: ignore[attr-defined]
    return True


_GUARDED = _guard()


def singletons_guarded() -> bool:
    return _GUARDED
