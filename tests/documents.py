"""Real documents for tests, written byte by byte or with Pillow: PDF, DOCX, ODT, PPTX, EPUB."""

from __future__ import annotations

import zipfile
from pathlib import Path

from PIL import Image


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf(
    path: Path,
    pages: list[str],
    fill: list[tuple[float, float, float] | None] | None = None,
    *,
    notes: dict[int, list[str]] | None = None,
    fields: dict[int, list[tuple[str, str]]] | None = None,
    broken: set[int] | None = None,
    title: str | None = None,
) -> Path:
    """A text PDF (Helvetica, WinAnsi): one string per page, lines split on newlines.

    ``notes``: sticky-note annotations per page index; ``fields``: filled-in text form fields
    (name, value) per page index; ``broken``: indexes of pages whose page object is damaged
    (not a dictionary); ``title``: the document's Title in its info dictionary.
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # placeholders, filled below
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    all_fields = []
    for index, text in enumerate(pages):
        ops = []
        colour = fill[index] if fill else None
        if colour is not None:
            ops.append(b"%.3f %.3f %.3f rg 0 0 612 792 re f" % colour)
        ops.append(b"0 0 0 rg BT /F1 14 Tf 72 720 Td 18 TL")
        for line in text.split("\n"):
            ops.append(_pdf_string(line) + b" Tj T*")
        ops.append(b"ET")
        stream = b"\n".join(ops)
        content = add(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        page = add(b"")
        annots = []
        for i, note in enumerate((notes or {}).get(index, [])):
            annots.append(
                add(
                    b"<< /Type /Annot /Subtype /Text /Rect [%d 700 %d 720] /Contents %s >>"
                    % (400 + 30 * i, 420 + 30 * i, _pdf_string(note))
                )
            )
        for i, (name, value) in enumerate((fields or {}).get(index, [])):
            widget = add(
                b"<< /Type /Annot /Subtype /Widget /FT /Tx /T %s /V %s /Rect [72 %d 300 %d] "
                b"/P %d 0 R /DA (/Helv 12 Tf 0 g) >>"
                % (_pdf_string(name), _pdf_string(value), 100 + 40 * i, 130 + 40 * i, page)
            )
            annots.append(widget)
            all_fields.append(widget)
        annot_entry = b" /Annots [%s]" % b" ".join(b"%d 0 R" % a for a in annots) if annots else b""
        objects[page - 1] = (
            b"(not a page)"
            if broken and index in broken
            else b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >>%s >>"
            % (pages_obj, content, font, annot_entry)
        )
        kids.append(page)
    acroform = (
        b" /AcroForm << /Fields [%s] /DR << /Font << /Helv %d 0 R >> >> /DA (/Helv 12 Tf 0 g) >>"
        % (b" ".join(b"%d 0 R" % f for f in all_fields), font)
        if all_fields
        else b""
    )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (pages_obj, acroform)
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = add(b"<< /Title %s >>" % _pdf_string(title)) if title else None
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    info_entry = b" /Info %d 0 R" % info if info else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info_entry,
        xref,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def scanned_pdf(path: Path, colours: list[tuple[int, int, int]]) -> Path:
    """An image-only PDF, like a scan: one solid-coloured page per colour."""
    images = [Image.new("RGB", (300, 400), c) for c in colours]
    images[0].save(path, save_all=True, append_images=images[1:])
    return path


def _zip(path: Path, members: dict[str, str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def docx(path: Path, pages: list[list[str]]) -> Path:
    """Paragraphs per page, with explicit page breaks between pages."""
    body = []
    for index, paragraphs in enumerate(pages):
        if index:
            body.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')
        body += [f"<w:p><w:r><w:t>{_esc(p)}</w:t></w:r></w:p>" for p in paragraphs]
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>'
        f"{''.join(body)}</w:body></w:document>"
    )
    return _zip(
        path,
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
            "</Types>",
            "word/document.xml": document,
        },
    )


def odt(path: Path, paragraphs: list[str]) -> Path:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    paras = "".join(f"<text:p>{_esc(p)}</text:p>" for p in paragraphs)
    content = (
        f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:text>'
        f"{paras}</office:text></office:body></office:document-content>"
    )
    return _zip(
        path, {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content}
    )


def pptx(path: Path, slides: list[str]) -> Path:
    ns = (
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
    )
    members: dict[str, str | bytes] = {}
    for i, text in enumerate(slides, start=1):
        members[f"ppt/slides/slide{i}.xml"] = (
            f'<?xml version="1.0"?><p:sld {ns}><p:cSld><p:spTree><p:sp><p:txBody>'
            f"<a:p><a:r><a:t>{_esc(text)}</a:t></a:r></a:p>"
            "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
        )
    return _zip(path, members)


def epub(path: Path, chapters: list[str]) -> Path:
    items = "".join(
        f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
        for i in range(len(chapters))
    )
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
    members: dict[str, str | bytes] = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": '<?xml version="1.0"?><container version="1.0" '
        'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
        '<rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>",
        "OEBPS/book.opf": '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" '
        f'version="3.0"><manifest>{items}</manifest><spine>{spine}</spine></package>',
    }
    for i, text in enumerate(chapters):
        members[f"OEBPS/c{i}.xhtml"] = (
            '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
            f"<title>Chapter {i + 1}</title></head><body><p>{_esc(text)}</p></body></html>"
        )
    return _zip(path, members)


def rtf(path: Path, paragraphs: list[str]) -> Path:
    """RTF as word processors write it: 7-bit, other characters as \\uN escapes."""

    def esc(text: str) -> str:
        out = []
        for ch in text:
            if ch in "\\{}":
                out.append("\\" + ch)
            elif ord(ch) < 128:
                out.append(ch)
            else:
                code = ord(ch)
                out.append(f"\\u{code if code < 32768 else code - 65536}?")
        return "".join(out)

    body = "\\par\n".join(esc(p) for p in paragraphs)
    path.write_text(
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times New Roman;}}"
        "{\\info{\\title Ignored title}}{\\*\\generator Tests;}\\f0\\fs24 " + body + "\\par\n}",
        encoding="ascii",
    )
    return path


def _cell_xml(ref: str, value: str | float) -> str:
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{_esc(value)}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def xlsx(path: Path, sheets: dict[str, list[list[str | float]]]) -> Path:
    """A workbook with inline strings and numbers, one sheet per entry."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats'
        '.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
        'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
        'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        + "</Types>",
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats'
        f'.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook {ns} xmlns:r="{rel}"><sheets>'
        + "".join(
            f'<sheet name="{_esc(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(sheets, start=1)
        )
        + "</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas'
        '.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{rel}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(sheets) + 1)
        )
        + "</Relationships>",
    }
    for i, rows in enumerate(sheets.values(), start=1):
        xml_rows = "".join(
            f'<row r="{r}">'
            + "".join(_cell_xml(f"{chr(65 + c)}{r}", v) for c, v in enumerate(row))
            + "</row>"
            for r, row in enumerate(rows, start=1)
        )
        members[f"xl/worksheets/sheet{i}.xml"] = (
            f'<?xml version="1.0"?><worksheet {ns}><sheetData>{xml_rows}</sheetData></worksheet>'
        )
    return _zip(path, members)


