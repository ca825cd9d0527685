"""The text of every document format but PDF, page by page.

These readers run inside the document worker process (engine.documents), under the same memory
cap and time limit as PDFium, so a hostile file can cost its own time and nothing more. Each
reads from a path or, for a file unpacked from a ``.gz`` / ``.bz2`` / ``.xz`` or a ZIP archive,
from bytes. Libraries (all Apache-2.0 compatible): python-calamine (MIT) for spreadsheets,
striprtf (BSD-3) for RTF, pylatexenc (MIT) for TeX/LaTeX, charset-normalizer (MIT) for text
in legacy encodings; the Office, OpenDocument, EPUB and FictionBook formats are ZIP or XML
files, read with the standard library (EbookLib is AGPL, python-docx reads no comments).
"""

from __future__ import annotations

import bz2
import csv
import gzip
import html.parser
import io
import lzma
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from .errors import DecodeError

Source = str | bytes  # a path, or the bytes of a file unpacked in memory
Pages = Iterator[tuple[int, str]]  # (page number from 1, text)

MAX_TEXT_BYTES = 50 * 1024 * 1024  # a plain-text file larger than this is read in part
MAX_MEMBER_BYTES = 200 * 1024 * 1024  # one member of a ZIP, or one unpacked file
MAX_ZIP_BYTES = 500 * 1024 * 1024  # all members together (ZIP bombs claim far more)
MAX_RATIO = 200  # uncompressed ÷ compressed beyond which a large member is treated as a bomb
MAX_ARCHIVE_MEMBERS = 2000  # documents read from one ZIP archive

TEXT = {".txt", ".text", ".md", ".markdown", ".rst", ".org", ".adoc", ".asciidoc", ".log"}
HTML = {".html", ".htm", ".xhtml"}
WORD = {".docx", ".docm", ".dotx", ".dotm"}
SLIDES = {".pptx", ".pptm", ".ppsx", ".ppsm", ".potx", ".potm"}
OPENDOC = {".odt", ".ott", ".odp", ".otp"}
SHEETS = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
TABLES = {".csv", ".tsv"}
COMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
ARCHIVES = {".zip"}
PDF = {".pdf"}

NAMES = {
    ".pdf": "PDF",
    ".epub": "EPUB",
    ".rtf": "RTF",
    ".fb2": "FictionBook",
    ".csv": "CSV",
    ".tsv": "TSV",
    ".zip": "ZIP archive",
}


def label(ext: str) -> str:
    """How a message names the format: "DOCX", "spreadsheet", "text file"."""
    if ext in NAMES:
        return NAMES[ext]
    if ext in SHEETS:
        return "spreadsheet"
    if ext in TEXT:
        return "text file"
    if ext in (".tex", ".latex", ".ltx"):
        return "TeX file"
    return ext.lstrip(".").upper() + " document"


def split_ext(name: str) -> tuple[str, str | None]:
    """(format extension, compression extension or None): "a.txt.gz" → (".txt", ".gz")."""
    base, ext = os.path.splitext(name.lower())
    if ext in COMPRESSED:
        inner = os.path.splitext(base)[1]
        return inner, ext
    if ext == ".tgz":
        return ".tar", ".gz"
    return ext, None


# Inside a .gz / .bz2 / .xz: these are not text, and nothing else is read from them.
PACKED_BINARY = {".tar", ".img", ".iso", ".bin", ".raw", ".vmdk", ".qcow2", ".cpio", ".wasm"}


def readable(name: str) -> bool:
    """Whether Lanterna reads the content of a file of this name (PDF included).

    A compressed file is read when it holds a known format, or a name without one
    ("changelog.Debian.gz", "ls.1.gz", "README.gz"), taken for text if it unpacks as text.
    """
    ext, compression = split_ext(name)
    if compression:
        return ext not in ARCHIVES and ext not in PACKED_BINARY
    return ext in PDF or ext in _READERS


# -- sources ----------------------------------------------------------------------------------


