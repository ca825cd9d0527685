"""``lanterna``: index folders and search them by meaning from the command line.

Tests and scripts drive this surface, so its commands and JSON output stay stable. Every error
prints one line on stderr naming the thing at fault (and a second, ``hint: …``, when there is a
fix to suggest), never a traceback. Exit status: 2 when the command line is at fault (retyping it
fixes it: an empty or missing path, a value out of range), 1 when something else failed, 130
when interrupted. Names from the disk are printed with control characters escaped
(:func:`engine.paths.display`); ``--json`` gives them exactly (:func:`engine.paths.json_text`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__, validate
from .errors import DecodeError, LanternaError, ModelError
from .paths import display, json_text

log = logging.getLogger("lanterna")


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in the CLI's form: one line, a hint, exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {display(message)}", file=sys.stderr)
        print(f"hint: see `{self.prog} --help`", file=sys.stderr)
        sys.exit(2)


def print_error(exc: LanternaError) -> int:
    """Print a user's error as the whole CLI does; returns its exit status."""
    first, *rest = exc.lines()
    print(f"lanterna: {first}", file=sys.stderr)
    for line in rest:
        print(line, file=sys.stderr)
    return exc.exit_status


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="lanterna",
        description="Find your photos and documents by meaning, privately, on this machine.",
    )
    p.add_argument("--version", action="version", version=f"lanterna {__version__}")
    p.add_argument(
        "--data-dir",
        help="where the index lives (default: $LANTERNA_DATA_DIR or the user data folder)",
    )
    p.add_argument("--model", help="model folder (default: $LANTERNA_MODEL_DIR or DATA/model)")
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "directml", "coreml", "openvino"],
        default="auto",
        help="where the model runs (default: the GPU when usable, else the CPU)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = p.add_subparsers(dest="command", required=True, metavar="<command>")

    folders = sub.add_parser("folders", help="add, remove or list watched folders")
    fsub = folders.add_subparsers(dest="action", required=True, metavar="<action>")
    fadd = fsub.add_parser("add", help="watch folders (they are indexed by `index` or `watch`)")
    fadd.add_argument("paths", nargs="+", metavar="PATH")
    frm = fsub.add_parser("remove", help="stop watching folders and forget their files")
    frm.add_argument("paths", nargs="+", metavar="PATH")
    fsub.add_parser("list", help="list watched folders")
    links = fsub.add_parser(
        "follow-links",
        help="whether symbolic links that lead out of a watched folder are followed",
        description=(
            "A symbolic link inside a watched folder that points outside it is not followed "
            "unless this is on (a link to / or /proc would take in the whole file system). "
            "Without an argument, says what is set."
        ),
    )
    links.add_argument("state", nargs="?", choices=["on", "off"])

    idx = sub.add_parser("index", help="scan now, embed what is new or changed, then exit")
    idx.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="watched folders to scan (default: all); new ones are added",
    )
    idx.add_argument("--retry-errors", action="store_true", help="try failed files again")
    idx.add_argument(
        "--reembed",
        action="store_true",
        help="drop all vectors and embed everything with the current model",
    )

    sub.add_parser("watch", help="index, then keep the index current until Ctrl+C")

    srch = sub.add_parser(
        "search",
        help="search by text, by image, or both",
        description='TEXT may use the query language: "exact phrase", OR, -word, prefix*, '
        "2:beach - people (weights and negatives), name:, kind:, in:FOLDER, after:, before:.",
    )
    srch.add_argument("text", nargs="?", default="", metavar="TEXT")
    srch.add_argument(
        "--image", metavar="FILE", action="append", help="find files like this picture (repeatable)"
    )
    srch.add_argument(
        "--not", dest="not_texts", metavar="TEXT", action="append", help="less of this (repeatable)"
    )
    srch.add_argument(
        "--not-image", dest="not_images", metavar="FILE", action="append", help="less like this"
    )
    srch.add_argument(
        "--all", dest="show_all", action="store_true", help="also weak matches, after a divider"
    )
    srch.add_argument(
        "--meaning-only", action="store_true", help="rank by meaning only, not exact words first"
    )
    srch.add_argument(
        "--words",
        action="store_true",
        help="exact words only, no meaning (fast: needs no model; so does a quoted phrase)",
    )
    srch.add_argument("-k", type=int, default=20, metavar="N", help="how many files (default 20)")
    srch.add_argument("--kind", choices=["image", "document"])
    srch.add_argument("--folder", metavar="PATH", help="only files below this folder")
    srch.add_argument("--from", dest="date_from", metavar="DATE", help="taken on or after")
    srch.add_argument("--to", dest="date_to", metavar="DATE", help="taken on or before")
    srch.add_argument("--json", action="store_true", help="print a JSON list")

    st = sub.add_parser("status", help="what the index holds and which model runs where")
    st.add_argument("--json", action="store_true")
    st.add_argument(
        "--all-errors", action="store_true", help="list every file that could not be indexed"
    )

    ocr = sub.add_parser("ocr", help="read text in photos and scans (on by default), or not")
    ocr.add_argument(
        "state",
        nargs="?",
        choices=["on", "off"],
        help="on: read it at the next `index` or `watch`; off: forget what was read "
        "(the pictures' own vectors stay). Without this: show the setting",
    )

    bench = sub.add_parser("bench", help="measure this machine against the speed budgets")
    bench.add_argument("--quick", action="store_true", help="the short run (under 3 minutes)")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument(
        "--only",
        action="append",
        choices=["decode", "pipeline", "query", "memory", "gui", "ocr", "towers", "cli"],
        help="run only this part (repeatable)",
    )
    bench.add_argument(
        "--model",
        dest="variants",
        action="append",
        default=[],
        metavar="DIR",
        help="a model folder whose towers to measure (repeatable: fp32, fp16, int8 variants)",
    )

    from onnx_models.cli import add_model_parser

    add_model_parser(sub)
    return p


