"""The engine's one front door: a user's library of watched folders, its index and its model.

The CLI and the desktop app both drive this class; it never touches Qt. Everything long takes a
cancel event and a progress callback. Methods are safe to call from several threads: the store
serialises writes and gives each thread its own read connection.

This class owns every thread, process and queue of the engine; docs/threads.md maps them (who
starts each, how it stops). In short: one long-lived decode pool and one PDF reader process for
indexing, started on first use; the watcher's observer and consumer threads while :meth:`watch`
runs; one writer (the process that indexes holds the writer lock from its first run until
:meth:`close`; a process that only searches never takes it). :meth:`close` stops them in order:
cancel what runs and wait for it, the watcher, the decode pool, the model, the OCR and PDF
reader processes, and last the index.

A document's words go into the keyword index ahead of its vectors (engine.words), the first
stage of :meth:`Library.embed_pending` and again between the vectors' files, on the same thread.
Reading text in pictures (OCR) is a stage of :meth:`Library.embed_pending`, after the vectors, on
the same thread; it uses one worker process (engine.ocr.OcrWorker, "lanterna-ocr") that the
library starts on first use and stops in :meth:`close`.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import db, paths
from .errors import ConfigError, IndexDamagedError, IndexError_, ModelError, ModelMismatchError
from .ocrlines import annotate
from .search import Query, Result, Searcher, needs_model
from .store import FileRow, Folder, Store

# What indexing, watching and the model need is imported where it is first used: a process
# that only searches exact words (`lanterna search --words`) loads neither numpy, Pillow,
# ONNX Runtime nor watchdog.
if TYPE_CHECKING:
    from . import model as model_folder
    from .embedder import Embedder
    from .indexer import Progress, RunStats
    from .ocr import OcrWorker
    from .scanner import Changes, Rules
    from .watcher import Batch, Watcher
    from .words import WordsRunStats

log = logging.getLogger(__name__)

RESCAN_INTERVAL_S = 15 * 60
AGAIN_AFTER_S = 2.0  # files left pending by a run (still changing) are looked at again after this
RETRY_CHECK_S = 5.0  # how often a watch looks for files whose retry time has come
CLOSE_GRACE_S = 2.0  # then a PDF being read is interrupted (it stays pending)
CLOSE_WAIT_S = 120.0
VISION_IDLE_S = 5 * 60  # then the vision tower's memory goes back; the text tower stays warm


def normalise(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def _loaded(name: str) -> Any:
    """The engine's module ``name`` if something imported it already, else None."""
    return sys.modules.get(f"{__package__}.{name}")


def _constant(folder: Folder) -> Callable[[str], Folder | None]:
    return lambda _path: folder


@dataclass
class IndexReport:
    changes: Changes
    run: RunStats
    problems: list[tuple[str, str]]