def _open(src: Source) -> IO[bytes]:
    return io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")


def _read(src: Source, limit: int) -> bytes:
    if isinstance(src, bytes):
        return src[:limit]
    with open(src, "rb") as fh:
        return fh.read(limit)


def unpack(path: str, compression: str, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """The content of a compressed single file, refusing more than ``limit`` bytes."""
    opener = COMPRESSED[compression]
    try:
        with opener(path, "rb") as fh:
            data: bytes = fh.read(limit + 1)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise DecodeError(f"damaged {compression} file: {exc}") from exc
    if len(data) > limit:
        raise DecodeError(f"refused to unpack more than {limit // 2**20} MB (a compression bomb?)")
    if not data:
        raise DecodeError("empty once unpacked")
    return data


def decode(data: bytes, *, html_markup: bool = False) -> str:
    """Text from bytes: a BOM, else UTF-8, else a declared (HTML) or guessed legacy encoding."""
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8", errors="replace")
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return data.decode("utf-32", errors="replace")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start > len(data) - 4:  # cut in the middle of a character (a capped read)
            return data[: exc.start].decode("utf-8")
    if html_markup:
        declared = re.search(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", data[:4096], re.I)
        if declared:
            try:
                return data.decode(declared.group(1).decode("ascii"), errors="replace")
            except LookupError:
                pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 256 * 1024]).best()
    if best is not None and best.encoding:
        try:
            return data.decode(best.encoding, errors="replace")
        except LookupError:
            pass
    return data.decode("cp1252", errors="replace")


