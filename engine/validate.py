"""Checking what a user hands Lanterna, before anything heavy runs.

Command-line values (paths, counts, dates, query text), the data folder, and the values of a
model folder's manifest all pass through here. Every check raises a :class:`LanternaError` whose
one line names the thing at fault: a :class:`UsageError` (exit status 2) when the command line
itself is wrong and retyping it fixes it, another error (exit status 1) when the command was
right and something else failed (a read-only disk, a broken model folder).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, LanternaError, ModelError, UsageError

__all__ = ["DataFolder", "Manifest", "UsageError"]
from .paths import DATA_ENV, INDEX_FILE, display

MAX_RESULTS = 1000
"""The most files one ``search`` may ask for."""
MAX_QUERY_CHARS = 4000
"""A query longer than this is surely a mistake (a pasted file); the model reads far less."""


# -- text and numbers ------------------------------------------------------------------------


def utf8_text(value: str, what: str) -> str:
    """``value`` if it is valid text; on Linux a byte that is not UTF-8 arrives in ``sys.argv``
    as a lone surrogate, which no tokenizer can read."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"U+{code:04X}"
        raise UsageError(
            f"{what} is not valid UTF-8 text ({byte} at character {exc.start + 1})",
            "check the terminal's character encoding (the locale): Lanterna reads UTF-8",
        ) from None
    return value


def whole_number(value: object, what: str, low: int, high: int) -> int:
    """An integer from ``low`` to ``high`` (bools, floats and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{what} must be a whole number, not {_short(value)}")
    if not low <= value <= high:
        raise UsageError(f"{what} must be from {low} to {high}, not {_short(value)}")
    return value


def _short(value: object, limit: int = 40) -> str:
    text = display(repr(value) if not isinstance(value, int) else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- paths -----------------------------------------------------------------------------------


def path_text(value: str | None, what: str) -> str:
    """A path as typed: refused when empty (an empty path would mean the current folder)."""
    if value is None or not value.strip():
        raise UsageError(f"{what} is empty", "give the path of a file or folder")
    if "\0" in value:
        raise UsageError(f"{what} holds a NUL character")
    return value


def os_problem(exc: OSError) -> str:
    """An OSError's reason in words, without Python's decoration."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long for this system"
    return exc.strerror or str(exc)


def _kind(path: str) -> str:
    """``folder``, ``file``, ``missing``, ``under-file`` (a parent is a file), or an error."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "under-file"
    except OSError as exc:
        raise ConfigError(f"cannot look at {display(path)}: {os_problem(exc)}") from exc
    import stat

    return "folder" if stat.S_ISDIR(st.st_mode) else "file"


def _file_above(path: str) -> str:
    """The first component of ``path`` that is a file (for "X is below a file")."""
    current = os.path.abspath(path)
    chain = []
    while True:
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for candidate in reversed(chain):
        if os.path.exists(candidate) and not os.path.isdir(candidate):
            return candidate
    return path


def existing_folder(value: str | None, what: str) -> str:
    """The absolute path of a folder that exists, or a UsageError saying what it is instead."""
    path = os.path.abspath(path_text(value, what))
    kind = _kind(path)
    if kind == "missing":
        raise UsageError(f"no such folder: {display(path)} ({what})")
    if kind == "under-file":
        raise UsageError(
            f"no such folder: {display(path)} ({what}): {display(_file_above(path))} is a file"
        )
    if kind == "file":
        raise UsageError(f"{display(path)} is a file, not a folder ({what})")
    return path


def existing_file(value: str | None, what: str, noun: str = "file") -> str:
    path = os.path.abspath(path_text(value, what))
    kind = _kind(path)
    if kind in ("missing", "under-file"):
        raise UsageError(f"no such {noun}: {display(path)} ({what})")
    if kind == "folder":
        raise UsageError(f"{display(path)} is a folder, not {_article(noun)} ({what})")
    return path


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def folder_args(values: Sequence[str], what: str = "PATH") -> list[str]:
    """Folders named on the command line (``folders add``, ``index``): each must exist."""
    return [existing_folder(v, what) for v in values]


# -- the data folder -------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFolder:
    path: Path
    readonly: bool
    """The folder (or its index) cannot be written: the index opens read-only."""


READ_COMMANDS = frozenset({"search", "status", "folders list", "ocr show"})
"""Commands that only read the index: they never create a data folder or an index."""


def _source(explicit: str | None) -> tuple[str, bool]:
    if explicit is not None:
        return "--data-dir", True
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}", False
    return "the data folder", False


def _writable(folder: Path) -> bool:
    """Whether files can be made in ``folder`` and its index written (tried, not guessed from
    permission bits: root ignores those, a read-only mount does not)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".lanterna-probe-"):
            pass
        index = folder / INDEX_FILE
        if index.exists():
            with open(index, "r+b"):
                pass
    except OSError:
        return False
    return True


