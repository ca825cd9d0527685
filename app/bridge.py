"""The one place where the GUI meets the engine.

The :class:`Bridge` lives on the GUI thread and never calls the engine there. It owns the
:class:`engine.library.Library`, created on a worker; one-shot calls (a search, a folder change)
run as jobs on its thread pool and come back as signals; a long-running watch thread runs
``Library.watch`` whose callbacks (from engine threads) only emit signals, progress at most about
ten times a second, and ``indexed`` when a run ends (the time to refresh counts and results).
Searches carry a generation number, so results of a query the user has since changed are dropped,
and a job whose query is already stale does not even run.

Getting the model (the "Get the model" dialog) runs on a pool of its own, so a long download never
holds up searches; afterwards :meth:`Bridge.model_installed` opens the library again on the new
model and says whether it fits the index.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool

from app import model_setup
from app.models.results import Entry
from app.qt import Signal
from app.tasks import InlinePool, Tasks
from engine.errors import LanternaError, ModelError, ModelMismatchError
from engine.schedule import Policy, PolicyPause, lower_priority

if TYPE_CHECKING:
    from engine.indexer import Progress, RunStats
    from engine.library import Library
    from engine.scanner import Changes
    from onnx_models.hub import DownloadPlan

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1
OPEN_TIMEOUT_S = 60.0
RETRY_AFTER_ERROR_S = 30.0
MAX_RESULTS = 10_000


class Closed(LanternaError):
    title = "Lanterna is closing"


@dataclass(frozen=True)
class SearchRequest:
    """What the user asked for; an empty request means "recent files"."""

    text: str = ""
    image: str | bytes | None = None  # a file path, or image data (pasted or dragged)
    image_indexed: bool = False  # the image is an indexed file ("Find similar"): use its vectors
    kind: str | None = None
    folder: str | None = None
    date_from: float | None = None
    date_to: float | None = None
    k: int = 200
    show_all: bool = False  # also what falls below the relevance cut-off, after the rest
    image_negative: bool = False  # the image counts against the query ("less like this")

    @property
    def empty(self) -> bool:
        return not self.text.strip() and self.image is None

    def same_query(self, other: SearchRequest) -> bool:
        """The same question, whatever the number of results asked for."""
        return replace(self, k=0) == replace(other, k=0)

    def more(self) -> SearchRequest:
        return replace(self, k=min(self.k * 4, MAX_RESULTS))


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int | None
    width: int | None
    height: int | None
    taken: float | None
    mtime: float | None


def _query(req: SearchRequest) -> Any:
    from engine.search import Query

    negative = req.image_negative and req.image is not None
    return Query(
        text=req.text.strip(),
        image=None if negative else req.image,
        not_images=(req.image,) if negative and req.image is not None else (),
        k=req.k,
        kind=req.kind,
        folder=req.folder,
        date_from=req.date_from,
        date_to=req.date_to,
        show_all=req.show_all,
        live=True,  # the search box searches as the user types: an unfinished word is a prefix
    )


def _run_search(lib: Library, req: SearchRequest) -> list[Entry]:
    if req.empty:
        rows = lib.recent(req.k)
        return [
            Entry(
                path=r.path,
                kind=r.kind,
                taken=r.taken,
                size=r.size,
                width=r.width,
                height=r.height,
            )
            for r in rows
            if _passes(req, r.kind, r.path, r.taken if r.taken else r.mtime_ns / 1e9)
        ]
    if (
        req.image_indexed
        and isinstance(req.image, str)
        and not req.text.strip()
        and not (req.image_negative)
    ):
        results = lib.similar(req.image, replace(_query(req), image=None))
    else:
        query = _query(req)
        try:
            results = lib.search(query)
        except ModelError as missing:
            # No model yet (it may be downloading): file names and documents' words are in the
            # index already, so exact words still find them; by meaning needs the model.
            if query.image is not None or query.not_images or not query.text:
                raise
            try:
                results = lib.search(replace(query, words_only=True))
            except LanternaError:
                raise missing from None
            if not results:
                raise
            return [replace(e, words_only=True) for e in _entries(results)]
    return _entries(results)


def _entries(results: list[Any]) -> list[Entry]:
    return [
        Entry(
            path=r.path,
            kind=r.kind,
            score=r.score,
            page=r.item,
            type=r.type,
            snippet=r.snippet,
            taken=r.taken,
            match=r.match,
            weak=r.weak,
            source=r.source,
            line=r.line,
            boxes=r.boxes,
        )
        for r in results
    ]


def _status(lib: Library, load_model: bool) -> dict[str, Any]:
    """``Library.status`` plus whether the model was looked at (without it, the model fields
    say nothing: ``model_error`` is None because nobody tried).

    A model that works but is not the one the index was made with is not an error of the whole
    status: ``index_mismatch`` then holds the engine's detail and hint (the window offers to
    rebuild the index), and ``model`` what the model folder says it is."""
    try:
        status = lib.status(load_model=load_model)
    except ModelMismatchError as exc:
        from engine import model as model_folder

        status = lib.status(load_model=False)
        status["index_mismatch"] = {"detail": exc.detail, "hint": exc.hint}
        folder = model_folder.load(lib.model_dir)
        status["model"] = {"id": folder.id, "revision": folder.revision, "licence": folder.licence}
    status["model_checked"] = load_model
    return status


def _passes(req: SearchRequest, kind: str, path: str, when: float | None) -> bool:
    """The filters for the recent list (the engine applies them to searches itself)."""
    if req.kind and kind != req.kind:
        return False
    if req.folder and not path.startswith(req.folder.rstrip(os.sep) + os.sep):
        return False
    if req.date_from is not None and (when is None or when < req.date_from):
        return False
    return not (req.date_to is not None and (when is None or when > req.date_to))


class Bridge(QObject):
    opened = Signal(object)  # status dict (model not loaded yet)
    status_changed = Signal(object)  # status dict, with the model's state
    progress = Signal(object)  # engine.indexer.Progress, throttled
    indexed = Signal(object)  # engine.indexer.RunStats: an indexing run (the first, or later) ended
    files_changed = Signal(object)  # engine.scanner.Changes seen by the watcher
    search_done = Signal(object, object)  # SearchRequest, list[Entry]
    search_failed = Signal(object, object)  # SearchRequest, LanternaError
    failed = Signal(object)  # a LanternaError from a background operation
    watch_failed = Signal(object)  # the watch loop stopped on a LanternaError (e.g. no model)
    model_progress = Signal(object, object)  # bytes of the model download fetched, in all
    model_step = Signal(str)  # what getting the model is doing now ("splitting…")

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        quiet: float = 1.0,
        pool: QThreadPool | InlinePool | None = None,
        watch: bool = True,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.model_dir = model_dir
        self.device = device
        self.quiet = quiet
        self._tasks = Tasks(pool, threads=2)
        # Downloads and imports take minutes: one thread of their own.
        self._model_tasks = Tasks(pool if isinstance(pool, InlinePool) else None, threads=1)
        self._model_cancel: threading.Event | None = None
        self._last_model_progress = 0.0
        self._watching = watch
        self._lib: Library | None = None
        self._read_only: Path | None = None
        self._open_error: LanternaError | None = None
        self._ready = threading.Event()
        self._generation = 0
        self._closing = threading.Event()
        self._leave_loop = threading.Event()
        self._pause = threading.Event()  # the user's button
        # what the indexer polls: the button, or the policy's pause (battery, busy, idle-only)
        self.policy_pause = PolicyPause(Policy(), user=self._pause)
        self._restart = threading.Event()
        self._stop = threading.Event()
        self._control = threading.Lock()
        self._thread: threading.Thread | None = None
        self._last_progress = 0.0
        self._shut = False

    # -- the library's life ------------------------------------------------------------------

    def start(self) -> None:
        """Open the library on a worker, then start watching; the window is usable meanwhile."""
        self._tasks.submit(self._open, on_done=self._opened, on_error=self._open_failed)

    def _open(self) -> dict[str, Any]:
        from engine import paths, validate
        from engine.library import Library

        try:
            data = paths.data_dir(self.data_dir)
            folder = validate.data_folder(None, data, create=True, name="the data folder")
            if folder.readonly:
                self._watching = False  # nothing can be written: searching only
                self._read_only = folder.path
            self._lib = Library(
                data, self.model_dir, device=self.device, quiet=self.quiet, readonly=folder.readonly
            )
        except LanternaError as exc:
            self._open_error = exc
            raise
        finally:
            self._ready.set()
        return _status(self._lib, load_model=False)

    def _opened(self, status: dict[str, Any]) -> None:
        self.opened.emit(status)
        if self._read_only is not None:
            from engine.errors import ConfigError
            from engine.paths import display

            self.failed.emit(
                ConfigError(
                    f"The data folder {display(self._read_only)} cannot be written, so the index "
                    "is open for searching only: nothing new is indexed."
                )
            )
        if self._watching and not self._closing.is_set():
            self._thread = threading.Thread(
                target=self._watch_loop, name="lanterna-watch", daemon=True
            )
            self._thread.start()
        self.refresh_status()

    def _open_failed(self, exc: LanternaError) -> None:
        self.failed.emit(exc)

    def library(self) -> Library:
        """The library, for worker threads: waits for it to be opened."""
        if not self._ready.wait(OPEN_TIMEOUT_S):
            raise LanternaError("the index took too long to open")
        if self._closing.is_set():
            raise Closed("the window is closing")
        if self._lib is None:
            raise self._open_error or LanternaError("the index could not be opened")
        return self._lib

    @property
    def is_open(self) -> bool:
        return self._lib is not None

    def reopen(
        self,
        model_dir: str | os.PathLike[str] | None,
        device: str,
        then: Callable[[LanternaError | None], None] | None = None,
    ) -> None:
        """Use another model folder or device: the library is closed and opened again; ``then``
        hears None once it is, or the error that kept it closed."""

        def work() -> dict[str, Any]:
            self._stop_watch()
            with self._control:
                old = self._lib
                self._ready.clear()
                self._lib = None
                self.model_dir = model_dir
                self.device = device
                if old is not None:
                    old.close()
            return self._open()

        def opened(status: dict[str, Any]) -> None:
            self._opened(status)
            if then is not None:
                then(None)

        def failed(exc: LanternaError) -> None:
            self._open_failed(exc)
            if then is not None:
                then(exc)

        self._tasks.submit(work, on_done=opened, on_error=failed)

    def choose_model(self, folder: str | None) -> None:
        """Use ``folder`` as this data folder's model from now on (None: the default), recorded
        in the data folder so that the command line on the same data folder uses it too."""
        from engine import paths

        try:
            paths.record_model_dir(paths.data_dir(self.data_dir), folder)
        except OSError as exc:
            log.warning("could not record the model folder: %s", exc)
            self.failed.emit(
                LanternaError(
                    f"The model folder could not be recorded in the data folder ({exc.strerror}): "
                    "it is used until Lanterna closes."
                )
            )
        self.reopen(folder, self.device)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop watching, let running jobs end, close the engine (nothing is left half-written:
        the store commits in whole transactions, and cancelled work stays pending)."""
        if self._shut:
            return
        self._shut = True
        self._closing.set()
        self._leave_loop.set()
        self._pause.clear()
        if self._model_cancel is not None:
            self._model_cancel.set()  # a download stops within a chunk; nothing is installed
        with self._control:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the watch thread did not stop in %.0f s", timeout)
        self._tasks.wait(int(timeout * 1000))
        self._model_tasks.wait(int(timeout * 1000))
        if self._lib is not None:
            self._lib.close()
            self._lib = None

    # -- watching ----------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        lower_priority()  # the tower threads this thread starts inherit it: the desktop comes first
        while not self._leave_loop.is_set():
            with self._control:
                self._restart.clear()
                self._stop = stop = threading.Event()
                lib = self._lib
            if lib is None:
                return
            try:
                lib.watch(
                    stop,
                    progress=self._on_progress,
                    on_changes=self._on_changes,
                    on_indexed=self._on_indexed,
                    pause=self.policy_pause,  # reads like the threading.Event it wraps
                )
            except LanternaError as exc:
                log.warning("watching stopped: %s", exc.one_line())
                self.watch_failed.emit(exc)
            except Exception as exc:
                log.exception("watching stopped")
                self.watch_failed.emit(LanternaError(f"{type(exc).__name__}: {exc}"))
            else:
                # watch() returned: it was stopped (a restart, or quitting).
                continue
            # After an error (no model yet, say) wait for a change that may cure it, and try
            # again now and then: the user may have put the model folder in place by hand.
            deadline = time.monotonic() + RETRY_AFTER_ERROR_S
            while not (self._restart.is_set() or self._leave_loop.is_set()):
                if time.monotonic() > deadline:
                    break
                self._restart.wait(0.5)

    def _stop_watch(self) -> None:
        thread = self._thread
        with self._control:
            self._leave_loop.set()
            self._stop.set()
        if thread is not None:
            thread.join()
            self._thread = None
        self._leave_loop.clear()

    def restart_watch(self) -> None:
        """Scan and index again (new folders, new rules, retried files), then go on watching."""
        with self._control:
            self._restart.set()
            self._stop.set()

    def _on_progress(self, p: Progress) -> None:
        # Engine thread: emit only. The last report of a run always goes out.
        now = time.monotonic()
        if p.done >= p.total or p.done == 0 or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(p)

    def _on_changes(self, changes: Changes) -> None:
        self.files_changed.emit(changes)

    def _on_indexed(self, run: RunStats) -> None:
        self.indexed.emit(run)

    def _wake_watch(self, lib: Library) -> None:
        """Have the watch embed what is pending now; after an error (no model, say) it tries
        again at once instead of at its next attempt."""
        lib.wake()
        self._restart.set()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._pause.set()
        else:
            self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    def set_policy(self, policy: Policy) -> None:
        """When indexing stands aside by itself (Settings: on battery, busy, index while idle)."""
        self.policy_pause.policy = policy

    def pause_reason(self) -> str | None:
        """Why indexing waits, in words, or ``None``; the user's own pause reads "paused"."""
        return self.policy_pause.reason

    # -- one-shot jobs -----------------------------------------------------------------------

    def call(
        self,
        fn: Callable[[Library], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[LanternaError], None] | None = None,
    ) -> None:
        """Run ``fn(library)`` on a worker; errors go to ``on_error`` or the ``failed`` signal."""
        self._tasks.submit(lambda: fn(self.library()), on_done, on_error or self._report)

    def _report(self, exc: LanternaError) -> None:
        if not isinstance(exc, Closed):
            self.failed.emit(exc)

    def search(self, req: SearchRequest) -> int:
        self._generation += 1
        generation = self._generation

        def work() -> list[Entry] | None:
            if generation != self._generation:
                return None  # typed over before this job started
            return _run_search(self.library(), req)

        def done(entries: list[Entry] | None) -> None:
            if entries is not None and generation == self._generation:
                self.search_done.emit(req, entries)

        def failed(exc: LanternaError) -> None:
            if generation == self._generation and not isinstance(exc, Closed):
                self.search_failed.emit(req, exc)

        self._tasks.submit(work, done, failed)
        return generation

    def refresh_status(self, load_model: bool = True) -> None:
        self.call(lambda lib: _status(lib, load_model), self.status_changed.emit)

    def add_folders(
        self, paths: Iterable[str], on_done: Callable[[Any], None] | None = None
    ) -> None:
        wanted = list(paths)

        def work(lib: Library) -> list[str]:
            added = [f.path for f in lib.add_folders(wanted)]
            self.restart_watch()
            return added

        self.call(work, lambda added: self._changed(on_done, added))

    def remove_folders(
        self, paths: Iterable[str], on_done: Callable[[Any], None] | None = None
    ) -> None:
        wanted = list(paths)

        def work(lib: Library) -> int:
            dropped = lib.remove_folders(wanted)
            self.restart_watch()
            return int(dropped)

        self.call(work, lambda n: self._changed(on_done, n))

    def set_rules(self, excludes: list[str], include_hidden: bool) -> None:
        """New rules take a scan: the watch starts again with one (files now excluded leave the
        index), and ``indexed`` says when it is done."""

        def work(lib: Library) -> None:
            lib.set_rules(excludes=excludes, include_hidden=include_hidden)
            self.restart_watch()

        self.call(work, lambda _: self._changed(None, None))

    def set_ocr(self, enabled: bool) -> None:
        """Read text in photos and scans, or forget it (the pictures' vectors stay)."""

        def work(lib: Library) -> None:
            lib.set_ocr(enabled)
            self._wake_watch(lib)

        self.call(work, lambda _: self._changed(None, None))

    def retry_errors(self) -> None:
        def work(lib: Library) -> int:
            n = int(lib.retry_errors())
            self._wake_watch(lib)
            return n

        self.call(work, lambda n: self._changed(None, n))

    def rebuild(self) -> None:
        """Embed everything again with the current model (after a model change)."""

        def work(lib: Library) -> None:
            lib.reembed()
            self.restart_watch()

        self.call(work, lambda _: self._changed(None, None))

    def _changed(self, on_done: Callable[[Any], None] | None, value: Any) -> None:
        if on_done is not None:
            on_done(value)
        self.refresh_status()

    # -- getting the model -------------------------------------------------------------------

    def offer_model(self, on_done: Callable[[model_setup.ModelOffer], None]) -> None:
        """Which variant suits this machine, and what the Hub says it takes to download it."""
        data, model, device = self.data_dir, self.model_dir, self.device
        self._model_tasks.submit(lambda: model_setup.offer(data, model, device), on_done)

    def download_model(
        self,
        plan: DownloadPlan,
        cancel: threading.Event,
        on_done: Callable[[Any], None],
        on_error: Callable[[LanternaError], None],
    ) -> None:
        """Download, split, check and install the model in the folder in use; progress comes as
        ``model_progress`` and ``model_step``. Setting ``cancel`` stops it (``Cancelled``)."""
        data, model, device = self.data_dir, self.model_dir, self.device
        self._model_cancel = cancel

        def work() -> Any:
            return model_setup.guarded(
                lambda: model_setup.download(
                    plan,
                    data,
                    model,
                    device,
                    progress=self._on_model_progress,
                    step=self.model_step.emit,
                    cancel=cancel,
                )
            )

        self._model_tasks.submit(work, on_done, on_error)

    def import_model(
        self,
        source: str,
        on_done: Callable[[Any], None],
        on_error: Callable[[LanternaError], None],
    ) -> None:
        """Install the model folder (or the official ONNX files) at ``source``, offline."""
        data, model, device = self.data_dir, self.model_dir, self.device

        def work() -> Any:
            return model_setup.guarded(
                lambda: model_setup.import_folder(
                    Path(source), data, model, device, step=self.model_step.emit
                )
            )

        self._model_tasks.submit(work, on_done, on_error)

    def _on_model_progress(self, done: int, total: int) -> None:
        # Worker thread: emit only, about ten times a second; the first and last always.
        now = time.monotonic()
        if done in (0, total) or now - self._last_model_progress >= PROGRESS_INTERVAL_S:
            self._last_model_progress = now
            self.model_progress.emit(done, total)

    def model_installed(self, on_checked: Callable[[LanternaError | None], None]) -> None:
        """A model was put in the folder in use: open the library again so that it is used,
        then load it and say whether it runs and fits the index (None), or why not (a
        ``ModelMismatchError`` when the index was made with another model)."""

        def check(lib: Library) -> None:
            lib.embedder  # noqa: B018  (loads, verifies, compares with the index)

        def reopened(error: LanternaError | None) -> None:
            if error is not None:
                on_checked(error)
            else:
                self.call(check, lambda _: on_checked(None), on_checked)

        self.reopen(self.model_dir, self.device, then=reopened)

    def file_info(self, path: str, on_done: Callable[[FileInfo], None]) -> None:
        def work(lib: Library) -> FileInfo:
            row = lib.file_info(path)
            size: int | None = row.size if row else None
            mtime: float | None = None
            try:
                st = os.stat(path)
                size, mtime = st.st_size, st.st_mtime
            except OSError:
                pass  # gone since it was indexed: what the index knows will do
            width = row.width if row else None
            height = row.height if row else None
            taken = row.taken if row else None
            if width is None and os.path.isfile(path):
                width, height = _dimensions(path)
            return FileInfo(path, size, width, height, taken, mtime)

        self.call(work, on_done, lambda _exc: None)


def _dimensions(path: str) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(path) as im:  # reads the header only
            return int(im.width), int(im.height)
    except Exception:
        return None, None


def data_folder(explicit: str | os.PathLike[str] | None) -> Path:
    from engine import paths

    return paths.data_dir(explicit)
