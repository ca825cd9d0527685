"""``lanterna-gui --self-test``: prove that an installation works, without opening a window.

It is what a packaged build is checked with (``packaging/build.sh`` runs it from the frozen
bundle), and what a user can run when the app does not start. In one go it:

* prints the versions of what the app is made of (ONNX Runtime and its providers, SQLite,
  sqlite-vec, PDFium, Pillow and libheif, tokenizers, Qt) and renders the app icon with Qt's
  offscreen platform;
* opens the index through :class:`engine.library.Library` (a temporary one unless ``data_dir``
  is given, so a user's library is never touched by default) and loads the model folder;
* indexes a few pictures and a PDF it writes itself (the PDF goes through the PDFium worker
  process, as in real use), then runs one text query and one image query and checks that the
  right picture comes first;
* says which execution provider runs the model and, where the CUDA provider is present, which of
  NVIDIA's libraries were found and where.

It returns 0 on success; on failure it prints one line that says what failed and returns 1.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("lanterna.selftest")

# Solid-ish colours the toy model and the real model both tell apart; file names are neutral so
# that the keyword index (file names) cannot find them and only the vectors can.
PICTURES = {
    "sample-1.png": (220, 30, 30),  # red: what both queries must find first
    "sample-2.jpg": (30, 80, 210),  # blue
    "sample-3.png": (40, 160, 60),  # green
}
EXPECTED = "sample-1.png"
TEXT_QUERY = "red"
PDF_NAME = "sample-4.pdf"


class SelfTestError(Exception):
    """A check failed; the message is the one line the user sees."""


# -- what the app is made of ------------------------------------------------------------------


def _version(module: str, attr: str = "__version__") -> str:
    try:
        mod = __import__(module, fromlist=["_"])
        return str(getattr(mod, attr))
    except Exception as exc:  # reported, not fatal: the checks below fail where it matters
        return f"missing ({type(exc).__name__}: {exc})"


def frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def versions() -> list[tuple[str, str]]:
    """(label, text) pairs for the report."""
    import apsw
    import onnxruntime as ort
    import sqlite_vec

    rows = [("python", f"{platform.python_version()} ({sys.platform} {platform.machine()})")]
    try:
        from onnxruntime.capi import build_and_package_info as info

        package = str(getattr(info, "package_name", "onnxruntime"))
        cuda = getattr(info, "cuda_version", "")
    except ImportError:
        package, cuda = "onnxruntime", ""
    built = f", built for CUDA {cuda}" if cuda else ""
    rows.append(
        (
            "onnxruntime",
            f"{ort.__version__} ({package}{built}); providers: "
            + ", ".join(ort.get_available_providers()),
        )
    )
    conn = apsw.Connection(":memory:")
    try:
        conn.enable_load_extension(True)
        conn.load_extension(sqlite_vec.loadable_path())
        vec = str(conn.execute("SELECT vec_version()").fetchall()[0][0])
        fts5 = bool(
            conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchall()[0][0]
        )
    except apsw.Error as exc:
        raise SelfTestError(f"sqlite-vec cannot be loaded: {exc}") from exc
    finally:
        conn.close()
    rows.append(
        (
            "sqlite",
            f"{apsw.sqlite_lib_version()} via apsw {apsw.apsw_version()}"
            f"{', FTS5' if fts5 else ', NO FTS5'}; sqlite-vec {vec}",
        )
    )
    try:
        import pypdfium2

        pdfium = f"{pypdfium2.version.PDFIUM_INFO} via pypdfium2 {pypdfium2.version.PYPDFIUM_INFO}"
    except Exception as exc:
        pdfium = f"missing ({exc})"
    rows.append(("pdfium", pdfium))
    rows.append(("images", _image_support()))
    rows.append(("tokenizers", f"{_version('tokenizers')}; numpy {_version('numpy')}"))
    rows.append(("model tools", _model_tools()))
    return rows


def _model_tools() -> str:
    """What the first run needs to fetch or import the model: onnx_models, onnx, the Hub client."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # as onnx_models.hub does
    try:
        import huggingface_hub
        import onnx

        import onnx_models.hub
        import onnx_models.importer  # noqa: F401
    except ImportError as exc:
        raise SelfTestError(f"the model download and import tools are missing: {exc}") from exc
    return f"huggingface-hub {huggingface_hub.__version__}; onnx {onnx.__version__}"


def _image_support() -> str:
    from PIL import __version__ as pillow

    from engine.preprocess import SUPPORTED_EXTENSIONS

    try:
        import pillow_heif

        heif = f"pillow-heif {pillow_heif.__version__} (libheif {pillow_heif.libheif_version()})"
    except Exception as exc:
        heif = f"pillow-heif missing ({type(exc).__name__})"
    formats = sorted(e.lstrip(".") for e in SUPPORTED_EXTENSIONS)
    return f"Pillow {pillow}; {heif}; reads {' '.join(formats)}"


