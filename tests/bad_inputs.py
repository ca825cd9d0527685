"""Every bad input of issue 15, run against the real ``lanterna`` command line.

``python -m tests.bad_inputs`` builds a scratch world (the toy model, a folder of pictures with
hostile names, an index, malformed model folders, a read-only data folder), runs each case as a
new ``python -m engine`` process and prints a table: input → message → exit status. Each case
also says what it expects; a case that does not get it is marked ``FAILED`` and the script exits
with status 1. ``tests/engine/test_bad_inputs.py`` runs the same cases in-process.

Names in the table are shortened: ``W/`` is the scratch folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ESC_NAME = "clear\x1b[2Jscreen.png"
LATIN1_NAME = b"caf\xe9.png"


@dataclass
class Result:
    status: int
    out: str
    err: str

    def message(self, expect: str = "") -> str:
        """What the user reads: after an error, stderr's lines (the error and its hint); after
        a success, the line that shows the case's point (else stdout's first line)."""
        err = [line for line in self.err.splitlines() if line.strip()]
        if self.status != 0 and err:
            return " ⏎ ".join(err)
        lines = [line for line in self.out.splitlines() + err if line.strip()]
        chosen = [line for line in lines if expect and expect in line] or lines[:1]
        return " ⏎ ".join(chosen[:2])


@dataclass
class Case:
    what: str
    """The issue's words for what a user did."""
    argv: list[str]
    """Arguments after ``lanterna``; ``{W}`` is the scratch folder, ``{model}`` the toy model,
    ``{data}`` the indexed data folder, ``{photos}`` its pictures."""
    status: int
    expect: str
    """A fragment the output must contain."""
    check: Callable[[World, Result], str | None] | None = None
    """Returns what is wrong, or None."""
    needs: str = ""
    """A condition of the machine (``readonly``, ``unshare``, ``linux``); skipped without."""
    forbid: tuple[str, ...] = ()
    """Fragments that must not appear anywhere in the output."""


@dataclass
class World:
    root: Path
    model: Path
    data: Path
    photos: Path
    can: set[str] = field(default_factory=set)

    def expand(self, argv: Sequence[str]) -> list[str]:
        values = {
            "W": str(self.root),
            "model": str(self.model),
            "data": str(self.data),
            "photos": str(self.photos),
        }
        return [a.format(**values) if "{" in a else a for a in argv]

    def short(self, text: str) -> str:
        return text.replace(str(self.root), "W")


# -- building the world ----------------------------------------------------------------------


def _edit_manifest(model: Path, target: Path, edit: Callable[[dict[str, object]], None]) -> Path:
    shutil.copytree(model, target)
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    edit(manifest)
    (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return target


def _set(block: str | None, key: str, value: object) -> Callable[[dict[str, object]], None]:
    def edit(manifest: dict[str, object]) -> None:
        target = manifest if block is None else manifest[block]
        assert isinstance(target, dict)
        target[key] = value

    return edit


def _restamp_graph(model: Path, target: Path, ir_version: int, opset: int | None = None) -> Path:
    """A copy of the model whose vision tower carries another IR version (or opset), with the
    manifest's checksums updated: only the header differs."""
    import onnx

    from onnx_models.manifest import read_manifest, write_manifest

    shutil.copytree(model, target)
    graph = onnx.load(str(target / "vision.onnx"))
    graph.ir_version = ir_version
    if opset is not None:
        graph.opset_import[0].version = opset
    onnx.save(graph, str(target / "vision.onnx"))
    write_manifest(target, read_manifest(target))
    return target


def _deep_folder(root: Path) -> Path:
    """A picture below a path longer than PATH_MAX (made one relative step at a time)."""
    here = os.getcwd()
    root.mkdir()
    try:
        os.chdir(root)
        for _ in range(25):
            os.mkdir("d" * 200)
            os.chdir("d" * 200)
        shutil.copyfile(root.parent / "photos" / "red.jpg", "deep.jpg")
    finally:
        os.chdir(here)
    return root


def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _make_readonly(folder: Path) -> bool:
    """Make ``folder`` unwritable even for root (``chattr +i``), or by permissions otherwise."""
    if _root():
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
        if done.returncode != 0:
            return False
    else:
        folder.chmod(0o555)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return True
    _undo_readonly(folder)
    return False


def _undo_readonly(folder: Path) -> None:
    if shutil.which("chattr") and _root():
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True, check=False)
    with contextlib.suppress(OSError):
        folder.chmod(0o755)


