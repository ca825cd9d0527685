"""Every format Lanterna reads, on files written at test time, through the document worker;
damaged and hostile files; and the whole path from a watched folder to keyword and name hits."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import pytest

from engine import fts
from engine.documents import clean_pdf_text, is_document, pages
from engine.errors import DecodeError
from engine.library import Library
from tests import documents as make


def texts(path: Path) -> list[str]:
    return [p.text for p in pages(str(path), 64)]


def _csv(path: Path) -> Path:
    path.write_text("name;city;note\nAnn;Zürich;likes herons\nBob;東京;端子台\n", encoding="utf-8")
    return path


def _tex(path: Path) -> Path:
    path.write_text(
        "\\documentclass{article}\\begin{document}\\section{Intro}"
        "Caf\\'e au lait, \\textbf{bold claims} % a comment with secretword\n"
        "see \\href{http://example.org}{the example} and \\cite{knuth}.\\end{document}",
        encoding="utf-8",
    )
    return path


def _packed(path: Path, opener: object, text: str) -> Path:
    path.write_bytes(opener(text.encode("utf-8")))  # type: ignore[operator]
    return path


def _gzipped_pdf(path: Path, tmp: Path) -> Path:
    path.write_bytes(gzip.compress(make.pdf(tmp / "r.pdf", ["compressed pdf text"]).read_bytes()))
    return path


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _zip_of(path: Path, tmp: Path) -> Path:
    make.docx(tmp / "inner.docx", [["docx inside the archive"]])
    make.pdf(tmp / "inner.pdf", ["pdf inside the archive"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("readme.txt", "plain text inside the archive")
        zf.write(tmp / "inner.docx", "sub/inner.docx")
        zf.write(tmp / "inner.pdf", "inner.pdf")
        zf.writestr("program.exe", b"MZ\0\0")
        zf.writestr("broken.docx", b"PK\3\4 damaged")
    return path


FORMATS = {
    "letter.rtf": (
        lambda p, t: make.rtf(p, ["Dear committee, café au lait", "日本語の端子台 and Ελληνικά"]),
        ["Dear committee, café au lait\n日本語の端子台 and Ελληνικά"],
    ),
    "fragment.rtf": (  # no header, several groups: as pandoc's RTF writer leaves it
        lambda p, t: _written(p, b"{\\pard Alpha\\par}\n{\\pard Beta words\\par}\n"),
        ["Alpha\nBeta words"],
    ),
    "picture.rtf": (  # \\bin without its length
        lambda p, t: _written(p, b"{\\rtf1{\\pict\\pngblip\\bin 89504e47}Caption text\\par}"),
        ["Caption text"],
    ),
    "budget.xlsx": (
        lambda p, t: make.xlsx(
            p,
            {"Budget": [["Item", "Cost"], ["Tarpaulin", 12.5], ["Rope", 3]], "Zwei": [["Häuser"]]},
        ),
        ["Budget\nItem Cost\nTarpaulin 12.5\nRope 3", "Zwei\nHäuser"],
    ),
    "sheets.ods": (
        lambda p, t: make.ods(p, {"Plan": [["alpha", "beta"]], "Zweites Blatt": [["gamma"]]}),
        ["Plan\nalpha beta", "Zweites Blatt\ngamma"],
    ),
    "people.csv": (
        lambda p, t: _csv(p),
        ["name city note\nAnn Zürich likes herons\nBob 東京 端子台"],
    ),
    "book.fb2": (
        lambda p, t: make.fb2(p, "Книга о море", ["Море было синим.", "Конец."], "windows-1251"),
        ["Ann\nWriter\nКнига о море\n\nPart 1\nМоре было синим.", "Part 2\nКонец."],
    ),
    "paper.tex": (lambda p, t: _tex(p), None),
    "todo.org": (
        lambda p, t: _written(p, b"* TODO Call the plumber :home:\n  About the boiler.\n"),
        ["* TODO Call the plumber :home:\nAbout the boiler."],
    ),
    "notes.txt.gz": (
        lambda p, t: _packed(p, gzip.compress, "gzip holds notes"),
        ["gzip holds notes"],
    ),
    "changelog.Debian.gz": (
        lambda p, t: _packed(p, gzip.compress, "lanterna (1.0-1) unstable; urgency=low"),
        ["lanterna (1.0-1) unstable; urgency=low"],
    ),
    "notes.md.bz2": (lambda p, t: _packed(p, bz2.compress, "# bz2 notes"), ["# bz2 notes"]),
    "page.html.xz": (lambda p, t: _packed(p, lzma.compress, "<p>xz page</p>"), ["xz page"]),
    "archive.zip": (
        lambda p, t: _zip_of(p, t),
        [
            "readme.txt\nplain text inside the archive",
            "sub/inner.docx\ndocx inside the archive",
            "inner.pdf\npdf inside the archive",
            "broken.docx",  # a damaged member costs that member only
        ],
    ),
    "review.docx": (
        lambda p, t: make.docx_rich(p),
        [
            "This is a subtitle\nA. M. Writer\nName Value\n\nQuarterly Review\nMargit Reindl",
            "Second page text (Check the kumquat figures) (A footnote about lighthouses)",
        ],
    ),
    "moved-main.docx": (
        lambda p, t: make.docx_rich(p, main="word/document2.xml"),
        [
            "This is a subtitle\nA. M. Writer\nName Value\n\nQuarterly Review\nMargit Reindl",
            "Second page text (Check the kumquat figures) (A footnote about lighthouses)",
        ],
    ),
    "rels-only.docx": (
        lambda p, t: make.docx_rich(p, main="doc/main.xml", content_types=False),
        [
            "This is a subtitle\nA. M. Writer\nName Value\n\nQuarterly Review\nMargit Reindl",
            "Second page text (Check the kumquat figures) (A footnote about lighthouses)",
        ],
    ),
    "talk.pptm": (
        lambda p, t: make.pptx_breaks(p),
        ["This is a subtitle\nA. M.\nSpeaker notes mention walruses"],
    ),
    "memo.odt": (
        lambda p, t: make.odt_breaks(p),
        ["This is a subtitle\nA. M.\nName Value end\nRemember the pelicans", "Second page here"],
    ),
    "shift-jis.txt": (
        lambda p, t: _written(p, "シフトJISの文書です。端子台の説明。".encode("shift_jis")),
        ["シフトJISの文書です。端子台の説明。"],
    ),
    "report.pdf.gz": (lambda p, t: _gzipped_pdf(p, t), ["compressed pdf text"]),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_reads_page_by_page(name: str, tmp_path: Path) -> None:
    write, expected = FORMATS[name]
    path = write(tmp_path / name, tmp_path)
    assert is_document(str(path))
    got = texts(path)
    if expected is None:  # TeX: macros gone, text and accents kept
        assert len(got) == 1
        text = got[0]
        assert "Café au lait" in text and "bold claims" in text and "the example" in text
        assert "\\" not in text and "secretword" not in text and "knuth" not in text
    else:
        assert got == expected


def test_rtf_without_striprtf() -> None:
    from engine.formats import _strip_rtf

    rtf = (
        "{\\rtf1\\ansi{\\fonttbl{\\f0 Times;}}{\\*\\generator X;}{\\pict\\bin0 ffd8}"
        "\\f0 Caf\\'e9 \\u945? and \\b bold\\b0\\par next}"
    )
    assert _strip_rtf(rtf).split() == ["Café", "α", "and", "bold", "next"]


def test_pdf_text_is_cleaned(tmp_path: Path) -> None:
    path = make.pdf(
        tmp_path / "h.pdf",
        ["A word hyphen-\nated across lines, Prop-\nerty of Jean-\nPaul.\nTabs\tand\nbreaks"],
    )
    assert texts(path) == [
        "A word hyphenated across lines, Property of Jean-Paul.\nTabs and\nbreaks"
    ]
    assert clean_pdf_text("Prop\ufffeerty, co\u00ad\r\noperation, A\ufffe4, end-\nless") == (
        "Property, cooperation, A-4, endless"
    )


def test_pdf_annotations_form_fields_and_title(tmp_path: Path) -> None:
    path = make.pdf(
        tmp_path / "form.pdf",
        ["Application form", "Second page"],
        notes={0: ["Reviewer asked about zebras"]},
        fields={1: [("surname", "Quokka-Smith"), ("town", "Wagga Wagga")]},
        title="Grant application 2024",
    )
    first, second = texts(path)
    assert "Reviewer asked about zebras" in first and "Grant application 2024" in first
    assert "Quokka-Smith" in second and "Wagga Wagga" in second


def test_a_bad_pdf_page_costs_that_page_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = make.pdf(tmp_path / "bad-page.pdf", ["good one", "lost", "good three"], broken={1})
    got = list(pages(str(path), 64))
    assert [(p.number, p.text) for p in got] == [(1, "good one"), (2, ""), (3, "good three")]
    assert got[0].image is not None and got[2].image is not None and got[1].image is None
    assert got[1].problem is not None and "page" in got[1].problem
    assert "page 2" in caplog.text


def test_pdfium_errors_belong_to_their_own_file(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(make.pdf(tmp_path / "plain.pdf", ["secret"])))
    writer.encrypt(user_password="pw", algorithm="RC4-128")
    with open(tmp_path / "locked.pdf", "wb") as fh:
        writer.write(fh)
    make.pdf(tmp_path / "no-pages.pdf", [])
    (tmp_path / "garbage.pdf").write_bytes(b"%PDF-1.4\n" + b"\x13" * 3000)

    def error(name: str) -> str:
        with pytest.raises(DecodeError) as info:
            texts(tmp_path / name)
        return info.value.detail

    alone = error("no-pages.pdf")
    assert "password" in error("locked.pdf")
    assert error("no-pages.pdf") == alone  # not "encrypted" after a locked file
    assert "password" not in alone and "no page" in alone
    assert "Success" not in error("garbage.pdf")
    assert texts(tmp_path / "plain.pdf") == ["secret"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bomb.txt.gz", gzip.compress(b"a" * (201 * 2**20)), "bomb"),
        ("broken.txt.gz", b"\x1f\x8b not gzip at all", "damaged .gz"),
        ("data.gz", gzip.compress(b"\0\1\2 binary" * 100), "binary content"),
        ("broken.xlsx", b"PK\x03\x04 not a zip", "damaged spreadsheet"),
        ("broken.rtf", b"plain words, no RTF", "damaged RTF"),
        ("broken.fb2", b"<FictionBook><body>", "damaged FictionBook"),
        ("empty.csv", b"", "empty"),
        ("deep.docx", None, "damaged DOCX"),
    ],
)
def test_damaged_and_hostile_files_say_what_happened(
    name: str, data: bytes | None, message: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    if data is None:  # XML nested beyond any parser's recursion
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("word/document.xml", "<w:p xmlns:w='x'>" * 200_000)
    else:
        path.write_bytes(data)
    with pytest.raises(DecodeError, match=message):
        texts(path)


def test_other_formats_are_under_the_worker_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import engine.documents as documents

    path = make.rtf(tmp_path / "slow.rtf", ["words " * 1000])
    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 0.0)
    with pytest.raises(DecodeError, match="gave up"):
        texts(path)
    monkeypatch.setattr(documents, "PDF_TIMEOUT_S", 60.0)
    assert texts(path)[0].startswith("words words")  # a new worker took over


def test_watched_folder_every_format_and_every_name(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("letter.rtf", "budget.xlsx", "people.csv", "book.fb2", "notes.txt.gz", "memo.odt"):
        FORMATS[name][0](folder / name, tmp_path)
    make.pdf(folder / "hyphen.pdf", ["The committee discussed the extra-\nordinary tarpau-\nlins."])
    (folder / "broken.docx").write_bytes(b"PK\x03\x04 damaged")
    (folder / "holiday-video.mkv").write_bytes(b"\x1aE\xdf\xa3 not really a video")
    (folder / "図面.dwg").write_bytes(b"AC1032")
    library.add_folders([folder])
    report = library.index()
    errors = {Path(r.path).name: r.error for r in library.store.errors()}
    assert set(errors) == {"broken.docx"}
    assert "damaged DOCX" in (errors["broken.docx"] or "")
    assert report.run.embedded == 7

    def by_text(word: str) -> list[str]:
        match = fts.term(word)
        assert match is not None
        return [Path(h.path).name for h in library.store.keyword(match, 10, names=False)]

    def by_name(word: str) -> list[str]:
        match = fts.term(word)
        assert match is not None
        return [Path(h.path).name for h in library.store.keyword(match, 10, names=True)]

    assert set(by_text("committee")) == {"letter.rtf", "hyphen.pdf"}
    assert by_text("extraordinary") == ["hyphen.pdf"]  # joined across the line end
    assert set(by_text("tarpaulin")) == {"hyphen.pdf", "budget.xlsx"}  # the plural by its stem
    assert set(by_text("端子台")) == {"people.csv", "letter.rtf"}
    assert by_text("синим") == ["book.fb2"]
    assert by_text("gzip") == ["notes.txt.gz"]
    assert by_text("pelicans") == ["memo.odt"]
    # files whose content cannot be read are found by their names
    assert by_name("broken") == ["broken.docx"]
    assert by_name("video") == ["holiday-video.mkv"]
    assert by_name("図面") == ["図面.dwg"]
    assert library.file_info(str(folder / "holiday-video.mkv")).kind == "other"  # type: ignore[union-attr]
    recent = {Path(r.path).name for r in library.store.recent(50)}
    assert "letter.rtf" in recent and "holiday-video.mkv" not in recent  # not in the library view


def test_the_index_itself_is_never_indexed(tmp_path: Path, toy_model: Path) -> None:
    folder = tmp_path / "home"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    with Library(folder / "lanterna-data", toy_model, device="cpu") as lib:
        lib.add_folders([folder])
        lib.index()
        names = {Path(p).name for p in lib.store.files_in_folder(1)}
        assert names == {"notes.txt"}  # not index.db, its WAL, lock or model checksums


def test_which_names_are_documents() -> None:
    assert is_document("ls.1.gz") and is_document("README.gz") and is_document("a.PDF.xz")
    assert not is_document("backup.tar.gz") and not is_document("backup.tgz")
    assert not is_document("disk.img.xz") and not is_document("movie.mkv")
    assert not is_document("archive.zip.gz")