def tidy(text: str) -> str:
    """One space for runs of spaces and tabs, at most one empty line, nothing at the ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00ad", "")
    text = re.sub(r"[ \t\f\v\u00a0]+", " ", text)
    text = re.sub(r" ?\n\s*\n\s*", "\n\n", text)
    text = re.sub(r" *\n *", "\n", text)
    return text.strip()


# -- plain text, HTML, CSV, RTF, TeX ----------------------------------------------------------


def _text_pages(src: Source, ext: str) -> Pages:
    yield 1, tidy(decode(_read(src, MAX_TEXT_BYTES)))


class _HTMLText(html.parser.HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    BREAK = frozenset(
        {
            *("p", "div", "br", "li", "tr", "td", "th", "dt", "dd", "title", "pre", "hr"),
            *("h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "blockquote"),
            *("table", "ul", "ol", "dl", "header", "footer", "nav", "aside", "figcaption"),
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
    body = tidy("".join(parser.parts))
    return f"{title}\n{body}" if title and title not in body[: len(title) + 10] else body


def _html_pages(src: Source, ext: str) -> Pages:
    yield 1, html_text(decode(_read(src, MAX_TEXT_BYTES), html_markup=True))


def _csv_pages(src: Source, ext: str) -> Pages:
    text = decode(_read(src, MAX_TEXT_BYTES))
    if ext == ".tsv":
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(MAX_TEXT_BYTES)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    yield 1, tidy("\n".join("\t".join(cell.strip() for cell in row) for row in rows))


def _rtf_pages(src: Source, ext: str) -> Pages:
    from striprtf.striprtf import rtf_to_text

    data = _read(src, MAX_TEXT_BYTES)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if not data.lstrip().startswith(b"{\\"):
        raise DecodeError("damaged RTF: it does not start with {\\rtf")
    # RTF is 7-bit: other characters are escapes that striprtf decodes (\'xx, \uN)
    source = re.sub(r"\\bin(?!\d)", r"\\bin0", data.decode("latin-1"))  # \bin with no length
    if not data.lstrip().startswith(b"{\\rtf"):  # a fragment, as some writers leave: one group
        source = "{\\rtf1 " + source + "}"
    try:
        text: str = rtf_to_text(source, errors="replace")  # type: ignore[no-untyped-call]
    except Exception:  # striprtf trips on some control words: a plainer reading beats none
        text = _strip_rtf(source)
    yield 1, tidy(text.replace("\x0c", "\n"))


_RTF_SKIP = re.compile(r"\{\\(?:\*|fonttbl|colortbl|stylesheet|info|pict|object|themedata)")


def _strip_rtf(source: str) -> str:
    """RTF to text without striprtf: groups that hold no text (fonts, pictures, \\*) dropped,
    escapes decoded, control words removed."""
    kept: list[str] = []
    depth = skip_from = 0
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "{":
            depth += 1
            if not skip_from and _RTF_SKIP.match(source, i):
                skip_from = depth
        elif ch == "}":
            if skip_from == depth:
                skip_from = 0
            depth -= 1
        elif not skip_from:
            kept.append(ch)
        i += 1
    text = "".join(kept)
    text = re.sub(r"\\'([0-9a-fA-F]{2})", lambda m: bytes([int(m[1], 16)]).decode("cp1252"), text)
    text = re.sub(r"\\u(-?\d+)\??", lambda m: chr(int(m[1]) % 65536), text)
    text = re.sub(r"\\(?:par|line|tab|row|cell)\b ?", "\n", text)
    return re.sub(r"\\[a-zA-Z]+-?\d* ?|\\", "", text)


def _tex_pages(src: Source, ext: str) -> Pages:
    source = decode(_read(src, MAX_TEXT_BYTES))
    try:
        text = _latex_to_text(source)
    except Exception:  # pylatexenc trips on some macros: a plainer reading beats none
        text = _strip_latex(source)
    yield 1, tidy(text)


def _latex_to_text(source: str) -> str:
    from pylatexenc.latex2text import LatexNodes2Text
    from pylatexenc.latexwalker import LatexWalker, get_default_latex_context_db
    from pylatexenc.macrospec import MacroSpec

    context = get_default_latex_context_db()
    # pylatexenc 2.11 writes out \href without knowing its arguments: tell its parser
    context.add_context_category(
        "lanterna", prepend=True, macros=[MacroSpec("href", "{{"), MacroSpec("url", "{")]
    )
    walker = LatexWalker(source, latex_context=context, tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes()
    text = LatexNodes2Text(math_mode="verbatim").nodelist_to_text(nodes)
    return re.sub(r"\[NO \\\w+ GIVEN\]|<cit\.>|<ref>", "", text)


def _strip_latex(source: str) -> str:
    text = re.sub(r"(?<!\\)%.*", "", source)
    text = re.sub(r"\\(?:begin|end)\{[^}]*\}", "\n", text)
    text = re.sub(
        r"\\(?:label|ref|cite\w*|usepackage|documentclass)(?:\[[^]]*\])?\{[^}]*\}", "", text
    )
    text = re.sub(r"\\[a-zA-Z@]+\*?(?:\[[^]]*\])?", " ", text)
    return re.sub(r"[{}]", "", text)


# -- ZIP-based formats ------------------------------------------------------------------------


class SafeZip:
    """A ZIP reader that refuses bombs: members too large, too compressed, or too many bytes."""

    def __init__(self, src: Source, what: str = "document") -> None:
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(src) if isinstance(src, bytes) else src)
        except zipfile.BadZipFile as exc:
            raise DecodeError(f"damaged {what}: not a ZIP file ({exc})") from exc
        self.what = what
        total = sum(i.file_size for i in self.zf.infolist())
        if total > MAX_ZIP_BYTES:
            self.zf.close()
            raise DecodeError(f"{what} too large once unpacked ({total // 2**20} MB)")

    def names(self) -> list[str]:
        return self.zf.namelist()

    def has(self, name: str) -> bool:
        try:
            self.zf.getinfo(name)
        except KeyError:
            return False
        return True

    def read(self, name: str) -> bytes:
        try:
            info = self.zf.getinfo(name)
        except KeyError as exc:
            raise DecodeError(f"damaged {self.what}: it has no {name}") from exc
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

    def xml(self, name: str) -> ET.Element:
        try:
            return ET.fromstring(self.read(name))
        except ET.ParseError as exc:
            raise DecodeError(f"damaged {self.what} (bad XML in {name}): {exc}") from exc

    def close(self) -> None:
        self.zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _attr(el: ET.Element, name: str) -> str | None:
    for key, value in el.attrib.items():
        if _local(key) == name:
            return value
    return None


def _rels(z: SafeZip, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id → (type's last word, target path inside the ZIP)."""
    folder, name = os.path.split(part)
    rels = f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"
    if not z.has(rels):
        return {}
    out = {}
    for el in z.xml(rels).iter():
        if _local(el.tag) == "Relationship" and el.attrib.get("TargetMode") != "External":
            target = el.attrib.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else os.path.join(folder, target)
            path = os.path.normpath(path).replace(os.sep, "/")
            out[el.attrib.get("Id", "")] = (el.attrib.get("Type", "").rsplit("/", 1)[-1], path)
    return out


