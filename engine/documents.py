"""Reading documents: text per page and, for PDFs, a render of each page.

PDFs are read with pypdfium2 (Apache-2.0/BSD: fine for an app we ship, unlike PyMuPDF's AGPL);
every other format with the readers in engine.formats. PDFium is not thread-safe and a hostile
file can make any parser hang or eat memory, so all documents are read in a separate worker
process with a memory cap and a time limit per request; a worker that overruns is killed and
the file recorded as an error.

Pages come out as a stream, a few at a time, so a 2 000-page PDF never sits in memory at once.
One page that PDFium cannot read costs that page only.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import re
import threading
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from PIL import Image

from . import formats
from .errors import DecodeError, FileVanishedError
from .formats import MAX_MEMBER_BYTES, MAX_RATIO, MAX_TEXT_BYTES, MAX_ZIP_BYTES, html_text

__all__ = [
    "DOCUMENT_EXTENSIONS",
    "MAX_MEMBER_BYTES",
    "MAX_RATIO",
    "MAX_TEXT_BYTES",
    "MAX_ZIP_BYTES",
    "Page",
    "close_worker",
    "html_text",
    "is_document",
    "pages",
    "pdf_text",
    "render_page",
]

log = logging.getLogger(__name__)

PDF = formats.PDF
DOCUMENT_EXTENSIONS = frozenset(PDF | set(formats._READERS))
PDF_CHUNK = 8  # pages per request to the worker
TEXT_CHUNK = 16  # pages of other formats per request
PDF_TIMEOUT_S = 60.0  # per request (a chunk of pages)
WORKER_MEMORY = 3 * 1024**3
MAX_ANNOTATIONS = 1000  # per page


@dataclass
class Page:
    number: int  # from 1
    text: str
    image: Image.Image | None = None  # a render (PDF pages), None for text-only formats
    problem: str | None = None  # what could not be read of this page, if anything


def is_document(path: str) -> bool:
    """Whether Lanterna reads this file's content (by its name: ``a.pdf``, ``notes.txt.gz``)."""
    return formats.readable(os.path.basename(path))


def pages(
    path: str, render_px: int, cancelled: Callable[[], bool] = lambda: False
) -> Iterator[Page]:
    """The pages of a document, in order; raises DecodeError for an unreadable one."""
    ext, compression = formats.split_ext(os.path.basename(path))
    try:
        if not is_document(path):
            raise DecodeError(f"not a document format Lanterna reads ({ext or 'no extension'})")
        if os.path.getsize(path) == 0:
            raise DecodeError("empty file (0 bytes)")
        if ext in PDF and not compression:
            yield from _pdf_pages(path, render_px, cancelled)
        else:
            yield from _other_pages(path, cancelled)
    except FileNotFoundError as exc:
        raise FileVanishedError("the file vanished while being read") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied") from exc
    except DecodeError:
        if not os.path.lexists(path):
            raise FileVanishedError("the file vanished while being read") from None
        raise
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror or exc}") from exc


def _other_pages(path: str, cancelled: Callable[[], bool]) -> Iterator[Page]:
    found, done = _worker.call("extract", path, TEXT_CHUNK)
    while True:
        for number, text in found:
            yield Page(number, text)
        if done or cancelled():
            if not done:
                _worker.call("forget", path)
            return
        found, done = _worker.call("more", path, TEXT_CHUNK)


def _pdf_pages(path: str, render_px: int, cancelled: Callable[[], bool]) -> Iterator[Page]:
    total = int(_worker.call("open", path))
    for start in range(0, total, PDF_CHUNK):
        if cancelled():
            return
        chunk = _worker.call("pages", path, (start, PDF_CHUNK, render_px))
        for number, text, size, raw, problem in chunk:
            if problem:
                log.warning("%s, page %d: %s", path, number, problem)
            image = Image.frombytes("RGB", size, raw) if raw is not None else None
            yield Page(number, text, image, problem)


def render_page(path: str, page: int, max_side: int) -> Image.Image:
    """A picture of one page of a PDF (from 1), for previews and thumbnails."""
    if os.path.splitext(path)[1].lower() not in PDF:
        raise DecodeError("only PDF pages can be rendered")
    try:
        size, raw = _worker.call("render", path, (page, max_side))
    except FileNotFoundError as exc:
        raise FileVanishedError("the file vanished") from exc
    return Image.frombytes("RGB", size, raw)


# -- cleaner text -----------------------------------------------------------------------------

# PDFium turns a hyphen it takes for a line-end hyphenation into U+FFFE (older builds U+0002)
# and drops the line break; a soft hyphen U+00AD means the same.
_SOFT = re.compile(r"[\ufffe\u0002\u00ad][ \t]*(?:\r\n|\r|\n)?[ \t]*(.?)", re.S)
_HARD_BREAK = re.compile(r"([^\W\d_])-[ \t]*\r?\n[ \t]*([^\W\d_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufeff\uffff]")