def build(root: Path, model: Path | None = None) -> World:
    """The scratch world: a copy of (or a new) toy model, pictures, an index, hostile folders."""
    from onnx_models.toy import build_toy_model
    from tests.images import write
    from tests.model.helpers import write_release

    if model is None:
        model = build_toy_model(root / "toy")
    photos = root / "photos"
    for i, colour in enumerate(["red", "green", "blue"]):
        write(photos / f"{colour}.jpg", colour, seed=i)
    write(photos / ESC_NAME, "yellow", seed=5)
    write(Path(os.fsdecode(os.fsencode(photos) + b"/" + LATIN1_NAME)), "orange", seed=6)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a picture")
    (root / "a-file").write_text("not a folder")
    outside = root / "outside"
    write(outside / "elsewhere.jpg", "purple", seed=7)
    linked = root / "linked"
    write(linked / "white.jpg", "white", seed=8)
    (linked / "out").symlink_to(outside, target_is_directory=True)
    many = root / "many-broken"
    many.mkdir()
    for i in range(25):
        (many / f"broken-{i:02d}.png").write_bytes(b"\x89PNG broken")
    _deep_folder(root / "deep")

    world = World(root, model, root / "data", photos)
    _run_in_process(world, ["--data-dir", str(world.data), "--model", str(model), "--device",
                            "cpu", "index", str(photos)])  # fmt: skip
    _run_in_process(world, ["--data-dir", str(root / "errors-data"), "--model", str(model),
                            "--device", "cpu", "index", str(many)])  # fmt: skip

    hostile = root / "models"
    hostile.mkdir()
    _edit_manifest(model, hostile / "dims-a", _set(None, "matryoshka_dims", ["a"]))
    _edit_manifest(model, hostile / "dims-null", _set(None, "matryoshka_dims", [None]))
    _edit_manifest(model, hostile / "max-tokens", _set("text", "max_tokens", -5))
    _edit_manifest(model, hostile / "output", _set("text", "output", "text_vectors"))
    _edit_manifest(model, hostile / "pad-huge", _set("text", "pad_id", 10**30))
    _edit_manifest(model, hostile / "pad-vocab", _set("text", "pad_id", 1_000_000))
    _edit_manifest(model, hostile / "image-size", _set("vision", "image_size", 100_000))
    _edit_manifest(model, hostile / "image-96", _set("vision", "image_size", 96))
    _edit_manifest(model, hostile / "outside-file", _set("text", "tokenizer", "../../etc/passwd"))
    _restamp_graph(model, hostile / "ir14", ir_version=14)
    _restamp_graph(model, hostile / "opset40", ir_version=10, opset=40)

    toy96 = build_toy_model(root / "toy96", image_size=96)
    write_release(toy96, root / "release-96")

    altered = root / "altered-model"
    shutil.copytree(model, altered)
    altered_data = root / "altered-data"
    _run_in_process(world, ["--data-dir", str(altered_data), "--model", str(altered), "--device",
                            "cpu", "index", str(root / "linked")])  # fmt: skip

    readonly = root / "readonly-data"
    shutil.copytree(world.data, readonly, ignore=shutil.ignore_patterns("*.lock"))
    if _make_readonly(readonly):
        world.can.add("readonly")
    blocked = root / "blocked"
    blocked.mkdir()
    if _make_readonly(blocked):
        world.can.add("blocked")
    if sys.platform.startswith("linux"):
        world.can.add("linux")
    if shutil.which("unshare") and _unshare_works(root):
        world.can.add("unshare")
    return world