def data_folder(
    explicit: str | None,
    path: Path,
    *,
    create: bool,
    need_index: bool = False,
    name: str | None = None,
) -> DataFolder:
    """Check the data folder ``path`` (from ``--data-dir`` when ``explicit`` is not None).

    ``need_index`` (commands that only read) refuses a folder that does not exist or holds no
    index, so a mistyped ``--data-dir`` is reported, not created and shown as an empty index.
    ``create`` makes a missing folder. A folder that cannot be written opens read-only. ``name``
    says what the folder is called in messages (default: where it came from).
    """
    if explicit is not None:
        path_text(explicit, "--data-dir")
    source, typed = _source(explicit)
    name = name or source
    error: type[LanternaError] = UsageError if typed else ConfigError
    where = display(path)
    kind = _kind(str(path))
    if kind == "file":
        raise error(f"{name} {where} is a file, not a folder", "choose a folder for the index")
    if kind == "under-file":
        raise error(
            f"{name} {where} cannot be a folder: {display(_file_above(str(path)))} is a file",
            "choose a folder for the index",
        )
    mistyped = " (mistyped --data-dir?)" if typed else ""
    if kind == "missing":
        if need_index:
            raise error(
                f"no index at {where}: the folder does not exist{mistyped}",
                "index a folder first with `lanterna index PATH`",
            )
        if create:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the data folder {where}: {_mkdir_problem(exc)}"
                ) from exc
        return DataFolder(path, readonly=False)
    if need_index and not (path / INDEX_FILE).is_file():
        raise error(
            f"no index at {where}: the folder holds no {INDEX_FILE}{mistyped}",
            "index a folder first with `lanterna index PATH`",
        )
    return DataFolder(path, readonly=not _writable(path))


def _mkdir_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        # The parents exist, yet no folder can be made (a virtual file system such as /proc).
        return "no folder can be made there"
    return os_problem(exc)


def read_only_refused(folder: DataFolder, command: str) -> None:
    if folder.readonly:
        raise ConfigError(
            f"the data folder {display(folder.path)} is read-only, so `{command}` cannot "
            "update the index there",
            "`lanterna search` and `status` still work; choose a writable --data-dir to index",
        )


# -- search ----------------------------------------------------------------------------------


def search_args(args: Any, watched: Sequence[str]) -> None:
    """Check ``lanterna search``'s arguments (``args`` from argparse); ``watched`` are the
    watched folders. Normalises ``args.folder`` and ``args.image`` to absolute paths."""
    from .search import parse_date

    whole_number(args.k, "-k", 1, MAX_RESULTS)
    text = utf8_text(args.text or "", "the search text")
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(
            f"the search text is {len(text)} characters long; at most {MAX_QUERY_CHARS} are read"
        )
    for i, other in enumerate(getattr(args, "not_texts", None) or []):
        args.not_texts[i] = utf8_text(other, "--not")
    if not text.strip() and not args.image:
        raise UsageError("nothing to search for", "give a TEXT, an --image FILE, or both")
    if getattr(args, "words", False):
        if args.image or getattr(args, "not_images", None):
            raise UsageError(
                "--words searches exact words, not pictures", "drop --words to search by a picture"
            )
        if getattr(args, "meaning_only", False):
            raise UsageError("--words and --meaning-only exclude each other", "choose one")
    for flag in ("image", "not_images"):
        given = getattr(args, flag, None)
        if given:
            option = "--image" if flag == "image" else "--not-image"
            setattr(args, flag, [existing_file(v, option, "image") for v in given])
    if args.folder is not None:
        folder = existing_folder(args.folder, "--folder")
        if not any(_inside(folder, w) for w in watched):
            raise UsageError(
                f"--folder {display(folder)} is not inside a watched folder, so nothing can match",
                "see `lanterna folders list`",
            )
        args.folder = folder
    dates = {}
    for flag, value, end in (("--from", args.date_from, False), ("--to", args.date_to, True)):
        if value is None:
            continue
        try:
            dates[flag] = parse_date(utf8_text(value, flag).strip(), end=end)
        except (ValueError, OverflowError, OSError) as exc:
            raise UsageError(f"{flag} {display(value)} is out of range ({exc})") from None
        except LanternaError as exc:
            raise UsageError(f"{flag}: {exc.detail}", exc.hint) from None
    if len(dates) == 2 and dates["--from"] > dates["--to"]:
        raise UsageError(
            f"--from {display(args.date_from)} comes after --to {display(args.date_to)}, "
            "so nothing can match",
            "swap them",
        )