# What the progress bar says for each indexing stage but the vectors' ("index").
STAGES = {"words": "reading words", "text": "reading text", "calibrate": "preparing search"}


class _Bar:
    """A tqdm progress bar on stderr (silent when stderr is not a terminal).

    Each indexing run starts its own clock: ``watch`` sits idle between runs, and that time must
    not count in the rate or the estimate. Messages go above the bar, never glued to it.
    """

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self.desc = desc
        self.bar = tqdm(total=0, desc=desc, unit="file", disable=None, file=sys.stderr)
        self._running = False

    def __call__(self, p: Any) -> None:
        if self.bar.disable:
            return
        if not self._running or p.done < self.bar.n:  # a new run: reset the clock
            self.bar.reset(total=p.total)
            self._running = True
        stage = getattr(p, "stage", "index")
        self.bar.set_description(STAGES.get(stage, self.desc), refresh=False)
        self.bar.unit = "probe" if stage == "calibrate" else "file"
        self.bar.total = p.total
        self.bar.n = p.done
        self.bar.set_postfix(errors=p.errors, refresh=False)
        self.bar.refresh()
        if p.done >= p.total:
            self._running = False

    def write(self, text: str) -> None:
        if self.bar.disable:
            print(text, file=sys.stderr)
        else:
            self.bar.write(text, file=self.bar.fp)

    def close(self) -> None:
        self.bar.close()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _cancel_on_sigint(event: threading.Event) -> None:
    def handler(signum: int, frame: object) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        print("stopping… (Ctrl+C again to quit at once)", file=sys.stderr)
        event.set()

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)