def _main_part(z: SafeZip, kind: str, default: str) -> str:
    """The main part of an Office file: from its relationships, else its content types."""
    for rel_type, target in _rels(z, "").values():
        if rel_type == "officeDocument" and z.has(target):
            return target
    if z.has("[Content_Types].xml"):
        for el in z.xml("[Content_Types].xml").iter():
            ctype = el.attrib.get("ContentType", "")
            part = el.attrib.get("PartName", "").lstrip("/")
            main = _local(el.tag) == "Override" and kind in ctype and ctype.endswith("main+xml")
            if main and z.has(part):
                return part
    if z.has(default):
        return default
    raise DecodeError(f"damaged {z.what}: no main document part")


class _Pager:
    """Collects paragraphs into pages (``keep_empty``: an empty page keeps its number)."""

    def __init__(self, *, keep_empty: bool = False) -> None:
        self.keep_empty = keep_empty
        self.pages: list[str] = []
        self.lines: list[str] = []
        self.para: list[str] = []

    def end_paragraph(self) -> None:
        self.lines.append("".join(self.para))
        self.para = []

    def end_page(self) -> None:
        self.end_paragraph()
        text = tidy("\n".join(self.lines))
        if text or self.keep_empty:
            self.pages.append(text)
            self.lines = []

    def finish(self) -> Pages:
        if self.lines or self.para or not self.keep_empty:
            self.end_page()
        return iter(enumerate(self.pages or [""], start=1))


def _docx_pages(src: Source, ext: str) -> Pages:
    """Word: paragraphs in order; a page ends at an explicit or last-rendered page break.

    Comments, footnotes and endnotes join the page where they are anchored; line breaks and
    tabs become spaces; deleted text (tracked changes) and field codes are left out.
    """
    with SafeZip(src, "DOCX") as z:
        main = _main_part(z, "wordprocessingml", "word/document.xml")
        root = z.xml(main)
        notes: dict[tuple[str, str], str] = {}
        for rel_type, target in _rels(z, main).values():
            if rel_type in ("comments", "footnotes", "endnotes") and z.has(target):
                for el in z.xml(target):
                    note_id = _attr(el, "id")
                    if note_id is not None:
                        notes[(rel_type, note_id)] = _docx_plain(el)
    pager = _Pager()
    pending: list[str] = []
    refs = {
        "commentReference": "comments",
        "footnoteReference": "footnotes",
        "endnoteReference": "endnotes",
    }

    def walk(el: ET.Element) -> None:
        tag = _local(el.tag)
        if tag in ("delText", "instrText", "del"):
            return
        if tag == "t":
            pager.para.append(el.text or "")
        elif tag == "tab" or tag == "ptab":
            pager.para.append("\t")
        elif tag in ("br", "cr"):
            if _attr(el, "type") == "page":
                pager.end_page()
            else:
                pager.para.append("\n")
        elif tag == "lastRenderedPageBreak":
            pager.end_page()
        elif tag == "noBreakHyphen":
            pager.para.append("-")
        elif tag in refs:
            text = notes.get((refs[tag], _attr(el, "id") or ""))
            if text:
                pending.append(text)
        for child in el:
            walk(child)
        if tag == "p":
            if pending:
                pager.para.append("".join(f" ({text})" for text in pending))
                pending.clear()
            pager.end_paragraph()

    walk(root)
    return pager.finish()