def _unshare_works(root: Path) -> bool:
    mnt = root / "mnt"
    mnt.mkdir(exist_ok=True)
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {mnt} && true"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def teardown(world: World) -> None:
    for name in ("readonly-data", "blocked"):
        _undo_readonly(world.root / name)


def alter_same_size(world: World) -> None:
    """Change one byte of a verified tower and put its mtime back (size and mtime as before)."""
    target = world.root / "altered-model" / "vision.onnx"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# -- the cases -------------------------------------------------------------------------------

M = ["--model", "{model}", "--device", "cpu"]
D = ["--data-dir", "{data}"]


def _no_folder(name: str) -> Callable[[World, Result], str | None]:
    def check(world: World, _r: Result) -> str | None:
        return f"{name} was created" if (world.root / name).exists() else None

    return check


def _json_paths_exist(world: World, r: Result) -> str | None:
    hits = json.loads(r.out)
    paths = [os.fsencode(h["path"]) for h in hits]
    latin = os.fsencode(world.photos) + b"/" + LATIN1_NAME
    if latin not in paths:
        return "the non-UTF-8 name is not among the results"
    missing = [p for p in paths if not os.path.exists(p)]
    return f"{missing[0]!r} does not exist" if missing else None


def _no_raw_escape(_w: World, r: Result) -> str | None:
    return "a raw ESC reached the terminal" if "\x1b" in r.out + r.err else None


def _imported_96(world: World, r: Result) -> str | None:
    manifest = json.loads((world.root / "model-96" / "manifest.json").read_text())
    size = manifest["vision"]["image_size"]
    return None if size == 96 else f"image_size is {size}, not 96"