# -- Qt, headless -----------------------------------------------------------------------------


def check_qt() -> str:
    """Qt loads, renders the SVG icon offscreen, and has a platform plugin for a desktop."""
    import PySide6
    from PySide6.QtCore import QCoreApplication, qVersion
    from PySide6.QtWidgets import QApplication

    import app.qt  # noqa: F401  (the PySide6 6.12.0 reference guard, before anything emits)
    from app.icon import render

    existing = QCoreApplication.instance()
    if existing is None:
        # -platform offscreen: no display needed, and nothing appears on one that exists.
        keep = QApplication([sys.argv[0] or "lanterna", "-platform", "offscreen"])
        _qt_apps.append(keep)
    elif not isinstance(existing, QApplication):
        return f"PySide6 {PySide6.__version__}, Qt {qVersion()} (icon not rendered: no GUI app)"
    image = render(64)
    if image.isNull() or image.pixelColor(32, 40).alpha() == 0:
        raise SelfTestError("Qt could not render the app icon (QtSvg missing?)")
    plugins = _platform_plugins(QCoreApplication.libraryPaths())
    names = sorted(plugins)
    if sys.platform.startswith("linux") and not {"xcb", "wayland"} & plugins.keys():
        raise SelfTestError(
            "no Qt platform plugin for a desktop (xcb or wayland) in " + ", ".join(names or ["-"])
        )
    text = f"PySide6 {PySide6.__version__}, Qt {qVersion()}; icon rendered; platforms: "
    text += " ".join(names)
    xcb = plugins.get("xcb")
    if xcb is not None:
        text += f"; xcb plugin {_loads(xcb)}"
    return text


_qt_apps: list[Any] = []


