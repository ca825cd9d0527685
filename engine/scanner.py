"""Walking watched folders and reconciling what is on disk with what the index holds.

The same reconcile step serves the full scan at start (added, changed, deleted and moved while
the app was closed) and the watcher's debounced batches: a path that vanished and a path that
appeared with the same size and content hash is a move, and the file keeps its vectors.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from .documents import is_document
from .preprocess import SUPPORTED_EXTENSIONS
from .store import NAME_ONLY, FileRow, Folder, Store

log = logging.getLogger(__name__)

DEFAULT_EXCLUDES: tuple[str, ...] = (
    "node_modules",
    "__pycache__",
    "$RECYCLE.BIN",
    "System Volume Information",
    "*.tmp",
    "*.part",
    "*.crdownload",
    "@eaDir",
)

IMAGE = "image"
DOCUMENT = "document"
OTHER = NAME_ONLY  # found by its name only: Lanterna cannot read its content


def kind_of(path: str) -> str | None:
    """The kind of item a file becomes; every file is at least found by its name."""
    ext = os.path.splitext(path)[1].lower()
    if ext in SUPPORTED_EXTENSIONS:
        return IMAGE
    if is_document(path):
        return DOCUMENT
    return OTHER


def content_hash(path: str | os.PathLike[str]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def bytes_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Rules:
    """Which files are skipped: hidden ones, and those matching an exclude glob.

    A glob without a slash matches any single path component (``node_modules``, ``*.tmp``); a glob
    with a slash matches the path relative to the watched folder (``Work/drafts/*``).
    """

    excludes: tuple[str, ...] = DEFAULT_EXCLUDES
    include_hidden: bool = False
    # Lanterna's own folders (the index, models): never indexed, even inside a watched folder,
    # or every write to the index would be a change to index.
    private: tuple[str, ...] = ()
    follow_links: bool = False
    """Follow symbolic links that lead out of the watched folder (off: a link to / or /proc
    would take in the whole file system)."""

    def skip_name(self, name: str) -> bool:
        if not self.include_hidden and name.startswith("."):
            return True
        return any("/" not in g and fnmatch.fnmatch(name, g) for g in self.excludes)

    def skip_relative(self, relative: str) -> bool:
        rel = relative.replace(os.sep, "/")
        return any("/" in g and fnmatch.fnmatch(rel, g) for g in self.excludes)

    def skips(self, root: str, path: str) -> bool:
        """Whether ``path`` (below ``root``) is hidden or excluded at any level."""
        try:
            rel = os.path.relpath(path, root)
        except ValueError:
            return True
        if rel.startswith(".."):
            return True
        parts = PurePath(rel).parts
        if any(self.skip_name(p) for p in parts) or self.skip_relative(rel):
            return True
        if any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in self.private):
            return True
        return not self.follow_links and not _inside(os.path.realpath(path), root)


def _inside(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` lies in the watched folder ``root``."""
    base = os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


@dataclass
class Stat:
    size: int
    mtime_ns: int


@dataclass
class ScanResult:
    files: dict[str, Stat] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def _is_hidden_attr(entry: os.DirEntry[str]) -> bool:
    attrs = getattr(entry.stat(follow_symlinks=False), "st_file_attributes", 0)
    return bool(attrs & getattr(stat, "FILE_ATTRIBUTE_HIDDEN", 0))


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is longer than this system allows (PATH_MAX), so it is left out"
    return exc.strerror or str(exc)


def walk(root: str, rules: Rules, cancelled: Callable[[], bool] = lambda: False) -> ScanResult:
    """All indexable files below ``root``, following symlinks without ever looping; links that
    lead out of ``root`` only when the rules say so (they are counted, as one problem)."""
    result = ScanResult()
    left_out = 0
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        if cancelled():
            break
        directory = stack.pop()
        try:
            st = os.stat(directory)
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue  # a symlink loop or a second link to a folder already walked
            visited.add(key)
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError as exc:
            result.unreadable.append(directory)
            result.problems.append((directory, _problem(exc)))
            continue
        for entry in listing:
            name = entry.name
            if rules.skip_name(name):
                continue
            try:
                if not rules.include_hidden and _is_hidden_attr(entry):
                    continue
                rel = os.path.relpath(entry.path, root)
                if rules.skip_relative(rel):
                    continue
                if (
                    not rules.follow_links
                    and entry.is_symlink()
                    and not _inside(os.path.realpath(entry.path), root)
                ):
                    left_out += 1
                    continue
                if entry.is_dir(follow_symlinks=True):
                    if entry.path not in rules.private:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=True) and kind_of(name):
                    est = entry.stat(follow_symlinks=True)
                    result.files[entry.path] = Stat(est.st_size, est.st_mtime_ns)
            except OSError as exc:  # vanished, broken symlink, permission, too long
                if exc.errno != errno.ENAMETOOLONG and not os.path.lexists(entry.path):
                    continue
                result.problems.append((entry.path, _problem(exc)))
    if left_out:
        result.problems.append(
            (
                root,
                f"{left_out} symbolic link{'s' if left_out != 1 else ''} leading out of this "
                "folder not followed (`lanterna folders follow-links on` follows them)",
            )
        )
    return result


@dataclass
class Changes:
    added: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0

    def __iadd__(self, other: Changes) -> Changes:
        self.added += other.added
        self.changed += other.changed
        self.moved += other.moved
        self.removed += other.removed
        return self

    @property
    def total(self) -> int:
        return self.added + self.changed + self.moved + self.removed


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip(os.sep) + os.sep) for p in prefixes)


def reconcile(
    store: Store,
    folder_for: Callable[[str], Folder | None],
    seen: dict[str, Stat],
    known: Iterable[FileRow],
    protect: Sequence[str] = (),
) -> Changes:
    """Bring the index in line with ``seen`` for the paths in scope.

    ``known`` are the index rows in scope; ``protect`` lists unreadable directories whose files
    must not be taken for deleted. A new path whose size and content hash equal those of a vanished
    row is that row, moved: the row follows the file and keeps its vectors.
    """
    changes = Changes()
    known_by_path = {row.path: row for row in known}
    gone = [row for p, row in known_by_path.items() if p not in seen and not _under(p, protect)]
    new = [p for p in seen if p not in known_by_path]
    changed = [
        (row.id, seen[p].size, seen[p].mtime_ns)
        for p, row in known_by_path.items()
        if p in seen and (row.size, row.mtime_ns) != (seen[p].size, seen[p].mtime_ns)
    ]
    by_size: dict[int, list[FileRow]] = {}
    for row in gone:
        if row.hash:
            by_size.setdefault(row.size, []).append(row)
    to_add: list[tuple[int, str, int, int, str]] = []
    moved_ids: set[int] = set()
    for path in sorted(new):
        folder = folder_for(path)
        kind = kind_of(path)
        if folder is None or kind is None:
            continue
        st = seen[path]
        candidates = [r for r in by_size.get(st.size, []) if r.id not in moved_ids]
        if candidates:
            try:
                digest = content_hash(path)
            except OSError:
                continue  # vanished again; the next event or scan will see it
            match = next((r for r in candidates if r.hash == digest), None)
            if match is not None:
                store.move_file(match.id, folder.id, path, st.size, st.mtime_ns)
                moved_ids.add(match.id)
                changes.moved += 1
                continue
        to_add.append((folder.id, path, st.size, st.mtime_ns, kind))
    if to_add:
        store.add_files(to_add)
        changes.added = len(to_add)
    if changed:
        store.mark_changed(changed)
        changes.changed = len(changed)
    removed = [row.id for row in gone if row.id not in moved_ids]
    if removed:
        store.delete_files(removed)
        changes.removed = len(removed)
    return changes