def ods(path: Path, sheets: dict[str, list[list[str]]]) -> Path:
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"'
    )
    tables = "".join(
        f'<table:table table:name="{_esc(name)}">'
        + "".join(
            "<table:table-row>"
            + "".join(
                f'<table:table-cell office:value-type="string"><text:p>{_esc(v)}</text:p>'
                "</table:table-cell>"
                for v in row
            )
            + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for name, rows in sheets.items()
    )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns}><office:body>'
        f"<office:spreadsheet>{tables}</office:spreadsheet></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
        'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>'
    )
    return _zip(
        path,
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "META-INF/manifest.xml": manifest,
            "content.xml": content,
        },
    )


def fb2(path: Path, title: str, sections: list[str], encoding: str = "utf-8") -> Path:
    body = "".join(
        f"<section><title><p>Part {i + 1}</p></title><p>{_esc(s)}</p></section>"
        for i, s in enumerate(sections)
    )
    xml = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0" '
        'xmlns:l="http://www.w3.org/1999/xlink"><description><title-info>'
        f"<author><first-name>Ann</first-name><last-name>Writer</last-name></author>"
        f"<book-title>{_esc(title)}</book-title></title-info></description>"
        f'<body>{body}</body><binary id="cover.jpg" content-type="image/jpeg">'
        f"{'QUJD' * 50}</binary></FictionBook>"
    )
    path.write_bytes(xml.encode(encoding))
    return path