def _cmd_folders(lib: Any, args: argparse.Namespace) -> int:
    if args.action == "add":
        for folder in lib.add_folders(args.paths):
            print(f"watching {display(folder.path)}")
    elif args.action == "remove":
        dropped = lib.remove_folders([os.path.abspath(p) for p in args.paths])
        print(f"removed; {_plural(dropped, 'file')} forgotten")
    elif args.action == "follow-links":
        if args.state is not None:
            lib.set_rules(follow_links=args.state == "on")
        state = "followed" if lib.rules().follow_links else "not followed"
        print(f"symbolic links that lead out of a watched folder are {state}")
    else:
        for folder in lib.folders():
            note = "" if folder.status == "ok" else f"  ({folder.status}: {folder.error})"
            print(f"{display(folder.path)}{note}")
    return 0


def _with_words_hint(exc: ModelError, meanwhile: str) -> ModelError:
    hint = f"{exc.hint}; meanwhile {meanwhile}" if exc.hint else f"meanwhile {meanwhile}"
    return ModelError(exc.detail, hint)


def _cmd_index(lib: Any, args: argparse.Namespace) -> int:
    if args.paths:
        lib.add_folders(args.paths)
    elif not lib.folders():
        raise LanternaError(
            "no folders to index",
            "add one with `lanterna folders add PATH` or `lanterna index PATH`",
        )
    if args.reembed:
        lib.reembed()
    if args.retry_errors:
        lib.retry_errors()
    cancel = threading.Event()
    _cancel_on_sigint(cancel)
    bar = _Bar("indexing")
    try:
        report = lib.index(args.paths or None, cancel=cancel, progress=bar)
    except ModelError as exc:  # the scan and the documents' words are in the index already
        raise _with_words_hint(
            exc, "names and documents' words are searchable already: `lanterna search --words`"
        ) from exc
    finally:
        bar.close()
    c, r = report.changes, report.run
    print(
        f"{c.added} new, {c.changed} changed, {c.moved} moved, {c.removed} removed; "
        f"{r.embedded} embedded, {_plural(r.duplicates, 'copy').replace('copys', 'copies')}, "
        f"{r.unchanged} unchanged, {_plural(r.errors, 'error')}"
        + (", cancelled" if r.cancelled else "")
        + (
            f" ({_plural(r.words, 'document')} searchable by their words meanwhile)"
            if r.cancelled and r.words
            else ""
        )
    )
    for path, problem in report.problems:
        print(f"warning: {display(path)}: {problem}", file=sys.stderr)
    if r.busy:
        print(
            f"warning: {_plural(r.busy, 'file')} kept changing and were left for later",
            file=sys.stderr,
        )
    return 130 if r.cancelled else 0


def _cmd_watch(lib: Any, args: argparse.Namespace) -> int:
    if not lib.folders():
        raise LanternaError("no folders to watch", "add one with `lanterna folders add PATH`")
    stop = threading.Event()
    _cancel_on_sigint(stop)
    bar = _Bar("indexing")

    def changed(c: Any) -> None:
        bar.write(f"{c.added} new, {c.changed} changed, {c.moved} moved, {c.removed} removed")

    print("watching; press Ctrl+C to stop", file=sys.stderr)
    try:
        lib.watch(stop, progress=bar, on_changes=changed)
    finally:
        bar.close()
    return 0


def _cmd_search(lib: Any, args: argparse.Namespace) -> int:
    from .search import Query, parse_date

    validate.search_args(args, [f.path for f in lib.folders()])
    images = args.image or []
    not_images = args.not_images or []
    query = Query(
        text=args.text,
        images=tuple(images),
        not_texts=tuple(args.not_texts or ()),
        not_images=tuple(not_images),
        k=args.k,
        kind=args.kind,
        folder=os.path.abspath(args.folder) if args.folder else None,
        date_from=parse_date(args.date_from) if args.date_from else None,
        date_to=parse_date(args.date_to, end=True) if args.date_to else None,
        show_all=args.show_all,
        meaning_only=args.meaning_only,
        words_only=args.words,
    )
    try:
        results = lib.search(query)
    except DecodeError as exc:
        raise validate.name_the_image(exc, [*images, *not_images], lib) from exc
    except ModelError as exc:  # no model, or a broken one: words can still be found
        if images or not_images:
            raise
        raise _with_words_hint(exc, "`--words` finds exact words without the model") from exc
    if args.json:
        print(json_text([{**r.as_json(), "path": r.path} for r in results]))
        return 0
    if not results:
        hint = "" if args.show_all else " (--all shows the nearest anyway)"
        print(f"no good matches{hint}", file=sys.stderr)
    divided = False
    for r in results:
        if r.weak and not divided:
            print("-- weaker matches --")
            divided = True
        where = f"  p.{r.item}" if r.kind == "document" else ""
        print(f"{r.match:4.2f} {r.strength:<6}  {display(r.path)}{where}  [{r.how}]")
        if r.source == "ocr" and r.line:
            place = "in the image" if r.kind == "image" else f"on scanned page {r.item}"
            print(f"      text {place}: “{display(r.line)}”")
        elif r.snippet:
            snippet = " ".join(r.snippet.split())
            print(f"      {display(snippet[:160])}")
    return 0


