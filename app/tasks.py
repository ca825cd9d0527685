"""One-shot jobs on a QThreadPool whose outcome comes back on the GUI thread.

A job is a plain callable run by a QRunnable; its result or error is handed to callbacks on the
thread that submitted it. The hand-over goes through a small QObject created on the submitting
thread: its signal, emitted from the worker, is queued to that thread's event loop (a plain Python
callable as a slot would run on the worker instead). The pool is injectable so tests can run jobs
inline (:class:`InlinePool`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, QRunnable, QThreadPool

from app.qt import Signal, Slot
from engine.errors import LanternaError

log = logging.getLogger(__name__)


class Pool(Protocol):
    def start(self, runnable: QRunnable, priority: int = ...) -> None: ...


class InlinePool:
    """Runs each job at once on the calling thread (tests, and shutdown paths)."""

    def start(self, runnable: QRunnable, priority: int = 0) -> None:
        runnable.run()

    def waitForDone(self, msecs: int = -1) -> bool:
        return True


def log_file() -> str | None:
    """The file the app logs to (set up by ``app.main``), if it logs to one."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename != os.devnull:
            return str(handler.baseFilename)
    return None


def where_the_log_is() -> str:
    path = log_file()
    return f"details are in the log, {path}" if path else "run lanterna-gui --verbose for details"


class UnexpectedError(LanternaError):
    """A bug, not a user's problem: shown in one line, logged with its traceback."""

    title = "Something went wrong"
    show_title = True


class _Courier(QObject):
    finished = Signal(object, object)  # result, error

    def __init__(
        self,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[LanternaError], None] | None,
        release: Callable[[_Courier], None],
    ) -> None:
        super().__init__()
        self._on_done = on_done
        self._on_error = on_error
        self._release = release
        self.finished.connect(self._deliver)

    @Slot(object, object)
    def _deliver(self, result: object, error: object) -> None:
        self._release(self)
        if isinstance(error, LanternaError):
            if self._on_error is not None:
                self._on_error(error)
            else:
                log.warning("%s", error.one_line())
        elif self._on_done is not None:
            self._on_done(result)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], courier: _Courier) -> None:
        super().__init__()
        self._fn = fn
        self._courier = courier

    def run(self) -> None:
        try:
            result = self._fn()
        except LanternaError as exc:
            self._courier.finished.emit(None, exc)
        except Exception as exc:
            log.exception("background job failed")
            self._courier.finished.emit(
                None, UnexpectedError(f"{type(exc).__name__}: {exc}", where_the_log_is())
            )
        else:
            self._courier.finished.emit(result, None)


class Tasks:
    """Submits jobs to one pool and keeps their couriers alive until they have delivered."""

    def __init__(self, pool: QThreadPool | InlinePool | None = None, threads: int = 2) -> None:
        if pool is None:
            pool = QThreadPool()
            pool.setMaxThreadCount(threads)
        self.pool = pool
        self._couriers: set[_Courier] = set()

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[LanternaError], None] | None = None,
    ) -> None:
        courier = _Courier(on_done, on_error, self._couriers.discard)
        self._couriers.add(courier)
        self.pool.start(_Job(fn, courier))

    def wait(self, msecs: int = -1) -> bool:
        return bool(self.pool.waitForDone(msecs))

    @property
    def busy(self) -> bool:
        return bool(self._couriers)
