"""The engine's one front door: a user's library of watched folders, its index and its model.

The CLI and the desktop app both drive this class; it never touches Qt. Everything long takes a
cancel event and a progress callback. Methods are safe to call from several threads: the store
serialises writes and gives each thread its own read connection.

Reading text in pictures (OCR) is a stage of :meth:`Library.embed_pending`, after the vectors, on
the same thread; it uses one worker process (engine.ocr.OcrWorker, "lanterna-ocr") that the
library starts on first use and stops in :meth:`close`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import model as model_folder
from . import paths
from .documents import close_worker
from .embedder import Embedder
from .errors import ConfigError, ModelError, ModelMismatchError
from .indexer import Indexer, Progress, RunStats
from .ocr import OcrWorker
from .scanner import DEFAULT_EXCLUDES, Changes, Rules, Stat, kind_of, reconcile, walk
from .search import Query, Result, Searcher
from .store import FileRow, Folder, Store
from .watcher import Batch, Watcher

log = logging.getLogger(__name__)

RESCAN_INTERVAL_S = 15 * 60
VISION_IDLE_S = 5 * 60  # then the vision tower's memory goes back; the text tower stays warm


def normalise(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))


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
        self._model_lock = threading.Lock()
        self._index_lock = threading.Lock()
        self.watcher: Watcher | None = None
        self._wake = threading.Event()
        self._searcher: Searcher | None = None
        self._ocr_worker: OcrWorker | None = None
        self._ocr_lock = threading.Lock()
        self._ocr_unavailable: str | None = None

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self._embedder is not None:
            self._embedder.close()
        with self._ocr_lock:
            if self._ocr_worker is not None:
                self._ocr_worker.close()
                self._ocr_worker = None
        close_worker()
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the model ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The model's runner, loaded, verified and checked against the index on first use."""
        with self._model_lock:
            if self._embedder is None:
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
        meta = self.store.meta()
        wanted = folder.identity
        recorded = {k: meta[k] for k in wanted if k in meta}
        if recorded == wanted:
            return
        if recorded and self.store.counts()["vectors"] > 0:
            raise ModelMismatchError(
                f"the index holds vectors of {meta.get('model_id')} "
                f"({meta.get('model_revision')}), not of {folder.id} ({folder.revision})",
                "run `lanterna index --reembed` to embed everything again with this model",
            )
        self.store.set_meta(wanted)

    def reembed(self) -> None:
        """Forget every vector and adopt the current model folder (the user agreed to re-embed)."""
        folder = model_folder.load(self.model_dir)
        self.store.clear_vectors()
        self.store.set_meta(folder.identity)
        with self._model_lock:
            self._embedder = None

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
        """Scan, then embed everything new or changed."""
        changes, problems = self.scan(folder_paths, cancel)
        run = self.embed_pending(cancel=cancel, pause=pause, progress=progress)
        return IndexReport(changes, run, problems)

    def embed_pending(
        self,
        *,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
    ) -> RunStats:
        """Embed what is pending, then read the text in pictures not read yet (when on)."""
        run = RunStats()
        if self.store.count_pending():
            embedder = self.embedder
            with self._index_lock:
                self.searcher().ensure_probes()
                indexer = Indexer(self.store, embedder, workers=self.workers)
                run = indexer.run(cancel=cancel, pause=pause, progress=progress)
        if not run.cancelled and not (cancel is not None and cancel.is_set()):
            run.ocr_files = self.read_text(cancel=cancel, pause=pause, progress=progress).files
        return run

    # -- text in pictures (OCR) --------------------------------------------------------------

    def ocr_enabled(self) -> bool:
        from .ocrindex import SETTING, default_enabled

        return bool(self.store.setting(SETTING, default_enabled()))

    def set_ocr(self, enabled: bool) -> int:
        """Turn reading text in pictures on or off. Off forgets the text read so far (the
        pictures' own vectors stay); on reads it at the next indexing run. Returns how many
        passages were forgotten."""
        from .ocrindex import SETTING

        self.store.set_setting(SETTING, bool(enabled))
        dropped = 0 if enabled else self.store.drop_ocr()
        if enabled:
            self._wake.set()
        return dropped

    def ocr_worker(self) -> OcrWorker:
        """The OCR process, on the device the towers use (started on first use)."""
        with self._ocr_lock:
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

        if not self.ocr_enabled() or self.store.count_ocr_pending(READ_KINDS) == 0:
            return OcrRunStats()
        if self._ocr_unavailable is None:
            self._ocr_unavailable = ocr.available() or ""
            if self._ocr_unavailable:
                log.warning("text in pictures is not read: %s", self._ocr_unavailable)
        if self._ocr_unavailable:
            return OcrRunStats()
        with self._index_lock:
            stage = OcrIndexer(self.store, self.embedder, self.ocr_worker())
            return stage.run(
                cancel=cancel,
                pause=pause,
                progress=progress,
                give_way=lambda: self.store.count_pending() > 0,
            )

    def retry_errors(self) -> int:
        return self.store.retry_errors()

    # -- watching ----------------------------------------------------------------------------

    def apply_changes(self, batch: Batch) -> Changes:
        """Bring the index in line with what the watcher saw (moves keep their vectors)."""
        folders = self.store.folders()
        rules = self.rules()
        changes = Changes()
        for src, dest in batch.dir_moves:
            target = self.folder_for(dest, folders)
            if target is not None and not rules.skips(target.path, dest):
                changes.moved += self.store.move_tree(src, dest, target.id)
            else:
                batch.dir_deleted.add(src)
        candidates = set(batch.paths)
        for directory in batch.dir_created:
            root = self.folder_for(directory, folders)
            if (
                root is not None
                and os.path.isdir(directory)
                and not rules.skips(root.path, directory)
            ):
                candidates.update(walk(directory, rules).files)
        seen: dict[str, Stat] = {}
        for path in candidates:
            root = self.folder_for(path, folders)
            if root is None or kind_of(path) is None or rules.skips(root.path, path):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            if os.path.isfile(path):
                seen[path] = Stat(st.st_size, st.st_mtime_ns)
        known: dict[str, FileRow] = self.store.files_by_path(candidates)
        for directory in batch.dir_deleted:
            known.update((r.path, r) for r in self.store.files_under(directory))
        changes += reconcile(
            self.store, lambda p: self.folder_for(p, folders), seen, known.values()
        )
        if changes.total:
            self._wake.set()
        return changes

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
        """Index, then follow changes until ``stop`` is set."""

        def handle(batch: Batch) -> None:
            changes = self.apply_changes(batch)
            if on_changes is not None and changes.total:
                on_changes(changes)

        self.store.memory_index = True  # many queries will follow: keep the vectors in memory
        from .cli import answer
        from .serve import QueryServer

        server = QueryServer(self.data_dir, lambda argv: answer(self, argv))
        server.start()  # `lanterna search` in another process asks this one (engine.serve)
        # Watch first, then scan: a file that arrives meanwhile is seen by one or the other.
        roots = [f.path for f in self.store.folders() if os.path.isdir(f.path)]
        watcher = Watcher(roots, handle, quiet=self.quiet, polling=polling)
        watcher.start()
        self.watcher = watcher
        try:
            first = self.index(cancel=stop, pause=pause, progress=progress)
        except BaseException:
            server.close()
            watcher.stop()
            self.watcher = None
            raise
        if on_indexed is not None:
            on_indexed(first.run)
        last_scan = time.monotonic()
        try:
            while not stop.is_set():
                self._wake.wait(0.2)
                if stop.is_set():
                    break
                if self._embedder is not None:
                    self._embedder.release_vision_if_idle(VISION_IDLE_S)
                if time.monotonic() - last_scan > rescan_interval:
                    self.scan(cancel=stop)
                    last_scan = time.monotonic()
                    self._wake.set()
                if self._wake.is_set():
                    self._wake.clear()
                    run = self.embed_pending(cancel=stop, pause=pause, progress=progress)
                    if on_indexed is not None and (run.done or run.ocr_files):
                        on_indexed(run)
                    if self.store.count_pending():
                        self._wake.set()  # the text stage gave way to new files
        finally:
            server.close()
            self.watcher.stop()
            self.watcher = None

    def idle(self) -> bool:
        """Nothing waits to be embedded and the watcher has nothing in its quiet period."""
        watching_idle = self.watcher is None or self.watcher.idle()
        return watching_idle and not self._wake.is_set() and self.store.count_pending() == 0

    # -- searching ---------------------------------------------------------------------------

    def searcher(self) -> Searcher:
        """The one searcher of this library (it caches the calibration background)."""
        embedder = self.embedder
        searcher = self._searcher
        if searcher is None or searcher.embedder is not embedder:
            searcher = self._searcher = Searcher(self.store, embedder)
        return searcher

    def search(self, query: Query) -> list[Result]:
        from .ocrindex import annotate

        return annotate(self.store, self.searcher().search(query), query.text)

    def similar(self, path: str, query: Query | None = None) -> list[Result]:
        row = self.store.files_by_path([normalise(path)]).get(normalise(path))
        if row is None:
            raise ConfigError(f"{paths.display(path)} is not in the index")
        return self.searcher().similar(row.id, query or Query())

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
        counts = self.store.counts()
        meta = self.store.meta()
        info: dict[str, Any] = {
            "data_dir": str(self.data_dir),
            "index": str(self.store.path),
            "db_bytes": self.store.size_bytes(),
            "files": {k: counts[k] for k in ("indexed", "pending", "error")},
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
            "ocr": self._ocr_status(),
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
