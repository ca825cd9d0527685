"""Reading documents: text per page and, for PDFs, a render of each page.

Formats: PDF (pypdfium2, Apache-2.0/BSD: fine for an app we ship, unlike PyMuPDF's AGPL), plain
text and Markdown, HTML, DOCX, ODT, PPTX and EPUB (the Office and e-book formats are ZIP files of
XML, read with the standard library). PDFium is not thread-safe and a hostile PDF can make it hang
or eat memory, so PDFs are read in a separate worker process with a memory cap and a time limit
per batch of pages; a worker that overruns is killed and the file recorded as an error. Each
client has its own worker (INDEXING for :func:`pages`, PREVIEWS for :func:`render_page`), so a
preview that overruns never kills the process the indexer is reading a document with.

Pages come out as a stream, a few at a time, so a 2 000-page PDF never sits in memory at once.
"""

from __future__ import annotations

import html.parser
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
from multiprocessing.connection import Connection
from typing import Any

from PIL import Image

from .errors import DecodeError, FileVanishedError, ReadError

log = logging.getLogger(__name__)

PDF = {".pdf"}
TEXT = {".txt", ".md", ".markdown", ".rst", ".text"}
HTML = {".html", ".htm", ".xhtml"}
OFFICE = {".docx", ".odt", ".pptx", ".epub"}
DOCUMENT_EXTENSIONS = frozenset(PDF | TEXT | HTML | OFFICE)

MAX_TEXT_BYTES = 50 * 1024 * 1024  # a plain-text file larger than this is read in part
MAX_MEMBER_BYTES = 200 * 1024 * 1024  # one member of a ZIP-based document
MAX_ZIP_BYTES = 500 * 1024 * 1024  # all members together (ZIP bombs claim far more)
MAX_RATIO = 200  # uncompressed ÷ compressed beyond which a member is treated as a bomb
PDF_CHUNK = 8  # pages per request to the worker
PDF_TIMEOUT_S = 60.0  # per chunk of pages
WORKER_MEMORY = 3 * 1024**3


@dataclass
class Page:
    number: int  # from 1
    text: str
    image: Image.Image | None = None  # a render (PDF pages), None for text-only formats


def is_document(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in DOCUMENT_EXTENSIONS


def pages(
    path: str, render_px: int, cancelled: Callable[[], bool] = lambda: False
) -> Iterator[Page]:
    """The pages of a document, in order; raises DecodeError for an unreadable one."""
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in PDF:
            yield from _pdf_pages(path, render_px, cancelled)
        elif ext in TEXT:
            yield Page(1, _read_text(path))
        elif ext in HTML:
            yield Page(1, html_text(_decode(_read_capped(path, MAX_TEXT_BYTES))))
        elif ext == ".docx":
            yield from _docx_pages(path)
        elif ext == ".odt":
            yield from _odt_pages(path)
        elif ext == ".pptx":
            yield from _pptx_pages(path)
        elif ext == ".epub":
            yield from _epub_pages(path)
        else:
            raise DecodeError(f"not a document format Lanterna reads ({ext or 'no extension'})")
    except FileNotFoundError as exc:
        raise FileVanishedError("the file vanished while being read") from exc
    except PermissionError as exc:
        raise ReadError("permission denied") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError) as exc:
        raise DecodeError(f"damaged document: {exc}") from exc
    except ET.ParseError as exc:
        raise DecodeError(f"damaged document (bad XML): {exc}") from exc
    except MemoryError as exc:
        raise DecodeError("document too large to read") from exc
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}") from exc
    except DecodeError:
        raise
    except Exception as exc:  # zlib, zipfile and parser errors of damaged files
        raise DecodeError(f"damaged document: {type(exc).__name__}: {exc}") from exc


# -- plain text and HTML ----------------------------------------------------------------------