def name_the_image(exc: LanternaError, images: Sequence[str], lib: Any) -> LanternaError:
    """A picture given on the command line could not be read: say which one (the decoder's
    error does not name it). With several, each is tried again to find the one at fault."""
    from .errors import DecodeError
    from .preprocess import prepare

    culprit = images[0] if len(images) == 1 else None
    for image in images if culprit is None else ():
        try:
            prepare(image, lib.embedder.model.vision)
        except DecodeError:
            culprit = image
            break
    if culprit is None:
        return exc
    return DecodeError(f"{display(culprit)}: {exc.detail}", exc.hint)


def _inside(path: str, folder: str) -> bool:
    folder = folder.rstrip(os.sep)
    return path == folder or path.startswith(folder + os.sep)


# -- model manifests -------------------------------------------------------------------------

MAX_IMAGE_SIZE = 4096
MAX_TOKENS = 8192
MAX_DIM = 65536
MAX_TOKEN_ID = 2**31 - 1
MAX_TEXT = 4096


class Manifest:
    """Typed reads of one manifest block, each naming its key in the error it raises."""

    def __init__(self, block: Mapping[str, Any], where: str, source: str = "manifest.json"):
        self.block = block
        self.where = where
        self.source = source

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _fail(self, key: str, problem: str) -> ModelError:
        return ModelError(
            f"{self.source}: {self._name(key)} {problem}",
            "fix the manifest, or download or import the model again",
        )

    def _get(self, key: str, default: Any = ...) -> Any:
        if key not in self.block:
            if default is ...:
                raise ModelError(
                    f"{self.source}: {self.where or 'the manifest'} has no {key!r}",
                    "fix the manifest, or download or import the model again",
                )
            return default
        return self.block[key]

    def integer(self, key: str, low: int, high: int, default: Any = ...) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, f"must be a whole number, not {_short(value)}")
        if not low <= value <= high:
            raise self._fail(key, f"must be from {low} to {high}, not {_short(value)}")
        return value

    def text(
        self, key: str, default: Any = ..., *, limit: int = MAX_TEXT, plain: bool = False
    ) -> str:
        """A string; ``plain``: one that is shown to the user, so without control characters."""
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, f"must be a string, not {_short(value)}")
        if len(value) > limit:
            raise self._fail(key, f"is longer than {limit} characters")
        if plain and display(value) != value:
            raise self._fail(key, f"holds control characters: {_short(value)}")
        return value

    def name(self, key: str) -> str:
        """A non-empty string without control characters (an id, an output name)."""
        value = self.text(key, limit=256)
        if not value.strip() or display(value) != value:
            raise self._fail(key, f"must be a plain non-empty name, not {_short(value)}")
        return value

    def file(self, key: str) -> str:
        """A file inside the model folder: relative, no ``..``, no control characters."""
        value = self.name(key)
        check_relative(value, f"{self.source}: {self._name(key)}")
        return value

    def block_of(self, key: str) -> Manifest:
        value = self._get(key)
        if not isinstance(value, Mapping):
            raise self._fail(key, f"must be a JSON object, not {_short(value)}")
        return Manifest(value, self._name(key), self.source)

    def dims(self, key: str, high: int) -> tuple[int, ...]:
        value = self._get(key)
        if not isinstance(value, list) or not value:
            raise self._fail(key, f"must be a non-empty list of whole numbers, not {_short(value)}")
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= high:
                raise self._fail(
                    key, f"must hold whole numbers from 1 to {high}, not {_short(item)}"
                )
        if sorted(set(value)) != value:
            raise self._fail(key, f"must be in increasing order without repeats: {value}")
        return tuple(value)


def check_relative(name: str, what: str) -> None:
    """A manifest's file name must stay inside the model folder (a hostile manifest could name
    ``/etc/shadow`` or ``../../secret``)."""
    parts = name.replace("\\", "/").split("/")
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise ModelError(
            f"{what} {display(name)!r} is not a file inside the model folder",
            "fix the manifest, or download or import the model again",
        )