class Library:
    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        model_dir: str | os.PathLike[str] | None = None,
        *,
        device: str = "auto",
        quiet: float = 1.0,
        batch_size: int | None = None,  # None: the provider's measured best (embedder.tuning_for)
        workers: int | None = None,
        readonly: bool = False,
    ) -> None:
        self.data_dir = paths.data_dir(data_dir)
        self.model_dir = paths.model_dir(model_dir, self.data_dir)
        self.device = device
        self.quiet = quiet
        self.batch_size = batch_size
        self.workers = workers
        self.store = Store(paths.index_path(self.data_dir), readonly=readonly)
        self._embedder: Embedder | None = None
        self._identity_adopted = False
        self._model_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self._store_lock = threading.RLock()  # held while a damaged index is replaced
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.watcher: Watcher | None = None
        self._watching = 0  # watch loops running (each replaces a damaged index itself)
        self._wake = threading.Event()
        self._searcher: Searcher | None = None
        self._ocr_worker: OcrWorker | None = None
        self._ocr_lock = threading.Lock()
        self._ocr_unavailable: str | None = None
        self._closing = threading.Event()
        self._closed = False
        self._runs = threading.Condition()
        self._active: dict[threading.Event, int] = {}  # cancel events of what runs, by count
        self._active_threads: dict[int, int] = {}

    # -- life cycle --------------------------------------------------------------------------

    @contextmanager
    def _activity(self, cancel: threading.Event | None) -> Iterator[threading.Event]:
        """Something long runs (a watch, an index run): :meth:`close` cancels it through the
        event yielded, and waits for it to end before closing anything it uses."""
        event = cancel if cancel is not None else threading.Event()
        me = threading.get_ident()
        with self._runs:
            if self._closing.is_set():
                raise IndexError_("the library is closing")
            self._active[event] = self._active.get(event, 0) + 1
            self._active_threads[me] = self._active_threads.get(me, 0) + 1
        try:
            yield event
        finally:
            with self._runs:
                self._active[event] -= 1
                if not self._active[event]:
                    del self._active[event]
                self._active_threads[me] -= 1
                if not self._active_threads[me]:
                    del self._active_threads[me]
                self._runs.notify_all()

    def close(self) -> None:
        """Stop everything this library started, in order, and close the index. Safe to call
        from any thread, and more than once; a watch or index run in progress is cancelled and
        waited for (what it had not committed stays pending)."""
        with self._runs:
            if self._closed:
                return
            self._closed = True
            self._closing.set()
            for event in self._active:
                event.set()
            me = threading.get_ident()

            def others_done() -> bool:  # close() may be called from a callback of a run
                return all(t == me for t in self._active_threads)

            if not self._runs.wait_for(others_done, CLOSE_GRACE_S):
                documents = _loaded("documents")
                if documents is not None:  # a long PDF read: it stays pending
                    documents.interrupt_worker(documents.INDEXING)
                if not self._runs.wait_for(others_done, CLOSE_WAIT_S):
                    log.warning("indexing did not stop in %.0f s; closing anyway", CLOSE_WAIT_S)
        if self.watcher is not None:  # a watch() that never got to its own clean-up
            self.watcher.stop()
            self.watcher = None
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._model_lock:
            embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()
        with self._ocr_lock:
            if self._ocr_worker is not None:
                self._ocr_worker.close()
                self._ocr_worker = None
        documents = _loaded("documents")  # never imported: no PDF reader was started
        if documents is not None:
            documents.close_worker(documents.INDEXING)
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _decode_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._closing.is_set():
                raise IndexError_("the library is closing")
            if self._pool is None:
                from .indexer import decode_pool, default_workers

                self._pool = decode_pool(self.workers or default_workers())
            return self._pool

    # -- a damaged index ---------------------------------------------------------------------

    def _replace_damaged(self) -> Path | None:
        """Set the damaged index aside (a copy is kept) and start a new one with the same
        folders and settings; everything is then indexed again. Returns where the copy went, or
        None when another Lanterna is the writer (it rebuilds the index itself)."""
        with self._store_lock:
            old = self.store
            if self._closing.is_set() or old.readonly:
                return None  # closing; or a read-only index, which cannot be set aside here
            if old.damaged is None and not db.damage_marker(old.path).exists():
                return None  # replaced already, by another thread
            if not old.is_writer:
                probe = db.WriterLock(old.path)
                try:
                    probe.acquire()
                except IndexError_:
                    return None
                probe.release()
            was_writer, memory = old.is_writer, old.memory_index
            old.close()
            store = Store(old.path, damaged=old.damaged or "a page could not be read")
            store.memory_index = memory
            if was_writer:
                store.claim_writer()
            self.store = store
            self._identity_adopted = False
            kept = store.recovered
            log.warning("a new index was started (the damaged one is kept at %s)", kept)
            self._wake.set()
            return kept

    def _damaged(self, exc: IndexDamagedError) -> IndexDamagedError:
        """What to tell the user about a damaged index found while searching or indexing; the
        index is replaced now unless a watch loop of this process (or another writer) will."""
        kept = None if self._watching else self._replace_damaged()
        if kept is not None:
            return IndexDamagedError(
                f"{exc.detail}; a copy is kept at {paths.display(kept)} and a new index was "
                "started with the same folders",
                "run `lanterna index` (or keep Lanterna running) to fill it",
            )
        if self.store.readonly:
            return IndexDamagedError(
                exc.detail, "this index is read-only here: open it where its folder can be written"
            )
        return IndexDamagedError(
            exc.detail, "it is being rebuilt with the same folders; search again in a while"
        )

    # -- the model ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The model's runner, loaded, verified and checked against the index on first use."""
        with self._model_lock:
            if self._closing.is_set():
                raise IndexError_("the library is closing")
            if self._embedder is None:
                from . import model as model_folder
                from .embedder import Embedder

                folder = model_folder.load(self.model_dir)
                model_folder.verify(folder, paths.cache_dir(self.data_dir) / "model-checksums.json")
                self._check_identity(folder)
                self._embedder = Embedder(
                    folder,
                    device=self.device,
                    batch_size=self.batch_size,
                    trust_file=paths.cache_dir(self.data_dir) / "provider-checks.json",
                )
            return self._embedder

    def _check_identity(self, folder: model_folder.ModelFolder) -> None:
        """Refuse a model other than the one the index's vectors came from. Only compares: the
        identity is written by the writer, when it first stores vectors (a process that only
        searches must never need the writer lock)."""
        meta = self.store.meta()
        wanted = folder.identity
        recorded = {k: meta[k] for k in wanted if k in meta}
        if recorded and recorded != wanted and self.store.counts()["vectors"] > 0:
            raise ModelMismatchError(
                f"the index holds vectors of {meta.get('model_id')} "
                f"({meta.get('model_revision')}), not of {folder.id} ({folder.revision})",
                "run `lanterna index --reembed` to embed everything again with this model",
            )

    def _adopt_identity(self, folder: model_folder.ModelFolder) -> None:
        """Record the model's identity (the writer, before storing vectors), checking again in
        the same transaction that no other model's vectors are there."""
        if self._identity_adopted:
            return
        wanted = folder.identity
        with self.store.write() as conn:
            meta = {k: v for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}
            recorded = {k: meta[k] for k in wanted if k in meta}
            if recorded != wanted:
                vectors = conn.execute("SELECT count(*) FROM vec_items").fetchall()[0][0]
                if recorded and vectors:
                    raise ModelMismatchError(
                        f"the index holds vectors of {meta.get('model_id')} "
                        f"({meta.get('model_revision')}), not of {folder.id} ({folder.revision})",
                        "run `lanterna index --reembed` to embed everything again with this model",
                    )
                for key, value in wanted.items():
                    conn.execute(
                        "INSERT INTO meta(key, value) VALUES(?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                        (key, value),
                    )
        self._identity_adopted = True

    def reembed(self) -> None:
        """Forget every vector and adopt the current model folder (the user agreed to re-embed)."""
        from . import model as model_folder

        folder = model_folder.load(self.model_dir)
        self.store.claim_writer()
        self.store.clear_vectors()
        self.store.set_meta(folder.identity)
        with self._model_lock:
            self._embedder = None  # a search may still be using the old one
        self._identity_adopted = True

    # -- folders and rules -------------------------------------------------------------------

    def folders(self) -> list[Folder]:
        return self.store.folders()

    def add_folders(self, folder_paths: Iterable[str | os.PathLike[str]]) -> list[Folder]:
        added = []
        for raw in folder_paths:
            path = normalise(raw)
            if not os.path.isdir(path):
                what = "is not a folder" if os.path.lexists(path) else "does not exist"
                raise ConfigError(f"{paths.display(path)} {what}")
            current = self.store.folders()
            parent = next(
                (f for f in current if path.startswith(f.path.rstrip(os.sep) + os.sep)), None
            )
            if parent is not None:
                log.info("%s is already watched as part of %s", path, parent.path)
                added.append(parent)
                continue
            folder_id = self.store.add_folder(path)
            for child in current:
                if child.path.startswith(path.rstrip(os.sep) + os.sep):
                    self.store.absorb_folder(child.id, folder_id)
            added.extend(f for f in self.store.folders() if f.id == folder_id)
        return added

    def remove_folders(self, folder_paths: Iterable[str | os.PathLike[str]]) -> int:
        by_path = {f.path: f for f in self.store.folders()}
        dropped = 0
        for raw in folder_paths:
            path = normalise(raw)
            folder = by_path.get(path)
            if folder is None:
                raise ConfigError(
                    f"{paths.display(path)} is not a watched folder", "see `lanterna folders list`"
                )
            dropped += self.store.remove_folder(folder.id)
        return dropped

    def rules(self) -> Rules:
        from .scanner import DEFAULT_EXCLUDES, Rules

        return Rules(
            excludes=tuple(self.store.setting("excludes", list(DEFAULT_EXCLUDES))),
            include_hidden=bool(self.store.setting("include_hidden", False)),
            private=(str(self.data_dir),),
            follow_links=bool(self.store.setting("follow_links", False)),
        )

    def set_rules(
        self,
        excludes: Iterable[str] | None = None,
        include_hidden: bool | None = None,
        follow_links: bool | None = None,
    ) -> None:
        if excludes is not None:
            self.store.set_setting("excludes", list(excludes))
        if include_hidden is not None:
            self.store.set_setting("include_hidden", include_hidden)
        if follow_links is not None:
            self.store.set_setting("follow_links", follow_links)

    def folder_for(self, path: str, folders: list[Folder] | None = None) -> Folder | None:
        """The watched folder a path lies in (the deepest one, should several nest)."""
        best = None
        for f in folders if folders is not None else self.store.folders():
            if path.startswith(f.path.rstrip(os.sep) + os.sep) and (
                best is None or len(f.path) > len(best.path)
            ):
                best = f
        return best

    # -- scanning and indexing ---------------------------------------------------------------

    def scan(
        self, folder_paths: Iterable[str] | None = None, cancel: threading.Event | None = None
    ) -> tuple[Changes, list[tuple[str, str]]]:
        """Reconcile the index with the disk for the given (or all) watched folders."""
        from .scanner import Changes, reconcile, walk

        folders = self.store.folders()
        if folder_paths is not None:
            wanted = [normalise(p) for p in folder_paths]
            chosen = []
            for path in wanted:
                match = [f for f in folders if f.path == path]
                if not match:
                    raise ConfigError(
                        f"{paths.display(path)} is not a watched folder",
                        "add it first with `lanterna folders add`",
                    )
                chosen.extend(match)
            folders_to_scan = chosen
        else:
            folders_to_scan = folders
        rules = self.rules()
        total = Changes()
        problems: list[tuple[str, str]] = []
        stop = cancel or threading.Event()
        for folder in folders_to_scan:
            if stop.is_set():
                break
            if not os.path.isdir(folder.path):
                # Unmounted drive or renamed folder: keep its files until it comes back.
                self.store.set_folder_status(folder.id, "missing", "the folder cannot be found")
                problems.append((folder.path, "the folder cannot be found; its index is kept"))
                continue
            result = walk(folder.path, rules, stop.is_set)
            if stop.is_set():
                break
            if folder.path in result.unreadable:
                self.store.set_folder_status(folder.id, "unreadable", result.problems[0][1])
                problems.extend(result.problems)
                continue
            known = self.store.files_in_folder(folder.id).values()
            total += reconcile(
                self.store, _constant(folder), result.files, known, protect=result.unreadable
            )
            problems.extend(result.problems)
            self.store.set_folder_status(folder.id, "ok", None, scanned=True)
        return total, problems

    def index(
        self,
        folder_paths: Iterable[str] | None = None,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> IndexReport:
        """Scan, then embed everything new or changed (and what is due to be tried again)."""
        with self._activity(cancel) as stop:
            self.store.claim_writer()
            for attempt in (1, 2):
                try:
                    changes, problems = self.scan(folder_paths, stop)
                    self.store.requeue_due()
                    run = self.embed_pending(cancel=stop, pause=pause, progress=progress)
                    return IndexReport(changes, run, problems)
                except IndexDamagedError as exc:
                    if attempt == 2 or self._watching or self._replace_damaged() is None:
                        raise self._damaged(exc) from exc
            raise AssertionError("unreachable")

    def embed_pending(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> RunStats:
        """Put pending documents' words in the keyword index, embed what is pending, then read
        the text in pictures not read yet (when on)."""
        from .indexer import Indexer, RunStats
        from .words import WordsIndexer

        with self._activity(cancel) as stop:
            self.store.claim_writer()
            run = RunStats()
            words = WordsIndexer(self.store)
            found: list[WordsRunStats] = []
            if self.store.count_pending():
                # before the model loads: words need no tower
                with self._index_lock:
                    found.append(words.run(cancel=stop, pause=pause, progress=progress))
            if found and found[0].cancelled:
                run.cancelled = True
            elif self.store.count_pending():
                embedder = self.embedder
                self._adopt_identity(embedder.model)

                def between() -> None:  # documents that arrive during a long run
                    caught = words.catch_up(stop, pause)
                    if caught is not None:
                        found.append(caught)

                with self._index_lock:
                    if not self._calibrate(stop, progress):
                        run.cancelled = True
                    else:
                        indexer = Indexer(
                            self.store, embedder, workers=self.workers, pool=self._decode_pool()
                        )
                        run = indexer.run(
                            cancel=stop, pause=pause, progress=progress, between=between
                        )
            for w in found:  # what the words stage settled counts as done by the run
                run.words += w.files
                run.done += w.errors + w.retrying + w.vanished
                run.errors += w.errors
                run.retrying += w.retrying
                run.vanished += w.vanished
            if not run.cancelled and not stop.is_set():
                run.ocr_files = self.read_text(cancel=stop, pause=pause, progress=progress).files
            return run

    def _calibrate(
        self, stop: threading.Event, progress: Callable[[Progress], None] | None
    ) -> bool:
        """The calibration probes of this model, stored once (the picture probes take about a
        minute with the real tower on a CPU: shown as a stage, and cancellable)."""
        from .indexer import Progress

        started = time.monotonic()

        def each(done: int, total: int) -> bool:
            if progress is not None:
                elapsed = time.monotonic() - started
                progress(Progress(done, total, 0, 0, None, elapsed, stage="calibrate"))
            return not stop.is_set()

        return self.searcher().ensure_probes(each)

    # -- text in pictures (OCR) --------------------------------------------------------------

    def ocr_enabled(self) -> bool:
        from .ocrindex import SETTING, default_enabled

        return bool(self.store.setting(SETTING, default_enabled()))

    def set_ocr(self, enabled: bool) -> int:
        """Turn reading text in pictures on or off. Off forgets the text read so far (the
        pictures' own vectors stay); on reads it at the next indexing run. Returns how many
        passages were forgotten."""
        from .ocrindex import SETTING

        # off: the text goes first, so that no status shows reading off with its text still there
        dropped = 0 if enabled else self.store.drop_ocr()
        self.store.set_setting(SETTING, bool(enabled))
        if enabled:
            self._wake.set()
        return dropped

    def ocr_worker(self) -> OcrWorker:
        """The OCR process, on the device the towers use (started on first use)."""
        from .ocr import OcrWorker

        with self._ocr_lock:
            if self._closing.is_set():
                raise IndexError_("the library is closing")
            if self._ocr_worker is None:
                device = "cuda" if "CUDA" in self.embedder.provider else "cpu"
                self._ocr_worker = OcrWorker(device=device)
            return self._ocr_worker

    def read_text(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> Any:
        """The OCR stage (engine.ocrindex): gives way as soon as new files wait for vectors."""
        from . import ocr
        from .ocrindex import READ_KINDS, OcrIndexer, OcrRunStats

        with self._activity(cancel) as stop:
            if not self.ocr_enabled() or self.store.count_ocr_pending(READ_KINDS) == 0:
                return OcrRunStats()
            if self._ocr_unavailable is None:
                self._ocr_unavailable = ocr.available() or ""
                if self._ocr_unavailable:
                    log.warning("text in pictures is not read: %s", self._ocr_unavailable)
            if self._ocr_unavailable:
                return OcrRunStats()
            self.store.claim_writer()
            with self._index_lock:
                stage = OcrIndexer(self.store, self.embedder, self.ocr_worker())
                return stage.run(
                    cancel=stop,
                    pause=pause,
                    progress=progress,
                    give_way=lambda: self.store.count_pending() > 0,
                )

    def retry_errors(self) -> int:
        return self.store.retry_errors()

    # -- watching ----------------------------------------------------------------------------

    def apply_changes(self, batch: Batch) -> Changes:
        """Bring the index in line with what the watcher saw (moves keep their vectors).

        Every path the batch touches is looked at as it is now on disk; a directory rename
        moves the rows below it first, and the moved paths are checked too (a file deleted just
        before its folder was renamed must not reappear under the new name). A path that
        exists but cannot be looked at (permissions) keeps what the index has.
        """
        from .scanner import Changes, Stat, kind_of, reconcile, walk

        folders = self.store.folders()
        rules = self.rules()
        changes = Changes()
        candidates = set(batch.paths)
        protect: list[str] = []
        for src, dest in batch.dir_moves:
            target = self.folder_for(dest, folders)
            if target is not None and not rules.skips(target.path, dest):
                moved = self.store.move_tree(src, dest, target.id)
                changes.moved += len(moved)
                candidates.update(moved)
            else:
                batch.dir_deleted.add(src)
        for directory in batch.dir_created:
            root = self.folder_for(directory, folders)
            if (
                root is not None
                and os.path.isdir(directory)
                and not rules.skips(root.path, directory)
            ):
                found = walk(directory, rules)
                candidates.update(found.files)
                protect.extend(found.unreadable)
                # and what the index holds there: a folder made again, or looked at late
                candidates.update(r.path for r in self.store.files_under(directory))
        for directory in batch.dir_deleted:
            candidates.update(r.path for r in self.store.files_under(directory))
        seen: dict[str, Stat] = {}
        for path in candidates:
            root = self.folder_for(path, folders)
            if root is None or kind_of(path) is None or rules.skips(root.path, path):
                continue
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone
            except OSError:
                protect.append(path)  # unreadable is not deleted
                continue
            if stat.S_ISREG(st.st_mode):
                seen[path] = Stat(st.st_size, st.st_mtime_ns)
        known: dict[str, FileRow] = self.store.files_by_path(candidates)
        changes += reconcile(
            self.store, lambda p: self.folder_for(p, folders), seen, known.values(), protect
        )
        if changes.total:
            self._wake.set()
        return changes

    def _note_watch(self, note: str) -> None:
        notes = list(self.store.setting("watch_notes", []))
        if note not in notes:
            self.store.set_setting("watch_notes", [*notes, note])

    def watch(
        self,
        stop: threading.Event,
        *,
        progress: Callable[[Progress], None] | None = None,
        on_changes: Callable[[Changes], None] | None = None,
        on_indexed: Callable[[RunStats], None] | None = None,
        pause: threading.Event | None = None,
        rescan_interval: float = RESCAN_INTERVAL_S,
        polling: bool = False,
    ) -> None:
        """Index, then follow changes until ``stop`` is set (or the library is closed)."""

        def handle(batch: Batch) -> None:
            changes = self.apply_changes(batch)
            if on_changes is not None and changes.total:
                on_changes(changes)

        with self._activity(stop):
            self.store.claim_writer()  # the writer from now until close, not from a first write
            self.store.memory_index = True  # many queries will follow: keep vectors in memory
            self.store.set_setting("watch_notes", [])
            rules = self.rules()
            folders = [f for f in self.store.folders() if os.path.isdir(f.path)]

            def skip_dir(path: str) -> bool:
                root = self.folder_for(path, folders)
                return root is not None and rules.skips(root.path, path)

            # Watch first, then scan: a file that arrives meanwhile is seen by one or the other.
            from .watcher import Watcher

            watcher = Watcher(
                [f.path for f in folders],
                handle,
                quiet=self.quiet,
                polling=polling,
                skip_dir=skip_dir,
                on_note=self._note_watch,
            )
            from .cli import answer
            from .serve import QueryServer

            server = QueryServer(self.data_dir, lambda argv: answer(self, argv))
            self._watching += 1
            watcher.start()
            self.watcher = watcher
            try:
                server.start()  # `lanterna search` in another process asks this one (engine.serve)
                self._follow(stop, progress, on_indexed, pause, rescan_interval)
            finally:
                self._watching -= 1
                server.close()
                watcher.stop()
                if self.watcher is watcher:
                    self.watcher = None

    def _follow(
        self,
        stop: threading.Event,
        progress: Callable[[Progress], None] | None,
        on_indexed: Callable[[RunStats], None] | None,
        pause: threading.Event | None,
        rescan_interval: float,
    ) -> None:
        """The watch loop: a full index first, then runs when woken, rescans now and then."""
        first = True
        last_scan = time.monotonic()
        again_at: float | None = None
        retry_check = time.monotonic() + RETRY_CHECK_S
        while not stop.is_set():
            try:
                if db.damage_marker(self.store.path).exists() and not stop.is_set():
                    # found by another process
                    if self._replace_damaged() is None:
                        raise IndexError_("the index is damaged and cannot be replaced")
                    first = True
                if first:
                    report = self.index(cancel=stop, pause=pause, progress=progress)
                    first = False
                    last_scan = time.monotonic()
                    if on_indexed is not None:
                        on_indexed(report.run)
                    run = report.run
                else:
                    self._wake.wait(0.2)
                    if stop.is_set():
                        break
                    if self._embedder is not None:
                        self._embedder.release_vision_if_idle(VISION_IDLE_S)
                    now = time.monotonic()
                    if now - last_scan > rescan_interval:
                        self.scan(cancel=stop)
                        last_scan = time.monotonic()
                        self._wake.set()
                    if now >= retry_check:
                        retry_check = now + RETRY_CHECK_S
                        if self.store.requeue_due():
                            self._wake.set()
                    if again_at is not None and now >= again_at:
                        again_at = None
                        self._wake.set()
                    if not self._wake.is_set():
                        continue
                    self._wake.clear()
                    run = self.embed_pending(cancel=stop, pause=pause, progress=progress)
                    if on_indexed is not None and (run.done or run.ocr_files or run.words):
                        on_indexed(run)
                if not run.cancelled and run.busy:
                    again_at = time.monotonic() + AGAIN_AFTER_S  # still changing: soon
                elif not run.cancelled and self.store.count_pending():
                    self._wake.set()  # came meanwhile (the text stage gave way to them)
            except IndexDamagedError:
                if stop.is_set():
                    break
                if self._replace_damaged() is None:
                    raise
                first = True

    def idle(self) -> bool:
        """Nothing waits to be embedded and the watcher has nothing in its quiet period."""
        watching_idle = self.watcher is None or self.watcher.idle()
        return watching_idle and not self._wake.is_set() and self.store.count_pending() == 0

    # -- searching ---------------------------------------------------------------------------

    def searcher(self, *, model: bool = True) -> Searcher:
        """The one searcher of this library (it caches the calibration background). Without
        ``model`` it may lack the model (it answers exact words only, never loading it)."""
        embedder = self.embedder if model else self._embedder
        searcher = self._searcher
        if (
            searcher is None
            or searcher.store is not self.store
            or (embedder is not None and searcher._embedder is not embedder)
        ):
            searcher = self._searcher = Searcher(self.store, embedder)
        return searcher

    def search(self, query: Query) -> list[Result]:
        """A damaged page met here is handled like a damaged index file: set aside, rebuilt
        (folders kept), and said in one line, never a crash. Exact words only (``--words``,
        quoted phrases, ``name:``) need no model: they are answered without loading it."""
        try:
            searcher = self.searcher(model=needs_model(query))
            # text read from pictures: which line, where (engine.ocrlines loads nothing heavy)
            return annotate(self.store, searcher.search(query), query.text)
        except IndexDamagedError as exc:
            raise self._damaged(exc) from exc

    def similar(self, path: str, query: Query | None = None) -> list[Result]:
        try:
            row = self.store.files_by_path([normalise(path)]).get(normalise(path))
            if row is None:
                raise ConfigError(f"{paths.display(path)} is not in the index")
            return self.searcher().similar(row.id, query or Query())
        except IndexDamagedError as exc:
            raise self._damaged(exc) from exc

    def file_info(self, path: str) -> FileRow | None:
        """What the index knows of a file: size, dimensions, capture date, status, error."""
        return self.store.files_by_path([path]).get(path)

    def wake(self) -> None:
        """Ask a running :meth:`watch` to embed whatever is pending now (after a retry, say)."""
        self._wake.set()

    def recent(self, limit: int = 100) -> list[FileRow]:
        return self.store.recent(limit)

    # -- status ------------------------------------------------------------------------------

    def status(self, *, load_model: bool = True) -> dict[str, Any]:
        try:
            return self._status(load_model)
        except IndexDamagedError as exc:
            raise self._damaged(exc) from exc

    def _status(self, load_model: bool) -> dict[str, Any]:
        from . import model as model_folder
        from . import wordstore

        counts = self.store.counts()
        meta = self.store.meta()
        info: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "index": str(self.store.path),
            "db_bytes": self.store.size_bytes(),
            "files": {k: counts[k] for k in ("indexed", "pending", "error")},
            # could not be read just now: vectors kept, tried again later
            "retrying": counts["retrying"],
            "items": counts["items"],
            "vectors": counts["vectors"],
            "dims": int(meta.get("dims", model_folder.STORED_DIMS)),
            "index_model": meta.get("model_id"),
            "model_dir": str(self.model_dir),
            "model": None,
            "provider": None,
            "model_error": None,
            "folders": [
                {
                    "path": f.path,
                    "status": f.status,
                    "error": f.error,
                    "last_scan": f.last_scan,
                }
                for f in self.store.folders()
            ],
            "errors": [{"path": r.path, "error": r.error} for r in self.store.errors(20)],
            # how the last (or the running) watch follows the folders, e.g. polling fallbacks
            "watch_notes": list(self.store.setting("watch_notes", [])),
            "ocr": self._ocr_status(),
            # pending documents found by their words already, and those still to be read
            "words": {
                "searchable": wordstore.count_searchable(self.store),
                "pending": wordstore.count_pending(self.store),
            },
        }
        if load_model:
            try:
                emb = self.embedder
                info["model"] = {
                    "id": emb.model.id,
                    "revision": emb.model.revision,
                    "licence": emb.model.licence,
                }
                info["provider"] = emb.provider
                info["provider_note"] = emb.provider_note
            except ModelError as exc:
                info["model_error"] = exc.message
                info["model_hint"] = exc.hint
        return info

    def _ocr_status(self) -> dict[str, Any]:
        from . import ocr
        from .ocrindex import READ_KINDS

        info: dict[str, Any] = {"enabled": self.ocr_enabled(), **self.store.ocr_counts()}
        info["pending"] = self.store.count_ocr_pending(READ_KINDS) if info["enabled"] else 0
        info["unavailable"] = ocr.available()
        return info


def default_library(
    data_dir: str | None = None, model_dir: str | None = None, **kwargs: Any
) -> Library:
    return Library(data_dir, model_dir, **kwargs)


__all__ = ["IndexReport", "Library", "Path", "Query", "Result"]