def docx_rich(path: Path, main: str = "word/document.xml", content_types: bool = True) -> Path:
    """A Word file as Word writes one: tabs and line breaks inside paragraphs, a comment and a
    footnote anchored on page 2, a tracked deletion, a title and an author, its main part at
    ``main`` (named by its relationships, and by its content types unless ``content_types`` is
    False)."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    folder, name = main.rsplit("/", 1)
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document {W} xmlns:r="{rel}"><w:body>'
        "<w:p><w:r><w:t>This is a subtitle</w:t><w:br/><w:t>A. M. Writer</w:t></w:r></w:p>"
        "<w:p><w:r><w:t>Name</w:t><w:tab/><w:t>Value</w:t></w:r>"
        "<w:del><w:r><w:delText>vanishedword</w:delText></w:r></w:del></w:p>"
        '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'
        '<w:p><w:r><w:t xml:space="preserve">Second page text </w:t></w:r>'
        '<w:r><w:commentReference w:id="0"/></w:r>'
        '<w:r><w:footnoteReference w:id="2"/></w:r></w:p>'
        "</w:body></w:document>"
    )
    comments = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:comments {W}><w:comment w:id="0" '
        'w:author="Reviewer"><w:p><w:r><w:t>Check the kumquat figures</w:t></w:r></w:p>'
        "</w:comment></w:comments>"
    )
    footnotes = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:footnotes {W}><w:footnote w:id="2"><w:p>'
        "<w:r><w:t>A footnote about lighthouses</w:t></w:r></w:p></w:footnote></w:footnotes>"
    )
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        f'2006/relationships"><Relationship Id="rId1" Type="{rel}/comments" '
        'Target="comments.xml"/><Relationship Id="rId2" Type="{rel}/footnotes" '
        'Target="footnotes.xml"/></Relationships>'
    ).replace("{rel}", rel)
    return _zip(
        path,
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.'
            'openxmlformats.org/package/2006/content-types"><Override PartName="/'
            f'{main if content_types else "word/other.xml"}" ContentType="application/vnd.'
            'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
            "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.'
            f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{rel}'
            f'/officeDocument" Target="{main}"/></Relationships>',
            main: document,
            f"{folder}/_rels/{name}.rels": rels,
            f"{folder}/comments.xml": comments,
            f"{folder}/footnotes.xml": footnotes,
            "docProps/core.xml": '<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://'
            'schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://'
            'purl.org/dc/elements/1.1/"><dc:title>Quarterly Review</dc:title><dc:creator>'
            "Margit Reindl</dc:creator><cp:lastModifiedBy>Margit Reindl</cp:lastModifiedBy>"
            "</cp:coreProperties>",
        },
    )


def pptx_breaks(path: Path) -> Path:
    """One slide whose paragraph holds a line break, with speaker notes."""
    ns = (
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"'
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    return _zip(
        path,
        {
            "ppt/slides/slide1.xml": f'<?xml version="1.0"?><p:sld {ns}><p:cSld><p:spTree>'
            "<p:sp><p:txBody><a:p><a:r><a:t>This is a subtitle</a:t></a:r><a:br/>"
            "<a:r><a:t>A. M.</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>",
            "ppt/slides/_rels/slide1.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http:'
            '//schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" '
            f'Type="{rel}/notesSlide" Target="../notesSlides/notesSlide7.xml"/></Relationships>',
            "ppt/notesSlides/notesSlide7.xml": f'<?xml version="1.0"?><p:notes {ns}><p:cSld>'
            "<p:spTree><p:sp><p:txBody><a:p><a:r><a:t>Speaker notes mention walruses</a:t>"
            "</a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>",
        },
    )


def odt_breaks(path: Path) -> Path:
    """OpenDocument text with a line break, a tab, repeated spaces and a comment."""
    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"'
    )
    content = (
        f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:text>'
        "<text:p>This is a subtitle<text:line-break/>A. M.</text:p>"
        '<text:p>Name<text:tab/>Value<text:s text:c="3"/>end'
        "<office:annotation><dc:creator>Reviewer</dc:creator><dc:date>2024-01-01</dc:date>"
        "<text:p>Remember the pelicans</text:p></office:annotation></text:p>"
        "<text:soft-page-break/><text:p>Second <text:span>page</text:span> here</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    return _zip(
        path, {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content}
    )