def _read_capped(path: str, limit: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(limit)


def _decode(data: bytes) -> str:
    if not data:
        raise DecodeError("empty file (0 bytes)")
    for encoding in (
        ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",)
    ):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _read_text(path: str) -> str:
    return _decode(_read_capped(path, MAX_TEXT_BYTES))


class _HTMLText(html.parser.HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BREAK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "title",
            "td",
            "th",
            "blockquote",
            "pre",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        if tag in self.BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP and self._skip:
            self._skip -= 1
        if tag in self.BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    title = " ".join(t.strip() for t in parser.title if t.strip())
    body = _tidy("".join(parser.parts))
    return f"{title}\n{body}" if title and title not in body[: len(title) + 10] else body


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    return text.strip()


# -- ZIP-based formats ------------------------------------------------------------------------


class _SafeZip:
    """A ZIP reader that refuses bombs: members too large, too compressed, or too many bytes."""

    def __init__(self, path: str) -> None:
        self.zf = zipfile.ZipFile(path)
        total = sum(i.file_size for i in self.zf.infolist())
        if total > MAX_ZIP_BYTES:
            self.zf.close()
            raise DecodeError(f"document too large once unpacked ({total // 2**20} MB)")

    def names(self) -> list[str]:
        return self.zf.namelist()

    def read(self, name: str) -> bytes:
        info = self.zf.getinfo(name)
        if info.file_size > MAX_MEMBER_BYTES or (
            info.compress_size
            and info.file_size / info.compress_size > MAX_RATIO
            and info.file_size > 10 * 2**20
        ):
            raise DecodeError(f"refused a suspicious member {name} (a ZIP bomb?)")
        with self.zf.open(info) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
        if len(data) > MAX_MEMBER_BYTES:
            raise DecodeError(f"refused a suspicious member {name} (a ZIP bomb?)")
        return data

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> _SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _docx_pages(path: str) -> Iterator[Page]:
    """Word: paragraphs in order; a page ends at an explicit or last-rendered page break."""
    with _SafeZip(path) as z:
        root = ET.fromstring(z.read("word/document.xml"))
    number, current, para = 1, list[str](), list[str]()
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "t" and el.text:
            para.append(el.text)
        elif tag == "tab":
            para.append("\t")
        elif (
            tag == "br" and any(_local(k) == "type" and v == "page" for k, v in el.attrib.items())
        ) or tag == "lastRenderedPageBreak":
            current.append("".join(para))
            para = []
            if "".join(current).strip():
                yield Page(number, _tidy("\n".join(current)))
                number += 1
                current = []
        elif tag == "p" and para:
            # ElementTree yields the <p> before its children: close the previous paragraph.
            current.append("".join(para))
            para = []
    current.append("".join(para))
    if "".join(current).strip() or number == 1:
        yield Page(number, _tidy("\n".join(current)))


def _odt_pages(path: str) -> Iterator[Page]:
    """OpenDocument text: paragraphs and headings; LibreOffice marks page ends as soft breaks."""
    with _SafeZip(path) as z:
        root = ET.fromstring(z.read("content.xml"))
    number, current = 1, list[str]()
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "soft-page-break" and "".join(current).strip():
            yield Page(number, _tidy("\n".join(current)))
            number, current = number + 1, []
        elif tag in ("p", "h"):
            current.append("".join(el.itertext()))
    if "".join(current).strip() or number == 1:
        yield Page(number, _tidy("\n".join(current)))


def _pptx_pages(path: str) -> Iterator[Page]:
    """PowerPoint: one page per slide, in slide order, with the speaker notes."""
    with _SafeZip(path) as z:
        names = z.names()
        slides = sorted(
            (n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
            key=lambda n: int(re.findall(r"\d+", n)[-1]),
        )
        for index, name in enumerate(slides, start=1):
            root = ET.fromstring(z.read(name))
            texts = ["".join(p.itertext()) for p in root.iter() if _local(p.tag) == "p"]
            notes = name.replace("slides/slide", "notesSlides/notesSlide")
            if notes in names:
                nroot = ET.fromstring(z.read(notes))
                texts += ["".join(p.itertext()) for p in nroot.iter() if _local(p.tag) == "p"]
            yield Page(index, _tidy("\n".join(texts)))


def _epub_pages(path: str) -> Iterator[Page]:
    """EPUB: one page per spine document (usually a chapter), in reading order."""
    with _SafeZip(path) as z:
        container = ET.fromstring(z.read("META-INF/container.xml"))
        rootfile = next(
            (el.attrib["full-path"] for el in container.iter() if _local(el.tag) == "rootfile"),
            None,
        )
        if rootfile is None:
            raise DecodeError("damaged EPUB: no package document")
        opf = ET.fromstring(z.read(rootfile))
        base = os.path.dirname(rootfile)
        manifest = {
            el.attrib.get("id"): el.attrib.get("href", "")
            for el in opf.iter()
            if _local(el.tag) == "item"
        }
        spine = [el.attrib.get("idref") for el in opf.iter() if _local(el.tag) == "itemref"]
        number = 0
        for idref in spine:
            href = manifest.get(idref)
            if not href:
                continue
            member = os.path.normpath(os.path.join(base, href)).replace(os.sep, "/")
            if member not in z.names():
                continue
            data = z.read(member)
            text = html_text(_decode(data)) if data else ""
            if text.strip():
                number += 1
                yield Page(number, text)


# -- PDF, in a worker process -----------------------------------------------------------------


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still applies


def _worker_main(conn: Connection) -> None:
    _limit_memory()
    import pypdfium2 as pdfium

    docs: dict[str, Any] = {}
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
                for doc in docs.values():
                    doc.close()
                docs.clear()
                try:
                    doc = pdfium.PdfDocument(path)
                except pdfium.PdfiumError as exc:
                    message = str(exc)
                    if "password" in message.lower():
                        raise DecodeError("encrypted PDF (a password is needed)") from exc
                    raise DecodeError(f"damaged PDF: {message}") from exc
                docs[path] = doc
                conn.send(("ok", len(doc)))
            elif op == "render":
                page_no, max_side = args
                doc = docs.get(path) or pdfium.PdfDocument(path)
                docs[path] = doc
                if not 1 <= page_no <= len(doc):
                    raise DecodeError(f"no page {page_no} (the document has {len(doc)})")
                page = doc[page_no - 1]
                width, height = page.get_size()
                bitmap = page.render(
                    scale=max_side / max(width, height, 1), fill_color=(255, 255, 255, 255)
                )
                img = bitmap.to_pil().convert("RGB")
                page.close()
                conn.send(("ok", (img.size, img.tobytes())))
            elif op == "pages":
                start, count, render_px = args
                doc = docs.get(path) or pdfium.PdfDocument(path)
                docs[path] = doc
                out = []
                for index in range(start, min(start + count, len(doc))):
                    page = doc[index]
                    textpage = page.get_textpage()
                    text = textpage.get_text_range()
                    width, height = page.get_size()
                    scale = render_px / max(width, height, 1)
                    bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
                    img = bitmap.to_pil().convert("RGB")
                    out.append((index + 1, text, img.size, img.tobytes()))
                    textpage.close()
                    page.close()
                conn.send(("ok", out))
        except DecodeError as exc:
            conn.send(("error", exc.detail))
        except MemoryError:
            conn.send(("error", "PDF too large to read (memory limit)"))
        except Exception as exc:  # pdfium's own errors, damaged objects
            conn.send(("error", f"damaged PDF: {exc}"))


class _PdfWorker:
    """One long-lived process for PDFium, restarted after a crash or an overrun."""

    def __init__(self, client: str) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> Connection:
        if self._proc is None or not self._proc.is_alive() or self._conn is None:
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(
                target=_worker_main, args=(child,), daemon=True, name=f"lanterna-pdf-{self.client}"
            )
            self._proc.start()
            child.close()
            self._conn = parent
        return self._conn

    def kill(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = None
        self._conn = None
        if proc is not None:
            proc.kill()
            proc.join(5)
            with suppress(AttributeError, ValueError):
                proc.close()
        if conn is not None:
            with suppress(OSError):
                conn.close()

    def interrupt(self) -> None:
        """Kill the process from another thread: the request in flight ends at once in an
        error, and the thread that made it cleans up."""
        proc = self._proc
        if proc is not None:
            with suppress(OSError, ValueError, AttributeError):
                proc.kill()

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


INDEXING = "indexing"
PREVIEWS = "previews"
_workers = {client: _PdfWorker(client) for client in (INDEXING, PREVIEWS)}


def close_worker(client: str | None = None) -> None:
    """Stop one client's PDF process (both when None); the next request starts it again."""
    for name, worker in _workers.items():
        if client is None or name == client:
            worker.close()


def interrupt_worker(client: str) -> None:
    """Kill one client's PDF process without waiting for the request it is serving (which then
    fails): how a close stops a long read at once."""
    _workers[client].interrupt()


def worker_pid(client: str) -> int | None:
    """The process id of one client's PDF reader, None when it is not running."""
    proc = _workers[client]._proc
    if proc is None or not proc.is_alive():
        return None
    pid: int = proc.pid
    return pid


def render_page(path: str, page: int, max_side: int) -> Image.Image:
    """A picture of one page of a PDF (from 1), for previews and thumbnails."""
    if os.path.splitext(path)[1].lower() not in PDF:
        raise DecodeError("only PDF pages can be rendered")
    try:
        size, raw = _workers[PREVIEWS].call("render", path, (page, max_side))
    except FileNotFoundError as exc:
        raise FileVanishedError("the file vanished") from exc
    return Image.frombytes("RGB", size, raw)


def _pdf_pages(path: str, render_px: int, cancelled: Callable[[], bool]) -> Iterator[Page]:
    if os.path.getsize(path) == 0:
        raise DecodeError("empty file (0 bytes)")
    worker = _workers[INDEXING]
    total = int(worker.call("open", path))
    for start in range(0, total, PDF_CHUNK):
        if cancelled():
            return
        for number, text, size, raw in worker.call("pages", path, (start, PDF_CHUNK, render_px)):
            yield Page(number, _tidy(text), Image.frombytes("RGB", size, raw))