CASES: list[Case] = [
    # tracebacks instead of a line
    Case("--data-dir naming a file", ["--data-dir", "{W}/a-file", *M, "status"], 2,
         "is a file, not a folder"),
    Case("--data-dir naming a file (a writing command)",
         ["--data-dir", "{W}/a-file", *M, "index", "{photos}"], 2, "is a file, not a folder"),
    Case("--data-dir below a file", ["--data-dir", "{W}/a-file/sub", *M, "folders", "add",
         "{photos}"], 2, "a-file is a file"),
    Case("a new data folder in a folder that cannot be written",
         ["--data-dir", "{W}/blocked/new", *M, "folders", "add", "{photos}"], 1,
         "cannot create the data folder", needs="blocked"),
    Case("a new data folder on a read-only file system (EROFS)",
         ["@unshare", "--data-dir", "{W}/mnt/new", *M, "folders", "add", "{photos}"], 1,
         "Read-only file system", needs="unshare"),
    Case("--data-dir /proc/self/x", ["--data-dir", "/proc/self/x", *M, "folders", "add",
         "{photos}"], 1, "cannot create the data folder /proc/self/x", needs="linux"),
    Case("-k 99999999999999999999", [*D, *M, "search", "red", "-k", "99999999999999999999"], 2,
         "-k must be from 1 to 1000"),
    Case("a query whose bytes are not UTF-8", [*D, *M, "search", os.fsdecode(b"rouge\xff")], 2,
         "not valid UTF-8 text (byte 0xff"),
    Case('matryoshka_dims: ["a"]', [*D, "--model", "{W}/models/dims-a", "search", "red"], 1,
         "matryoshka_dims must hold whole numbers"),
    Case("matryoshka_dims: [null]", [*D, "--model", "{W}/models/dims-null", "model", "info"],
         1, "matryoshka_dims must hold whole numbers"),
    Case("max_tokens: -5", [*D, "--model", "{W}/models/max-tokens", "search", "red"], 1,
         "text.max_tokens must be from 8 to 8192, not -5"),
    Case("a wrong output name", [*D, "--model", "{W}/models/output", "search", "red"], 1,
         "text.output is 'text_vectors', which is not an output of text.onnx"),
    Case("a huge pad_id", [*D, "--model", "{W}/models/pad-huge", "search", "red"], 1,
         "text.pad_id must be from 0 to"),
    Case("a pad_id past the vocabulary", [*D, "--model", "{W}/models/pad-vocab", "--device",
         "cpu", "model", "verify"], 1, "text.pad_id is 1000000, but the tokenizer has only"),
    Case("image_size: 100000", [*D, "--model", "{W}/models/image-size", "search", "red"], 1,
         "vision.image_size must be from 1 to 4096, not 100000"),
    Case("image_size that is not the graph's", [*D, "--model", "{W}/models/image-96", "search",
         "--image", "{photos}/red.jpg"], 1, "takes 512×512 px images, but manifest.json says"),
    Case("a manifest naming a file outside the model folder",
         [*D, "--model", "{W}/models/outside-file", "search", "red"], 1,
         "is not a file inside the model folder"),
    Case("model import of a release folder whose vision input is 96 px",
         ["--data-dir", "{W}/import-data", "--model", "{W}/model-96", "--device", "cpu",
          "model", "import", "{W}/release-96"], 0, "installed jinaai/jina-clip-v2",
         check=_imported_96),
    # silent acceptance
    Case('folders add ""', [*D, *M, "folders", "add", ""], 2, "PATH is empty"),
    Case('index ""', [*D, *M, "index", ""], 2, "PATH is empty"),
    Case("-k 0", [*D, *M, "search", "red", "-k", "0"], 2, "-k must be from 1 to 1000, not 0"),
    Case("-k -5", [*D, *M, "search", "red", "-k", "-5"], 2, "-k must be from 1 to 1000, not -5"),
    Case("--folder /nonexistent", [*D, *M, "search", "red", "--folder", "/nonexistent"], 2,
         "no such folder: /nonexistent"),
    Case("--folder FILE", [*D, *M, "search", "red", "--folder", "{photos}/red.jpg"], 2,
         "is a file, not a folder"),
    Case("--folder outside every watched folder", [*D, *M, "search", "red", "--folder", "{W}"],
         2, "is not inside a watched folder"),
    Case("--from 2020 --to 2018", [*D, *M, "search", "red", "--from", "2020", "--to", "2018"],
         2, "--from 2020 comes after --to 2018"),
    Case("--to 9999 (a year past datetime's range)", [*D, *M, "search", "red", "--to", "9999"],
         2, "--to 9999 is out of range"),
    Case("a mistyped --data-dir (search)", ["--data-dir", "{W}/dta", *M, "search", "red"], 2,
         "no index at W/dta: the folder does not exist (mistyped --data-dir?)",
         check=_no_folder("dta")),
    Case("a mistyped --data-dir (status)", ["--data-dir", "{W}/dta", *M, "status"], 2,
         "(mistyped --data-dir?)", check=_no_folder("dta")),
    Case("a symlink out of a watched folder", ["--data-dir", "{W}/links-data", *M, "index",
         "{W}/linked"], 0, "1 symbolic link leading out of this folder not followed"),
    Case("index /proc/self", ["--data-dir", "{W}/proc-data", *M, "index", "/proc/self"], 0,
         "symbolic links leading out of this folder not followed", needs="linux"),
    Case("a folder past PATH_MAX", ["--data-dir", "{W}/deep-data", *M, "index", "{W}/deep"], 0,
         "longer than this system allows (PATH_MAX)"),
    # misleading messages
    Case("an ONNX file newer than onnxruntime reads (search)",
         [*D, "--model", "{W}/models/ir14", "search", "red"], 1,
         "it is ONNX IR version 14, and the installed onnxruntime"),
    Case("an ONNX file newer than onnxruntime reads (status)",
         [*D, "--model", "{W}/models/ir14", "status"], 0, "IR version 14",
         forbid=("provider   ",)),
    Case("an opset newer than onnxruntime supports",
         [*D, "--model", "{W}/models/opset40", "search", "red"], 1, "it uses opset 40 of ai.onnx"),
    Case('"1 errors"', ["--data-dir", "{W}/plural-data", *M, "index", "{photos}"], 0,
         "5 embedded, 0 copies, 0 unchanged, 1 error", forbid=("1 errors",)),
    Case('"no such image" for a folder', [*D, *M, "search", "--image", "{photos}"], 2,
         "is a folder, not an image"),
    Case('"is not a folder" for a path that does not exist',
         [*D, *M, "folders", "add", "{W}/absent"], 2, "no such folder: W/absent"),
    Case('"Cannot read file" without the name', [*D, *M, "search", "--image",
         "{photos}/broken.jpg"], 1, "Cannot read file: W/photos/broken.jpg: "),
    Case('"Cannot read file" without the name (one of two pictures)', [*D, *M, "search",
         "--image", "{photos}/red.jpg", "--image", "{photos}/broken.jpg"], 1,
         "Cannot read file: W/photos/broken.jpg: "),
    Case("--not-image that does not exist", [*D, *M, "search", "red", "--not-image",
         "{W}/absent.jpg"], 2, "no such image: W/absent.jpg (--not-image)"),
    Case("--not whose bytes are not UTF-8", [*D, *M, "search", "red", "--not",
         os.fsdecode(b"vert\xe9")], 2, "--not is not valid UTF-8 text (byte 0xe9"),
    Case('"lanterna: Lanterna error: …"', ["--data-dir", "{W}/empty-data", *M, "index"], 1,
         "lanterna: no folders to index", forbid=("Lanterna error",)),
    Case("a read-only data folder: search", ["--data-dir", "{W}/readonly-data", *M, "search",
         "red", "-k", "1"], 0, "W/photos/red.jpg", needs="readonly"),
    Case("a read-only data folder: status", ["--data-dir", "{W}/readonly-data", *M, "status"],
         0, "5 indexed", needs="readonly"),
    Case("a read-only data folder: index", ["--data-dir", "{W}/readonly-data", *M, "index"], 1,
         "is read-only, so `index` cannot update the index there", needs="readonly"),
    Case("status lists 20 errors without saying how many",
         ["--data-dir", "{W}/errors-data", *M, "status"], 0,
         "25 files could not be indexed; the first 20 follow"),
    Case("control characters in file names", [*D, *M, "search", "jaune", "-k", "1"], 0,
         "clear\\x1b[2Jscreen.png", check=_no_raw_escape),
    Case("a non-UTF-8 name printed", [*D, *M, "search", "orange", "-k", "1"], 0,
         "caf\\xe9.png", forbid=("\ufffd",)),
    Case("a non-UTF-8 name in --json", [*D, *M, "search", "orange", "--json"], 0, "caf\\udce9",
         check=_json_paths_exist),
    Case("a same-size altered model file with its mtime restored",
         ["@alter", "--data-dir", "{W}/altered-data", "--model", "{W}/altered-model",
          "--device", "cpu", "index", "--reembed"], 1, "vision.onnx in W/altered-model does not "
         "match its checksum"),
    # usage errors argparse finds
    Case("no command", [], 2, "the following arguments are required: <command>"),
    Case("--kind video", [*D, *M, "search", "red", "--kind", "video"], 2,
         "argument --kind: invalid choice: 'video'"),
    Case("-k abc", [*D, *M, "search", "red", "-k", "abc"], 2, "invalid int value: 'abc'"),
    Case('--model ""', [*D, "--model", "", "search", "red"], 2, "--model is empty"),
    Case('--data-dir ""', ["--data-dir", "", *M, "status"], 2, "--data-dir is empty"),
    Case("nothing to search for", [*D, *M, "search", "  "], 2, "nothing to search for"),
    Case("a missing model folder", [*D, "--model", "{W}/no-model", "search", "red"], 1,
         "Model error: no model folder at W/no-model"),
]  # fmt: skip