def _docx_plain(el: ET.Element) -> str:
    """The text of a comment or note: its paragraphs, with spaces at breaks and tabs."""
    out: list[str] = []
    for node in el.iter():
        tag = _local(node.tag)
        if tag == "t" and node.text:
            out.append(node.text)
        elif tag in ("tab", "br", "cr", "p"):
            out.append(" ")
    return " ".join("".join(out).split())


def _opendoc_pages(src: Source, ext: str) -> Pages:
    """OpenDocument text and presentations: paragraphs with their spaces, tabs and line breaks,
    comments and notes; a text's pages end at LibreOffice's soft page breaks, a presentation
    has one page per slide (with its speaker notes)."""
    with SafeZip(src, label(ext)) as z:
        root = z.xml("content.xml")
    slides = ext in (".odp", ".otp")
    pager = _Pager(keep_empty=slides)
    skip = {"note-citation", "tracked-changes", "sequence-decls"}

    def walk(el: ET.Element) -> None:
        tag = _local(el.tag)
        if tag in skip or "purl.org/dc/" in el.tag:  # a comment's author and date
            return
        if tag == "soft-page-break" and not slides:
            pager.end_page()
        elif tag == "s":
            pager.para.append(" " * int(_attr(el, "c") or "1"))
        elif tag == "tab":
            pager.para.append("\t")
        elif tag == "line-break":
            pager.para.append("\n")
        elif tag in ("annotation", "note"):
            pager.end_paragraph()  # a comment or footnote is a paragraph of its own
        if el.text:
            pager.para.append(el.text)
        for child in el:
            walk(child)
            if child.tail:
                pager.para.append(child.tail)
        if tag in ("p", "h"):
            pager.end_paragraph()
        elif tag == "page" and slides:
            pager.end_page()

    walk(root)
    return pager.finish()


def _pptx_pages(src: Source, ext: str) -> Pages:
    """PowerPoint: one page per slide, in the presentation's order, with its speaker notes;
    line breaks inside a paragraph become spaces."""
    with SafeZip(src, "PPTX") as z:
        order = []
        try:
            main = _main_part(z, "presentationml", "ppt/presentation.xml")
        except DecodeError:
            main = None
        if main is not None:
            rels = _rels(z, main)
            for el in z.xml(main).iter():
                if _local(el.tag) == "sldId":
                    rid = next((v for k, v in el.attrib.items() if k.endswith("}id")), None)
                    if rid in rels and rels[rid][0] == "slide":
                        order.append(rels[rid][1])
        if not order:  # no list of slides: take them by number
            order = sorted(
                (n for n in z.names() if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)),
                key=lambda n: int(re.findall(r"\d+", n)[-1]),
            )
        for index, name in enumerate(order, start=1):
            if not z.has(name):
                continue
            texts = _drawing_paragraphs(z.xml(name))
            for rel_type, target in _rels(z, name).values():
                if rel_type == "notesSlide" and z.has(target):
                    texts += _drawing_paragraphs(z.xml(target))
            yield index, tidy("\n".join(texts))


def _drawing_paragraphs(root: ET.Element) -> list[str]:
    out = []
    for p in root.iter():
        if _local(p.tag) != "p" or "drawingml" not in p.tag:
            continue
        parts = []
        for node in p.iter():
            tag = _local(node.tag)
            if tag == "t" and node.text:
                parts.append(node.text)
            elif tag == "br":
                parts.append("\n")
        out.append("".join(parts))
    return out


