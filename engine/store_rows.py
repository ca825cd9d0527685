"""What Store's parts share: the statuses, the rows of folders, files and items, and their
helpers.

Store (engine.store) is made of the core there and of mixins (engine.store_vectors,
engine.store_text, engine.store_results); each mixin derives from StorePart, which tells the
type checker what it uses of the others. Callers import all of these names from engine.store.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import apsw

from .errors import IndexDamagedError
from .migrations import VECTOR_DIMS
from .paths import from_bytes

if TYPE_CHECKING:  # numpy and the vector index load when vectors are first touched: a search
    import numpy as np  # of exact words never needs them
    import numpy.typing as npt

    from . import vectorindex

PENDING = "pending"
INDEXED = "indexed"
ERROR = "error"
# engine.scanner's kind for files found by name only: nothing to read or embed, so they are
# indexed as soon as they are seen.
NAME_ONLY = "other"

# The source of a pending document's passages written ahead of its vectors (engine.words):
# keyword search finds them while the file waits; its older passages are not searched then.
WORDS_FIRST = "words"

# What a commit of indexing results found (see Store.store_indexed).
WRITTEN = "written"
STALE = "stale"  # changed since it was read: nothing written, the file stays pending
GONE = "gone"  # the row was deleted meanwhile: nothing to write


@dataclass(frozen=True)
class Folder:
    id: int
    path: str
    status: str
    error: str | None
    last_scan: float | None


@dataclass
class FileRow:
    id: int
    folder_id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    kind: str
    status: str
    error: str | None = None
    taken: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ItemVector:
    """One embedded item of a file: a page render or photo (type "image") or a text chunk."""

    page: int
    type: str
    vector: npt.NDArray[np.float32]
    text: str | None = None
    source: str | None = None  # "ocr": text read from the picture (engine.ocrindex)
    boxes: str | None = None  # for OCR passages: JSON of the picture's size and the lines


@dataclass
class Indexed:
    """A file's embedded items and what was learnt while reading it."""

    file: FileRow
    items: Sequence[ItemVector]
    digest: str
    size: int
    mtime_ns: int
    taken: float | None = None
    width: int | None = None
    height: int | None = None
    inode: int | None = None  # with size and mtime_ns: what was read, checked again at commit


_FILE_COLS = "id, folder_id, path, size, mtime_ns, hash, kind, status, error, taken, width, height"


def _file_row(row: Sequence[Any]) -> FileRow:
    return FileRow(
        id=row[0],
        folder_id=row[1],
        path=from_bytes(row[2]),
        size=row[3],
        mtime_ns=row[4],
        hash=row[5],
        kind=row[6],
        status=row[7],
        error=row[8],
        taken=row[9],
        width=row[10],
        height=row[11],
    )


def _blob(vector: npt.NDArray[np.float32]) -> bytes:
    import numpy as np

    arr = np.ascontiguousarray(vector, dtype=np.float32)
    if arr.shape != (VECTOR_DIMS,):
        raise ValueError(f"expected a {VECTOR_DIMS}-d vector, got shape {arr.shape}")
    return arr.tobytes()


FILE_KINDS = ("image", "document")
ITEM_TYPES = ("image", "text")


def vector_kind(file_kind: str, item_type: str) -> str:
    """What ``vec_items.kind`` holds: the file's kind and the item's type (``document/text``)."""
    return f"{file_kind}/{item_type}"


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# sqlite-vec reports unreadable chunks as generic errors; a missing table is a damaged schema.
_DAMAGE = re.compile(
    r"blob read error|chunks iter error|blob open|malformed|no such table|"
    r"vtable constructor failed|file is not a database",
    re.IGNORECASE,
)


def is_damage(exc: BaseException) -> bool:
    if isinstance(exc, apsw.CorruptError | apsw.NotADBError):
        return True
    return isinstance(exc, apsw.SQLError) and bool(_DAMAGE.search(str(exc)))


class StorePart:
    """The base of Store's mixins: what they use of the core and of one another, declared for
    the type checker only (at run time this class is empty; Store defines all of it)."""

    if TYPE_CHECKING:
        memory_index: bool
        _lock: threading.RLock
        _closed: bool
        _writer: apsw.Connection
        _ops: list[tuple[str, tuple[Any, ...]]]
        _vindex: vectorindex.VectorIndex | None
        _vgen: int
        _vloading: bool
        _counted: tuple[int, int]

        def reader(self) -> apsw.Connection: ...

        def write(self) -> AbstractContextManager[apsw.Connection]: ...

        def _read(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]: ...

        def _damage(self, exc: BaseException) -> IndexDamagedError: ...

        def _op(self, name: str, *args: Any) -> None: ...

        def file(self, file_id: int) -> FileRow | None: ...

        def _delete_files(self, conn: apsw.Connection, file_ids: Sequence[int]) -> None: ...

        def _delete_vectors(self, conn: apsw.Connection, item_ids: Sequence[int]) -> None: ...

        @staticmethod
        def _item_ids(conn: apsw.Connection, file_ids: Sequence[int]) -> list[int]: ...