def prepare(world: World, case: Case) -> list[str]:
    """The case's arguments, expanded, after any setup its first argument asks for."""
    argv = list(case.argv)
    if argv and argv[0] == "@alter":
        alter_same_size(world)
        argv = argv[1:]
    elif argv and argv[0] == "@unshare":
        argv = argv[1:]
    return world.expand(argv)


def judge(world: World, case: Case, result: Result) -> str | None:
    """What is wrong with a case's result, or None."""
    everything = world.short(result.out + result.err)
    if "Traceback" in everything or "unexpected error" in everything:
        return "a traceback or an unexpected error"
    if result.status != case.status:
        return f"exit status {result.status}, not {case.status}"
    if case.expect not in everything:
        return f"{case.expect!r} not in the output"
    for bad in case.forbid:
        if bad in everything:
            return f"{bad!r} in the output"
    if result.status != 0:
        lines = [line for line in result.err.splitlines() if line.strip()]
        hints = [line for line in lines[1:] if line.startswith("hint: ")]
        if not 1 <= len(lines) <= 2 or len(lines) - 1 != len(hints):
            return f"{len(lines)} lines on stderr, not one (two with a hint)"
    if case.check is not None:
        return case.check(world, result)
    return None


# -- running ---------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANTERNA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent.parent), *sys.path])
    return env