def _epub_pages(src: Source, ext: str) -> Pages:
    """EPUB: one page per spine document (usually a chapter), in reading order."""
    with SafeZip(src, "EPUB") as z:
        container = z.xml("META-INF/container.xml")
        rootfile = next(
            (el.attrib["full-path"] for el in container.iter() if _local(el.tag) == "rootfile"),
            None,
        )
        if rootfile is None:
            raise DecodeError("damaged EPUB: no package document")
        opf = z.xml(rootfile)
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
            if not z.has(member):
                continue
            data = z.read(member)
            text = html_text(decode(data)) if data else ""
            if text.strip():
                number += 1
                yield number, text


def _sheet_pages(src: Source, ext: str) -> Pages:
    """Spreadsheets (Excel old and new, OpenDocument): one page per sheet, cells by rows."""
    from python_calamine import CalamineWorkbook

    if ext != ".xls":  # the others are ZIP files: check them for bombs before calamine
        SafeZip(src, label(ext)).close()
    try:
        book = (
            CalamineWorkbook.from_filelike(io.BytesIO(src))
            if isinstance(src, bytes)
            else CalamineWorkbook.from_path(src)
        )
    except Exception as exc:  # calamine's own errors: damaged, encrypted
        message = str(exc) or type(exc).__name__
        if "password" in message.lower() or "encrypt" in message.lower():
            raise DecodeError("encrypted spreadsheet (a password is needed)") from exc
        raise DecodeError(f"damaged spreadsheet: {message}") from exc
    try:
        for number, name in enumerate(book.sheet_names, start=1):
            try:
                rows = book.get_sheet_by_name(name).to_python(skip_empty_area=True)
            except Exception:  # one bad sheet costs that sheet only
                yield number, name
                continue
            lines = [name]
            for row in rows:
                cells = [_cell(v) for v in row]
                line = "\t".join(c for c in cells if c)
                if line:
                    lines.append(line)
            yield number, tidy("\n".join(lines))
    finally:
        book.close()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text[:-9] if text.endswith("T00:00:00") else text
    return str(value)


def _fb2_pages(src: Source, ext: str) -> Pages:
    """FictionBook: the title, authors and annotation, then one page per top-level section."""
    data = _read(src, MAX_MEMBER_BYTES)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise DecodeError(f"damaged FictionBook (bad XML): {exc}") from exc
    del data
    head: list[str] = []
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "title-info":
            head = [" ".join(t.split()) for t in el.itertext() if t.strip()]
            break
    sections: list[str] = []
    for body in (el for el in root if _local(el.tag) == "body"):
        loose = []
        for child in body:
            if _local(child.tag) == "section":
                sections.append(_fb2_text(child))
            else:
                loose.append(_fb2_text(child))
        if any(loose):
            sections.insert(0, "\n".join(t for t in loose if t))
    pages = [p for p in sections if p]
    if head:
        pages = ["\n".join(head) + ("\n\n" + pages[0] if pages else ""), *pages[1:]]
    for number, text in enumerate(pages or [""], start=1):
        yield number, tidy(text)


def _fb2_text(el: ET.Element) -> str:
    lines: list[str] = []

    def walk(node: ET.Element) -> None:
        tag = _local(node.tag)
        if tag == "binary":
            return
        if tag in ("p", "v", "subtitle", "text-author"):
            lines.append("".join(node.itertext()))
            return
        for child in node:
            walk(child)

    walk(el)
    return "\n".join(lines)


# -- ZIP archives -----------------------------------------------------------------------------