def _cmd_status(lib: Any, args: argparse.Namespace) -> int:
    info = lib.status()
    f = info["files"]
    if args.all_errors:
        info["errors"] = [
            {"path": r.path, "error": r.error} for r in lib.store.errors(max(1, f["error"]))
        ]
    if args.json:
        print(json_text(info, indent=2))
        return 0
    print(f"index      {display(info['index'])} ({info['db_bytes'] / 1e6:.1f} MB)")
    print(
        f"files      {f['indexed']} indexed, {f['pending']} pending, {_plural(f['error'], 'error')}"
    )
    if info.get("retrying"):
        print(f"retrying   {info['retrying']} files that could not be read just now")
    w = info.get("words") or {}
    if w.get("searchable") or w.get("pending"):
        print(
            f"words      {_plural(w['searchable'], 'document')} found by their words while "
            f"waiting for vectors, {w['pending']} still to be read"
        )
    print(f"vectors    {info['vectors']} × {info['dims']} dims")
    if info["model"]:
        m = info["model"]
        print(
            f"model      {display(m['id'])} {display(m['revision'])} ({display(m['licence'])}) "
            f"in {display(info['model_dir'])}"
        )
        print(
            f"provider   {info['provider']}"
            + (f" — {info['provider_note']}" if info.get("provider_note") else "")
        )
    else:
        print(f"model      {info['model_error']}")
        if info.get("model_hint"):
            print(f"           hint: {info['model_hint']}")
    o = info["ocr"]
    if o["unavailable"]:
        print(f"text       not read: {o['unavailable']}")
    elif not o["enabled"]:
        print("text       reading text in pictures is off (`lanterna ocr on`)")
    else:
        print(
            f"text       images with text: {o['images_with_text']}, scanned pages read: "
            f"{o['document_pages_with_text']}, files waiting to be read: {o['pending']}"
            + (f", unreadable: {o['errors']}" if o["errors"] else "")
        )
    for folder in info["folders"]:
        note = "" if folder["status"] == "ok" else f" ({folder['status']})"
        print(f"folder     {display(folder['path'])}{note}")
    for watch_note in info.get("watch_notes", []):
        print(f"watching   {display(watch_note)}")
    if f["error"] > len(info["errors"]):
        print(
            f"errors     {f['error']} files could not be indexed; the first "
            f"{len(info['errors'])} follow (`lanterna status --all-errors` lists them all)"
        )
    elif f["error"]:
        print(f"errors     {_plural(f['error'], 'file')} could not be indexed:")
    for err in info["errors"]:
        print(f"error      {display(err['path'])}: {display(err['error'] or '')}")
    return 0


def _cmd_ocr(lib: Any, args: argparse.Namespace) -> int:
    if args.state is None:
        print("on" if lib.ocr_enabled() else "off")
        return 0
    dropped = lib.set_ocr(args.state == "on")
    if args.state == "on":
        print("text in photos and scans will be read at the next `lanterna index` or `watch`")
    else:
        print(f"off; {dropped} passages of text read from pictures forgotten")
    return 0