def run_subprocess(world: World, case: Case) -> Result:
    argv = [sys.executable, "-m", "engine", *prepare(world, case)]
    if case.argv[:1] == ["@unshare"]:
        mnt = world.root / "mnt"
        inner = " ".join(_quote(a) for a in argv)
        argv = ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs {mnt} && exec {inner}"]
    done = subprocess.run(
        argv, capture_output=True, env=_env(), cwd=world.root, timeout=300, check=False
    )
    return Result(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _run_in_process(world: World, argv: list[str]) -> Result:
    import io
    import signal

    from engine.cli import main

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except SystemExit as exc:  # argparse
                status = int(exc.code or 0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return Result(status, out.getvalue(), err.getvalue())


def run_in_process(world: World, case: Case) -> Result:
    return _run_in_process(world, prepare(world, case))


@contextlib.contextmanager
def scratch() -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="lanterna-bad-inputs-"))
    world = build(root)
    try:
        yield world
    finally:
        teardown(world)
        shutil.rmtree(root, ignore_errors=True)


def _elide(text: str, limit: int = 60) -> str:
    """Long runs without a space (a path past PATH_MAX, a JSON list) shortened for the table."""
    words = [w if len(w) <= limit else f"{w[:30]}…{w[-24:]}" for w in text.split(" ")]
    out = " ".join(words)
    return out if len(out) <= 400 else out[:399] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    failures = 0
    started = time.monotonic()
    with scratch() as world:
        rows = []
        for case in CASES:
            if case.needs and case.needs not in world.can:
                rows.append((case, None, f"skipped: this machine cannot ({case.needs})"))
                continue
            result = run_subprocess(world, case)
            problem = judge(world, case, result)
            failures += problem is not None
            rows.append((case, result, problem))
        for case, result, problem in rows:
            shown = " ".join(a if a else "''" for a in prepare_text(case))
            message = _elide(world.short(result.message(case.expect))) if result else "-"
            status = str(result.status) if result else "-"
            verdict = "" if problem is None else f" **FAILED: {problem}**"
            if problem is not None and problem.startswith("skipped"):
                verdict = f" ({problem})"
            if args.markdown:
                print(f"| {_cell(case.what)} | `{_cell(shown)}` | {_cell(message)}{verdict} "
                      f"| {status} |")  # fmt: skip
            else:
                print(f"{case.what}\n  $ lanterna {shown}\n  {message}{verdict}\n  exit {status}")
    print(
        f"\n{len(CASES)} cases, {failures} failed, in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return 1 if failures else 0


def prepare_text(case: Case) -> list[str]:
    """The case's command line as a user would type it (placeholders kept short)."""
    argv = [a for a in case.argv if not a.startswith("@")]
    out = []
    for a in argv:
        a = a.replace("{W}", "W").replace("{model}", "W/toy").replace("{data}", "W/data")
        a = a.replace("{photos}", "W/photos")
        out.append(os.fsencode(a).decode("utf-8", "backslashreplace") if a else "")
    return out


if __name__ == "__main__":
    sys.exit(main())