def _zip_pages(src: Source, ext: str) -> Pages:
    """The documents inside a ZIP archive, one after the other: each member's pages, the first
    starting with the member's name (archives inside are not opened)."""
    from .documents import pdf_text  # PDFium, in this same worker process

    number = 0
    read = 0
    with SafeZip(src, "ZIP archive") as z:
        for info in z.zf.infolist():
            if info.is_dir():
                continue
            inner, compression = split_ext(info.filename)
            if compression or inner in ARCHIVES or not (inner in PDF or inner in _READERS):
                continue
            read += 1
            if read > MAX_ARCHIVE_MEMBERS:
                break
            try:
                data = z.read(info.filename)
                found = pdf_text(data) if inner in PDF else _READERS[inner](data, inner)
                for index, (_, text) in enumerate(found):
                    number += 1
                    yield number, f"{info.filename}\n{text}" if index == 0 else text
            except DecodeError:
                number += 1  # one bad member costs that member only
                yield number, info.filename


_PROPERTIES = {
    "title",
    "subject",
    "creator",
    "initial-creator",
    "keywords",
    "keyword",
    "description",
    "lastModifiedBy",
    "category",
    "contributor",
    "publisher",
}


def _properties(src: Source) -> str:
    """A ZIP-based document's title, authors, subject and keywords (docProps/core.xml for
    Office, meta.xml for OpenDocument, the package metadata for EPUB)."""
    try:
        with SafeZip(src) as z:
            part = next((p for p in ("docProps/core.xml", "meta.xml") if z.has(p)), None)
            if part is None and z.has("META-INF/container.xml"):
                container = z.xml("META-INF/container.xml")
                part = next(
                    (
                        e.attrib.get("full-path")
                        for e in container.iter()
                        if _local(e.tag) == "rootfile"
                    ),
                    None,
                )
                if part is not None and not z.has(part):
                    part = None
            if part is None:
                return ""
            root = z.xml(part)
    except DecodeError:
        return ""
    values: list[str] = []
    for el in root.iter():
        if _local(el.tag) in _PROPERTIES and el.text and el.text.strip():
            value = " ".join(el.text.split())
            if value not in values:
                values.append(value)
    return "\n".join(values)


def _with_properties(reader: Callable[[Source, str], Pages]) -> Callable[[Source, str], Pages]:
    """The reader's pages, the document's properties added to the first."""

    def read(src: Source, ext: str) -> Pages:
        found = reader(src, ext)
        first = next(found, None)
        if first is None:
            return
        props = _properties(src)
        number, text = first
        yield number, f"{text}\n\n{props}" if props and text else (text or props)
        yield from found

    return read


_READERS: dict[str, Callable[[Source, str], Pages]] = {
    **dict.fromkeys(TEXT, _text_pages),
    **dict.fromkeys(HTML, _html_pages),
    **dict.fromkeys(WORD, _with_properties(_docx_pages)),
    **dict.fromkeys(SLIDES, _with_properties(_pptx_pages)),
    **dict.fromkeys(OPENDOC, _with_properties(_opendoc_pages)),
    **dict.fromkeys(SHEETS - {".xls"}, _with_properties(_sheet_pages)),
    ".xls": _sheet_pages,
    **dict.fromkeys(TABLES, _csv_pages),
    **dict.fromkeys(ARCHIVES, _zip_pages),
    ".epub": _with_properties(_epub_pages),
    ".rtf": _rtf_pages,
    ".fb2": _fb2_pages,
    ".tex": _tex_pages,
    ".latex": _tex_pages,
    ".ltx": _tex_pages,
}


def extract(path: str) -> Pages:
    """The pages of a non-PDF document (or of a compressed one, PDF included)."""
    ext, compression = split_ext(path)
    src: Source = path
    if compression:
        if ext in ARCHIVES or ext in PACKED_BINARY:
            raise DecodeError("not a document format Lanterna reads (a compressed archive)")
        src = unpack(path, compression)
        if ext in PDF:
            from .documents import pdf_text

            return pdf_text(src)
    reader = _READERS.get(ext)
    if reader is None and compression and isinstance(src, bytes):
        if b"\0" in src[:65536]:
            raise DecodeError(f"not a document once unpacked (binary content in the {compression})")
        reader = _text_pages
    if reader is None:
        raise DecodeError(f"not a document format Lanterna reads ({ext or 'no extension'})")
    return reader(src, ext)
