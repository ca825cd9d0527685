"""Documents end to end: real files of each format, indexed with the toy model, found by
meaning (multilingual) and by exact keywords the toy cannot know."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.documents import pages
from engine.errors import DecodeError
from engine.library import Library
from engine.search import Query
from tests import documents as make
from tests.images import write

FILLER = "Quarterly notes.\nNothing of interest here, only words about the weather and the office."


@pytest.fixture
def docs(library: Library, tmp_path: Path) -> Library:
    folder = tmp_path / "docs"
    make.pdf(
        folder / "report.pdf",
        [FILLER, "Le ciel est bleu au-dessus de la mer.", "Invoice INV-2024-0042 paid in full."],
    )
    make.docx(
        folder / "letter.docx",
        [["Sehr geehrte Damen und Herren,", FILLER], ["Das Auto ist gelb und schnell."]],
    )
    make.pptx(folder / "slides.pptx", ["Agenda", FILLER, "Красная площадь в Москве"])
    make.epub(folder / "story.epub", [FILLER, "El bosque verde despierta."])
    (folder / "sunset.html").write_text(
        "<html><head><title>Holiday</title><style>p{color:red}</style></head>"
        "<body><p>Un tramonto arancione sul lago.</p></body></html>",
        encoding="utf-8",
    )
    (folder / "notes.md").write_text("# Pets\n\nLe chat noir dort sur le canapé.\n")
    make.odt(folder / "memo.odt", ["Memo", "Die Blumen sind lila."])
    make.pdf(folder / "Rechnung_Stadtwerke.pdf", [FILLER])
    library.add_folders([folder])
    report = library.index()
    assert report.run.errors == 0, library.store.errors()
    assert report.run.embedded == 8
    return library


CASES = [
    ("blue sea", "report.pdf", 2),
    ("yellow car", "letter.docx", 2),
    ("red square", "slides.pptx", 3),
    ("forêt verte", "story.epub", 2),
    ("orange sunset", "sunset.html", 1),
    ("gatto nero", "notes.md", 1),
    ("purple flowers", "memo.odt", 1),
]


@pytest.mark.parametrize(("text", "name", "page"), CASES)
def test_multilingual_query_finds_document_and_page(
    docs: Library, text: str, name: str, page: int
) -> None:
    top = docs.search(Query(text=text, kind="document", k=3))[0]
    assert (Path(top.path).name, top.item, top.kind) == (name, page, "document")


def test_exact_keyword_finds_the_page(docs: Library) -> None:
    top = docs.search(Query(text="INV-2024-0042", k=3))[0]
    assert (Path(top.path).name, top.item) == ("report.pdf", 3)
    assert top.snippet is not None and "[INV-2024-0042]" in top.snippet
    by_name = docs.search(Query(text="stadtwerke", k=3))[0]
    assert Path(by_name.path).name == "Rechnung_Stadtwerke.pdf"
    # typing: the last word is a prefix
    typing = Query(text="Rechnung_Stadt", k=1, live=True)
    assert Path(docs.search(typing)[0].path).name.startswith("Rechnung")
    assert docs.search(Query(text="Rechnung_Stadt", k=1)) == []  # no prefix once typed


def test_documents_and_photos_side_by_side(docs: Library, tmp_path: Path) -> None:
    write(tmp_path / "docs" / "photo.jpg", "red")
    docs.index()
    only_docs = docs.search(Query(text="rot", kind="document"))
    assert all(r.kind == "document" for r in only_docs)
    only_images = docs.search(Query(text="rot", kind="image"))
    assert [Path(r.path).name for r in only_images] == ["photo.jpg"]


def test_scanned_pdf_found_by_its_page_render(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    make.scanned_pdf(folder / "scan.pdf", [(250, 250, 250), (30, 30, 220), (250, 250, 250)])
    library.add_folders([folder])
    library.index()
    top = library.search(Query(text="azul", k=1))[0]
    assert (Path(top.path).name, top.item, top.type) == ("scan.pdf", 2, "image")


def test_cli_reports_document_pages(docs: Library, tmp_path: Path, toy_model: Path) -> None:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(docs.data_dir),
        "LANTERNA_MODEL_DIR": str(toy_model),
    }
    docs.close()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine",
            "search",
            "gelbes Auto",
            "--kind",
            "document",
            "--json",
            "-k",
            "2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    hits = json.loads(out)
    assert hits[0]["path"].endswith("letter.docx") and hits[0]["item"] == 2
    assert hits[0]["kind"] == "document"


def test_broken_documents_are_errors(library: Library, tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    folder = tmp_path / "bad"
    plain = make.pdf(tmp_path / "plain.pdf", ["secret"])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    folder.mkdir()
    with open(folder / "locked.pdf", "wb") as fh:
        writer.write(fh)
    (folder / "garbage.pdf").write_bytes(os.urandom(2000))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    with zipfile.ZipFile(folder / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * (260 * 1024 * 1024))
    make.pdf(folder / "fine.pdf", ["all good"])
    library.add_folders([folder])
    report = library.index()
    assert report.run.embedded == 1
    errors = {Path(r.path).name: r.error or "" for r in library.store.errors()}
    assert set(errors) == {"locked.pdf", "garbage.pdf", "empty.txt", "broken.docx", "bomb.docx"}
    assert "password" in errors["locked.pdf"]
    assert "bomb" in errors["bomb.docx"] or "large" in errors["bomb.docx"]


def test_pages_stream_in_order_with_renders(tmp_path: Path) -> None:
    path = make.pdf(tmp_path / "long.pdf", [f"page number {i}" for i in range(1, 21)])
    seen = list(pages(str(path), 256))
    assert [p.number for p in seen] == list(range(1, 21))
    assert seen[4].text == "page number 5"
    assert seen[0].image is not None and max(seen[0].image.size) == 256
    with pytest.raises(DecodeError):
        list(pages(str(tmp_path / "long.xyz"), 256))


def test_text_is_chunked_with_overlap(library: Library) -> None:
    words = " ".join(f"w{i}" for i in range(2000))
    chunks = library.embedder.chunk_text(words, size=100, overlap=20)
    assert len(chunks) > 5
    assert chunks[0].split()[-1] in chunks[1]  # overlap carries context across the cut
    assert "w1999" in chunks[-1]


def test_long_pdf_can_be_cancelled_and_resumed(library: Library, tmp_path: Path) -> None:
    import threading
    import time

    folder = tmp_path / "long"
    make.pdf(folder / "book.pdf", [f"Chapter {i}: the sea is blue" for i in range(300)])
    library.add_folders([folder])
    cancel = threading.Event()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(library.index(cancel=cancel)))
    thread.start()
    deadline = time.monotonic() + 60
    while library.embedder.stats.images < 16 and time.monotonic() < deadline:
        time.sleep(0.02)
    cancel.set()
    thread.join(60)
    assert result and result[0].run.cancelled  # type: ignore[attr-defined]
    assert library.store.counts()["pending"] == 1
    counts = library.store.counts()
    assert counts["vectors"] == 0  # nothing half-written
    assert counts["items"] == 300  # only the words of each page, written ahead (engine.words)
    report = library.index()
    assert report.run.embedded == 1
    counts = library.store.counts()
    assert counts["items"] == counts["vectors"] >= 600  # a render and a passage per page


def test_a_pdf_that_takes_too_long_is_an_error(
    library: Library, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.documents as documents

    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 0.0)
    folder = tmp_path / "slow"
    make.pdf(folder / "slow.pdf", ["x" * 200] * 50)
    library.add_folders([folder])
    library.index()
    assert "gave up" in (library.store.errors()[0].error or "")
    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 60.0)
    library.retry_errors()
    assert library.index().run.embedded == 1  # the worker came back after being killed


def test_render_page_for_previews(tmp_path: Path) -> None:
    from engine.documents import render_page

    path = make.pdf(tmp_path / "r.pdf", ["one", "two"], fill=[None, (0.1, 0.1, 0.9)])
    img = render_page(str(path), 2, 200)
    assert max(img.size) == 200
    r, _g, b = img.getpixel((img.width // 2, img.height - 5))
    assert b > 150 and r < 80  # the blue page, not the first one
    with pytest.raises(DecodeError, match="no page 3"):
        render_page(str(path), 3, 200)
    with pytest.raises(DecodeError):
        render_page(str(tmp_path / "notes.md"), 1, 200)


def test_file_info_and_wake(docs: Library, tmp_path: Path) -> None:
    info = docs.file_info(str(tmp_path / "docs" / "report.pdf"))
    assert info is not None and info.kind == "document" and info.status == "indexed"
    assert docs.file_info(str(tmp_path / "nope.pdf")) is None
    docs.wake()
    assert not docs.idle()  # a watch loop would now embed what is pending