def _join_soft(m: re.Match[str]) -> str:
    nxt = m.group(1)
    if not nxt or nxt.islower():
        return nxt  # "Prop￾erty" → "Property"
    return "-" + nxt  # before a capital or a digit it was a real hyphen: "Jean-Paul", "A-4"


def clean_pdf_text(text: str) -> str:
    """Words split at line ends joined again, PDFium's markers and control codes removed."""
    text = _SOFT.sub(_join_soft, text)
    text = _HARD_BREAK.sub(lambda m: m[1] + m[2] if m[2].islower() else m[0], text)
    return formats.tidy(_CONTROL.sub("", text))


# -- the worker process -----------------------------------------------------------------------


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still applies


_PDF_ERRORS = {
    1: "damaged PDF (PDFium could not say why)",
    2: "cannot open the file",
    3: "damaged PDF or not a PDF at all",
    4: "encrypted PDF (a password is needed)",
    5: "PDF with an unsupported security scheme",
    6: "damaged PDF (its pages cannot be found)",
}


def _load_pdf(source: str | bytes) -> Any:
    """A PdfDocument, or a DecodeError saying what is wrong with the file.

    Loaded through PDFium's own calls: pypdfium2 reports the *last* error PDFium recorded
    when a file loads but has no pages, an error that belongs to an earlier file ("encrypted"
    after a locked PDF, "PDFium: Success" otherwise).
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    if isinstance(source, bytes):
        raw = pdfium_c.FPDF_LoadMemDocument64(source, len(source), None)
    else:
        if not os.path.isfile(source):
            raise FileNotFoundError(source)
        raw = pdfium_c.FPDF_LoadDocument(os.fsencode(source) + b"\0", None)
    if not raw:
        code = int(pdfium_c.FPDF_GetLastError())  # set by every failed load: this file's
        raise DecodeError(_PDF_ERRORS.get(code, "damaged PDF (PDFium could not say why)"))
    if pdfium_c.FPDF_GetPageCount(raw) < 1:
        pdfium_c.FPDF_CloseDocument(raw)
        raise DecodeError("damaged PDF: no page could be found in it")
    doc = pdfium.PdfDocument(raw)
    with suppress(pdfium.PdfiumError):  # a broken form costs the form fields only
        doc.init_forms()
    return doc


def _wide(call: Callable[[Any, int], int]) -> str:
    """A UTF-16 string from a PDFium call that takes (buffer, length) and returns the length."""
    import pypdfium2.raw as pdfium_c

    n = int(call(None, 0))
    if n <= 2:
        return ""
    buffer = ctypes.create_string_buffer(n)
    call(ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)), n)
    return buffer.raw[: n - 2].decode("utf-16-le", errors="replace")


def _annotations(doc: Any, page: Any) -> list[str]:
    """The text of a page's comments, notes and filled-in form fields."""
    import pypdfium2.raw as pdfium_c

    out: list[str] = []
    form = doc.formenv
    fields = {
        pdfium_c.FPDF_FORMFIELD_TEXTFIELD,
        pdfium_c.FPDF_FORMFIELD_COMBOBOX,
        pdfium_c.FPDF_FORMFIELD_LISTBOX,
    }
    count = min(int(pdfium_c.FPDFPage_GetAnnotCount(page)), MAX_ANNOTATIONS)
    for index in range(count):
        annot = pdfium_c.FPDFPage_GetAnnot(page, index)
        if not annot:
            continue
        try:
            subtype = pdfium_c.FPDFAnnot_GetSubtype(annot)
            if subtype == pdfium_c.FPDF_ANNOT_WIDGET:
                if form is not None and pdfium_c.FPDFAnnot_GetFormFieldType(form, annot) in fields:
                    out.append(_wide(partial(pdfium_c.FPDFAnnot_GetFormFieldValue, form, annot)))
            elif subtype not in (pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP):
                out.append(_wide(partial(pdfium_c.FPDFAnnot_GetStringValue, annot, b"Contents")))
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return [t.strip() for t in out if t.strip()]


def _metadata(doc: Any) -> list[str]:
    try:
        meta = doc.get_metadata_dict(skip_empty=True)
    except Exception:
        return []
    return [str(meta[k]) for k in ("Title", "Subject", "Author", "Keywords") if meta.get(k)]


def _page_text(doc: Any, page: Any, number: int) -> str:
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range()
    finally:
        textpage.close()
    extra = _annotations(doc, page)
    if number == 1:
        extra += _metadata(doc)
    return clean_pdf_text("\n\n".join([text, *extra]) if extra else text)


def _read_pdf_page(doc: Any, index: int, render_px: int | None) -> tuple[Any, ...]:
    """(number, text, size, raw RGB or None, problem or None) for one page."""
    number = index + 1
    try:
        page = doc[index]
    except Exception as exc:
        return number, "", None, None, f"this page cannot be read ({_why(exc)})"
    problems = []
    text, size, raw = "", None, None
    try:
        try:
            text = _page_text(doc, page, number)
        except Exception as exc:
            problems.append(f"its text cannot be read ({_why(exc)})")
        if render_px:
            try:
                width, height = page.get_size()
                bitmap = page.render(
                    scale=render_px / max(width, height, 1), fill_color=(255, 255, 255, 255)
                )
                img = bitmap.to_pil().convert("RGB")
                size, raw = img.size, img.tobytes()
            except Exception as exc:
                problems.append(f"it cannot be drawn ({_why(exc)})")
    finally:
        page.close()
    return number, text, size, raw, "; ".join(problems) or None


