"""``lanterna``: index folders and search them by meaning from the command line.

Tests and scripts drive this surface, so its commands and JSON output stay stable. User errors
print one line on stderr and exit with status 1 (2 for bad usage, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from . import __version__
from .errors import LanternaError
from .paths import display

log = logging.getLogger("lanterna")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    srch.add_argument("-k", type=int, default=20, metavar="N", help="how many files (default 20)")
    srch.add_argument("--kind", choices=["image", "document"])
    srch.add_argument("--folder", metavar="PATH", help="only files below this folder")
    srch.add_argument("--from", dest="date_from", metavar="DATE", help="taken on or after")
    srch.add_argument("--to", dest="date_to", metavar="DATE", help="taken on or before")
    srch.add_argument("--json", action="store_true", help="print a JSON list")

    st = sub.add_parser("status", help="what the index holds and which model runs where")
    st.add_argument("--json", action="store_true")

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


class _Bar:
    """A tqdm progress bar on stderr (silent when stderr is not a terminal)."""

    def __init__(self, desc: str) -> None:
        from tqdm import tqdm

        self.desc = desc
        self.bar = tqdm(total=0, desc=desc, unit="file", disable=None, file=sys.stderr)

    def __call__(self, p: Any) -> None:
        if self.bar.disable:
            return
        self.bar.set_description(
            "reading text" if getattr(p, "stage", "index") == "text" else self.desc, refresh=False
        )
        self.bar.total = p.total
        self.bar.n = p.done
        self.bar.set_postfix(errors=p.errors, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


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
        dropped = lib.remove_folders(args.paths)
        print(f"removed; {dropped} files forgotten")
    else:
        for folder in lib.folders():
            note = "" if folder.status == "ok" else f"  ({folder.status}: {folder.error})"
            print(f"{display(folder.path)}{note}")
    return 0


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
    finally:
        bar.close()
    c, r = report.changes, report.run
    print(
        f"{c.added} new, {c.changed} changed, {c.moved} moved, {c.removed} removed; "
        f"{r.embedded} embedded, {r.duplicates} copies, {r.unchanged} unchanged, "
        f"{r.errors} errors" + (", cancelled" if r.cancelled else "")
    )
    for path, problem in report.problems:
        print(f"warning: {display(path)}: {problem}", file=sys.stderr)
    if r.busy:
        print(f"warning: {r.busy} files kept changing and were left for later", file=sys.stderr)
    return 130 if r.cancelled else 0


def _cmd_watch(lib: Any, args: argparse.Namespace) -> int:
    if not lib.folders():
        raise LanternaError("no folders to watch", "add one with `lanterna folders add PATH`")
    stop = threading.Event()
    _cancel_on_sigint(stop)
    bar = _Bar("indexing")

    def changed(c: Any) -> None:
        print(
            f"{c.added} new, {c.changed} changed, {c.moved} moved, {c.removed} removed",
            file=sys.stderr,
        )

    print("watching; press Ctrl+C to stop", file=sys.stderr)
    try:
        lib.watch(stop, progress=bar, on_changes=changed)
    finally:
        bar.close()
    return 0


def _cmd_search(lib: Any, args: argparse.Namespace) -> int:
    from .search import Query, parse_date

    images = args.image or []
    not_images = args.not_images or []
    if not args.text.strip() and not images:
        raise LanternaError("nothing to search for", "give a TEXT, an --image FILE, or both")
    for image in (*images, *not_images):
        if not os.path.isfile(image):
            raise LanternaError(f"no such image: {image}")
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
    )
    results = lib.search(query)
    if args.json:
        print(json.dumps([r.as_json() for r in results], ensure_ascii=False))
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
            print(f"      text {place}: “{r.line}”")
        elif r.snippet:
            snippet = " ".join(r.snippet.split())
            print(f"      {snippet[:160]}")
    return 0


def _cmd_status(lib: Any, args: argparse.Namespace) -> int:
    info = lib.status()
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    f = info["files"]
    print(f"index      {info['index']} ({info['db_bytes'] / 1e6:.1f} MB)")
    print(f"files      {f['indexed']} indexed, {f['pending']} pending, {f['error']} errors")
    print(f"vectors    {info['vectors']} × {info['dims']} dims")
    if info["model"]:
        m = info["model"]
        print(f"model      {m['id']} {m['revision']} ({m['licence']}) in {info['model_dir']}")
        print(
            f"provider   {info['provider']}"
            + (f" — {info['provider_note']}" if info.get("provider_note") else "")
        )
    else:
        print(f"model      {info['model_error']}")
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
        print(f"folder     {folder['path']}{note}")
    for err in info["errors"]:
        print(f"error      {err['path']}: {err['error']}")
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
            print(f"lanterna: {exc.one_line()}", file=sys.stderr)
            rc = 1
    return rc, out.getvalue(), err.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .serve import fast_path

    answered = fast_path(argv)  # a search the running app or watcher answers, warm
    if answered is not None:
        return answered
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "bench":  # builds its own temporary indexes; the toy model by default
        from pathlib import Path

        from .bench import run as run_bench

        model = Path(args.model) if args.model else None
        try:
            run_bench(
                args.quick,
                model,
                args.json,
                device=args.device,
                only=args.only,
                variants=[Path(v) for v in args.variants],
            )
        except LanternaError as exc:
            print(f"lanterna: {exc.one_line()}", file=sys.stderr)
            return 1
        return 0
    if args.command == "model":  # needs no index or working model: it is how one gets one
        from onnx_models.cli import run_model_command

        from .paths import data_dir, model_dir

        data = data_dir(args.data_dir)
        return run_model_command(args, data, model_dir(args.model, data), args.device)
    from .library import Library

    try:
        with Library(args.data_dir, args.model, device=args.device) as lib:
            if lib.store.recovered is not None:
                print(
                    f"lanterna: the index was damaged; a copy is kept at "
                    f"{display(lib.store.recovered)} and a new index was started "
                    "(run `lanterna index` to fill it)",
                    file=sys.stderr,
                )
            return COMMANDS[args.command](lib, args)
    except LanternaError as exc:
        print(f"lanterna: {exc.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lanterna: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