COMMANDS = {
    "ocr": _cmd_ocr,
    "folders": _cmd_folders,
    "index": _cmd_index,
    "watch": _cmd_watch,
    "search": _cmd_search,
    "status": _cmd_status,
}


_served_parser: argparse.ArgumentParser | None = None  # built once per serving process


def answer(lib: Any, argv: Sequence[str]) -> tuple[int, str, str]:
    """Run a ``search`` command line on ``lib`` for another process (engine.serve)."""
    from .serve import captured

    global _served_parser
    if _served_parser is None:
        _served_parser = _parser()
    with captured() as (out, err):
        try:
            args = _served_parser.parse_args(list(argv))
            if args.command != "search":
                raise LanternaError("only searches are answered for other processes")
            rc = COMMANDS["search"](lib, args)
        except SystemExit as exc:  # argparse's own message is in err
            rc = exc.code if isinstance(exc.code, int) else 2
        except LanternaError as exc:
            rc = print_error(exc)
    return rc, out.getvalue(), err.getvalue()


def _command_name(args: argparse.Namespace) -> str:
    if args.command == "folders":
        if args.action == "follow-links" and args.state is None:
            return "folders list"  # only reads
        return f"folders {args.action}"
    if args.command == "ocr" and args.state is None:
        return "ocr show"
    return str(args.command)


def _check_arguments(args: argparse.Namespace) -> None:
    """What can be checked before the index is opened or the model loaded."""
    if args.model is not None:
        validate.path_text(args.model, "--model")
    if args.command == "folders" and args.action == "add":
        args.paths = validate.folder_args(args.paths)
    elif args.command == "folders" and args.action == "remove":
        args.paths = [validate.path_text(p, "PATH") for p in args.paths]
    elif args.command == "index" and args.paths:
        args.paths = validate.folder_args(args.paths)


def _run(args: argparse.Namespace) -> int:
    from . import paths

    _check_arguments(args)
    data = paths.data_dir(args.data_dir)
    if args.command == "bench":  # builds its own temporary indexes; the toy model by default
        from .bench import run as run_bench

        model = Path(args.model) if args.model else None
        run_bench(
            args.quick,
            model,
            args.json,
            device=args.device,
            only=args.only,
            variants=[Path(v) for v in args.variants],
        )
        return 0
    if args.command == "model":  # needs no index or working model: it is how one gets one
        from onnx_models.cli import run_model_command

        validate.data_folder(args.data_dir, data, create=False, need_index=False)
        return run_model_command(args, data, paths.model_dir(args.model, data), args.device)
    from .library import Library

    command = _command_name(args)
    reading = command in validate.READ_COMMANDS
    folder = validate.data_folder(args.data_dir, data, create=not reading, need_index=reading)
    if not reading:
        validate.read_only_refused(folder, command)
    with Library(data, args.model, device=args.device, readonly=folder.readonly) as lib:
        if lib.store.recovered is not None:
            print(
                f"lanterna: the index was damaged; a copy is kept at "
                f"{display(lib.store.recovered)} and a new index was started "
                "(run `lanterna index` to fill it)",
                file=sys.stderr,
            )
        return COMMANDS[args.command](lib, args)


def main(argv: Sequence[str] | None = None, *, ask_server: bool = True) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if ask_server:  # engine.launch asked already
        from .serve import fast_path

        answered = fast_path(argv)  # a search the running app or watcher answers, warm
        if answered is not None:
            return answered
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except LanternaError as exc:
        return print_error(exc)
    except KeyboardInterrupt:
        print("lanterna: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # one the engine did not foresee: still one line, naming the file
        where = f"{display(os.fsdecode(exc.filename))}: " if exc.filename else ""
        print(f"lanterna: {where}{validate.os_problem(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        if args.verbose:
            traceback.print_exc()
        print(
            f"lanterna: unexpected error: {type(exc).__name__}: {display(str(exc))}",
            file=sys.stderr,
        )
        print(
            "hint: this is a bug; run again with --verbose to see where it happened",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