def _why(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "too large for the memory limit"
    return str(exc) or type(exc).__name__


def pdf_text(data: bytes) -> formats.Pages:
    """The text of a PDF held in memory (inside a ZIP, or compressed), page by page; for use
    inside the worker process only (PDFium)."""
    doc = _load_pdf(data)
    try:
        for index in range(len(doc)):
            number, text, _, _, _ = _read_pdf_page(doc, index, None)
            yield number, text
    finally:
        doc.close()


def _describe(exc: BaseException, path: str) -> str:
    """One line for what went wrong reading a non-PDF document."""
    what = formats.label(formats.split_ext(os.path.basename(path))[0])
    if isinstance(exc, FileNotFoundError):
        return "the file vanished while being read"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, MemoryError):
        return f"{what} too large to read (memory limit)"
    if isinstance(exc, RecursionError):
        return f"damaged {what}: nested too deeply"
    if isinstance(exc, zipfile.BadZipFile | zipfile.LargeZipFile):
        return f"damaged {what}: {exc}"
    if isinstance(exc, ET.ParseError):
        return f"damaged {what} (bad XML): {exc}"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return f"damaged {what}: {type(exc).__name__}: {exc}"


def _take(found: formats.Pages, count: int) -> tuple[list[tuple[int, str]], bool]:
    out: list[tuple[int, str]] = []
    size = 0
    for item in found:
        out.append(item)
        size += len(item[1])
        if len(out) >= count or size > MAX_TEXT_BYTES:
            return out, False
    return out, True


def _worker_main(conn: Connection) -> None:
    _limit_memory()
    import pypdfium2  # noqa: F401 - loaded once, before the first request

    docs: dict[str, Any] = {}
    streams: dict[str, formats.Pages] = {}

    def forget() -> None:
        # one file at a time: nothing (PDFium documents, open readers) carries to the next
        for doc in docs.values():
            doc.close()
        docs.clear()
        for stream in streams.values():
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        streams.clear()

    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        op, path, args = request
        try:
            if op == "open":
                forget()
                doc = _load_pdf(path)
                docs[path] = doc
                conn.send(("ok", len(doc)))
            elif op == "render":
                page_no, max_side = args
                if path not in docs:
                    forget()
                    docs[path] = _load_pdf(path)
                doc = docs[path]
                if not 1 <= page_no <= len(doc):
                    raise DecodeError(f"no page {page_no} (the document has {len(doc)})")
                _, _, size, raw, problem = _read_pdf_page(doc, page_no - 1, max_side)
                if raw is None:
                    raise DecodeError(f"page {page_no} cannot be drawn: {problem}")
                conn.send(("ok", (size, raw)))
            elif op == "pages":
                start, count, render_px = args
                doc = docs[path]
                end = min(start + count, len(doc))
                conn.send(("ok", [_read_pdf_page(doc, i, render_px) for i in range(start, end)]))
            elif op == "extract":
                forget()
                streams[path] = formats.extract(path)
                conn.send(("ok", _take(streams[path], args)))
            elif op == "more":
                chunk, done = _take(streams[path], args)
                if done:
                    forget()
                conn.send(("ok", (chunk, done)))
            elif op == "forget":
                forget()
                conn.send(("ok", None))
        except DecodeError as exc:
            forget()
            conn.send(("error", exc.detail))
        except Exception as exc:  # parsers' own errors on damaged files
            forget()
            conn.send(("error", _describe(exc, path)))


class _PdfWorker:
    """One long-lived process for PDFium, restarted after a crash or an overrun."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        if self._proc is None or not self._proc.is_alive() or self._conn is None:
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(
                target=_worker_main, args=(child,), daemon=True, name="lanterna-pdf"
            )
            self._proc.start()
            child.close()
            self._conn = parent
        return self._conn

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        self._proc = None
        self._conn = None

    def call(self, op: str, path: str, args: Any = None, timeout: float | None = None) -> Any:
        timeout = PDF_TIMEOUT_S if timeout is None else timeout
        with self._lock:
            conn = self._start()
            try:
                conn.send((op, path, args))
                if not conn.poll(timeout):
                    self.kill()
                    raise DecodeError(f"gave up after {timeout:.0f} s (a hostile or huge PDF?)")
                status, value = conn.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
                self.kill()
                raise DecodeError("the PDF reader crashed on this file") from exc
            if status == "error":
                raise DecodeError(str(value))
            return value

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(None)
                    self._proc.join(2)
                except OSError:
                    pass
            self.kill()


_worker = _PdfWorker()


def close_worker() -> None:
    _worker.close()