def _platform_plugins(library_paths: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in library_paths:
        for lib in sorted(Path(folder, "platforms").glob("*")):
            if lib.suffix not in (".so", ".dll", ".dylib"):
                continue
            name = lib.stem.removeprefix("lib").removeprefix("q")
            found.setdefault(name, lib)
    return found


def _loads(lib: Path) -> str:
    """Whether the system has what a Qt plugin needs (libxcb-cursor0 and friends for xcb)."""
    try:
        ctypes.CDLL(str(lib))
    except OSError as exc:
        reason = str(exc).split(": ", 1)[-1]
        return f"cannot load here ({reason})"
    return "loads"


# -- CUDA -------------------------------------------------------------------------------------


def _cuda_library_names() -> list[tuple[str, tuple[str, ...], bool]]:
    """(file name, its path below site-packages in NVIDIA's wheels, optional) per library.

    The list is onnxruntime's own (what ``preload_dlls`` loads) where it exposes it. cuFFT and
    NVRTC are optional, as onnxruntime treats them; cuDNN is not: convolutions need it.
    """
    import onnxruntime as ort

    is_windows = sys.platform == "win32"
    listing: Callable[..., Any] | None = getattr(ort, "_get_nvidia_dll_paths", None)
    try:
        every = [tuple(p) for p in listing(is_windows, True, True)] if listing else []
    except Exception:
        every = []
    if not every:
        try:
            from onnxruntime.capi.build_and_package_info import cuda_version

            major = str(cuda_version).split(".")[0] or "12"
        except ImportError:
            major = "12"
        if is_windows:
            names = [f"cublasLt64_{major}.dll", f"cublas64_{major}.dll", f"cudart64_{major}.dll"]
            names.append("cudnn64_9.dll")
        else:
            names = [f"libcublasLt.so.{major}", f"libcublas.so.{major}", "libcurand.so.10"]
            names += [f"libcudart.so.{major}", "libcudnn.so.9"]
        every = [(name,) for name in names]
    return [(p[-1], p if len(p) > 1 else (), "cufft" in p[-1] or "nvrtc" in p[-1]) for p in every]


def _loaded_libraries() -> dict[str, str]:
    """File name -> path of the shared libraries this process has loaded (Linux only)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if path.startswith("/"):
                    out.setdefault(os.path.basename(path), path)
    except OSError:
        pass
    return out


def _wheel_roots() -> list[Path]:
    """Where NVIDIA's pip wheels are looked for: beside onnxruntime (as preload_dlls does,
    which in the bundle is its _internal folder), then every entry of sys.path."""
    import onnxruntime as ort

    roots = [Path(ort.__file__).resolve().parent.parent]
    roots += [Path(p) for p in sys.path if p and os.path.isdir(p)]
    seen: list[Path] = []
    for root in roots:
        if root not in seen:
            seen.append(root)
    return seen


def cuda_report() -> list[str]:
    """Which CUDA pieces this process can see, one line each."""
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return ["CUDA provider: not in this onnxruntime (CPU build); CUDA libraries not needed"]
    capi = Path(ort.__file__).resolve().parent / "capi"
    provider = next(iter(sorted(capi.glob("*onnxruntime_providers_cuda*"))), None)
    if provider is None:
        return [
            "CUDA provider: not in this build (its library was left out); CUDA libraries not needed"
        ]
    lines = [f"CUDA provider: {provider.name} ({provider.stat().st_size / 1e6:.0f} MB)"]
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    lines.append(f"NVIDIA driver {driver}: {_find_library(driver, ())}")
    for name, relative, optional in _cuda_library_names():
        where = _find_library(name, relative)
        lines.append(
            f"{name}: {where}" + (" (optional)" if optional and "not found" in where else "")
        )
    return lines


def _find_library(name: str, relative: tuple[str, ...]) -> str:
    loaded = _loaded_libraries()
    if name in loaded:
        return f"loaded from {loaded[name]}"
    for root in _wheel_roots() if relative else []:
        candidate = root.joinpath(*relative)
        if candidate.is_file():
            return f"NVIDIA wheel at {candidate}"
    try:
        ctypes.CDLL(name)
    except OSError:
        return "not found"
    path = _loaded_libraries().get(name)
    return f"system, {path}" if path else "system library path"


# -- sample files -----------------------------------------------------------------------------


def _picture(colour: tuple[int, int, int], seed: int, size: tuple[int, int] = (320, 240)) -> Any:
    """A photo-like picture of one colour: lighter and darker blocks in a seeded layout."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    grid = rng.uniform(-40, 40, size=(4, 4, 1)).astype(np.float32)
    grid -= grid.mean()
    tiles = np.kron(grid, np.ones((h // 4 + 1, w // 4 + 1, 1), dtype=np.float32))[:h, :w]
    base = np.array(colour, dtype=np.float32)
    arr = np.clip(base[None, None, :] + tiles, 0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def pdf_bytes(text: str, fill: tuple[float, float, float]) -> bytes:
    """A one-page PDF (Helvetica) with a coloured background and a line of text."""
    stream = (
        f"{fill[0]:.2f} {fill[1]:.2f} {fill[2]:.2f} rg 0 0 300 200 re f\n"
        f"BT /F1 16 Tf 0 0 0 rg 20 100 Td ({text}) Tj ET\n"
    ).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def write_samples(folder: Path) -> Path:
    """The pictures and the PDF to index, and (outside the folder) the picture to query with."""
    folder.mkdir(parents=True, exist_ok=True)
    for seed, (name, colour) in enumerate(PICTURES.items()):
        _picture(colour, seed).save(folder / name, quality=90)
    (folder / PDF_NAME).write_bytes(pdf_bytes("Lanterna self-test page", (0.96, 0.84, 0.16)))
    query = folder.parent / "query.jpg"
    _picture((205, 45, 40), 99, (400, 300)).save(query, quality=85)
    return query


# -- the run ----------------------------------------------------------------------------------


class _Report:
    """One line per check on stdout: a label column, then what was found."""

    def __call__(self, label: str, text: str) -> None:
        print(f"{label:<12}{text}", flush=True)


class _Timer:
    """Milliseconds spent in a ``with`` block."""

    def __enter__(self) -> _Timer:
        self.start = time.perf_counter()
        self.ms = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.start) * 1000


def _check_first(results: list[Any], what: str) -> str:
    if not results:
        raise SelfTestError(f"the {what} found nothing")
    top = os.path.basename(results[0].path)
    if top != EXPECTED:
        order = ", ".join(f"{os.path.basename(r.path)} {r.score:.2f}" for r in results[:4])
        raise SelfTestError(f"the {what} ranked {top} first, not {EXPECTED} ({order})")
    return f"{top} first ({results[0].score:.3f})"


def _resolve(data_dir: str | None, model_dir: str | None, scratch: Path) -> tuple[Path, Path, bool]:
    """The index folder and model folder to use; True when the index is a temporary one."""
    from engine import paths

    if data_dir:
        data = paths.data_dir(data_dir)
        return data, paths.model_dir(model_dir, data), False
    # No --data-dir: a temporary index, so the user's library is never changed by a self-test,
    # but the model is looked for where the app would look for it.
    return scratch / "data", paths.model_dir(model_dir, paths.data_dir(None)), True


def _run(data_dir: str | None, model_dir: str | None, device: str, report: _Report) -> None:
    import engine
    from engine.errors import LanternaError
    from engine.library import Library
    from engine.search import Query

    where = f"frozen bundle in {Path(sys.executable).parent}" if frozen() else sys.prefix
    report("lanterna", f"{engine.__version__} self-test ({where})")
    for label, text in versions():
        report(label, text)
    report("qt", check_qt())

    scratch = Path(tempfile.mkdtemp(prefix="lanterna-selftest-"))
    try:
        data, model, temporary = _resolve(data_dir, model_dir, scratch)
        query_image = write_samples(scratch / "samples")
        with _Timer() as took:
            lib = Library(data, model, device=device, quiet=0.2)
        with lib:
            before = lib.store.counts()
            note = " (temporary)" if temporary else ""
            report(
                "index",
                f"{lib.store.path}{note}: opened in {took.ms:.0f} ms; "
                f"{before['indexed']} files, {before['vectors']} vectors",
            )
            if lib.store.recovered is not None:
                report("", f"the index was damaged; a copy was kept at {lib.store.recovered}")
            with _Timer() as took:
                emb = lib.embedder
                provider = emb.provider
            report(
                "model",
                f"{emb.model.id} {emb.model.revision} ({emb.model.licence}) from {lib.model_dir}; "
                f"loaded in {took.ms:.0f} ms",
            )
            report("provider", f"{provider} — {emb.provider_note or 'ok'}")
            for n, line in enumerate(cuda_report()):
                report("cuda" if n == 0 else "", line)
            report("ocr", _ocr_line())
            try:
                _index_and_query(lib, scratch / "samples", query_image, Query, report)
            finally:
                if not temporary:  # leave a given index as it was
                    with contextlib.suppress(LanternaError):
                        lib.remove_folders([str(scratch / "samples")])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _ocr_line() -> str:
    """Whether text in pictures can be read; a bundle that cannot has left its models out."""
    from engine import ocr

    problem = ocr.available()
    if problem is None:
        return f"text in pictures: models in {ocr.models_dir()}"
    if frozen():
        raise SelfTestError(f"the bundle cannot read text in pictures: {problem}")
    return f"text in pictures is not read here: {problem}"


def _index_and_query(
    lib: Any, samples: Path, query_image: Path, query: Any, report: _Report
) -> None:
    scope = os.path.abspath(samples)
    with _Timer() as took:
        lib.add_folders([scope])
        result = lib.index([scope])
    counts = {r.path: r for r in lib.store.files_under(scope)}
    broken = [r for r in counts.values() if r.status == "error"]
    if broken:
        first = broken[0]
        raise SelfTestError(f"could not index {os.path.basename(first.path)}: {first.error}")
    if len(counts) != len(PICTURES) + 1 or result.run.errors:
        raise SelfTestError(
            f"indexed {len(counts)} of {len(PICTURES) + 1} sample files "
            f"({result.run.errors} errors)"
        )
    report(
        "indexed",
        f"{len(PICTURES)} pictures and a PDF (PDFium worker process) in {took.ms:.0f} ms; "
        f"{lib.store.counts()['vectors']} vectors",
    )
    with _Timer() as took:
        hits = lib.search(query(text=TEXT_QUERY, k=4, folder=scope))
    report("text query", f"{TEXT_QUERY!r}: {_check_first(hits, 'text query')} in {took.ms:.0f} ms")
    with _Timer() as took:
        hits = lib.search(query(image=str(query_image), k=4, folder=scope))
    report("image query", f"a red photo: {_check_first(hits, 'image query')} in {took.ms:.0f} ms")


def run(data_dir: str | None, model_dir: str | None, *, device: str = "auto") -> int:
    """Run the self-test; print the report on stdout. 0 when everything works, else 1."""
    report = _Report()
    try:
        _run(data_dir, model_dir, device, report)
    except SelfTestError as exc:
        return _fail(str(exc))
    except Exception as exc:
        from engine.errors import LanternaError

        log.debug("self-test failed", exc_info=True)
        if isinstance(exc, LanternaError):
            return _fail(exc.one_line())
        return _fail(f"{type(exc).__name__}: {exc}")
    print("self-test passed", flush=True)
    return 0


def _fail(line: str) -> int:
    print(f"self-test failed: {line}", file=sys.stderr, flush=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m app.selftest [--data-dir DIR] [--model DIR] [--device auto|cpu|cuda]``."""
    import argparse

    p = argparse.ArgumentParser(prog="lanterna-gui --self-test", description=__doc__.split("\n")[0])
    p.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help="index folder to use (default: a temporary one)")
    p.add_argument("--model", help="model folder (default: where the app looks for it)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("-v", "--verbose", action="store_true")
    args, _unknown = p.parse_known_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    return run(args.data_dir, args.model, device=args.device)


if __name__ == "__main__":
    raise SystemExit(main())
