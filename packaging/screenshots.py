"""Screenshots of the real window: first run, indexing, a text query, an image query, dark,
settings, a document page.

Builds the toy model, a folder of generated photos and one of generated documents (a PDF invoice
and report, a DOCX letter, a Markdown note) in a temporary folder, starts the real window over the
real engine and saves PNGs into the folder given on the command line. Run it under a display,
e.g.::

    xvfb-run -a -s "-screen 0 1400x900x24" env QT_QPA_PLATFORM=xcb \\
        .venv/bin/python packaging/screenshots.py screenshots/

With ``QT_QPA_PLATFORM=offscreen`` it still works, but grabs the widgets rather than the screen
(no tooltips, no popups).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAMERA_ROLL = 240
SCENES = {
    "red": ["poppies", "tomatoes", "red-door", "strawberries", "fire-engine", "autumn-maple"],
    "blue": ["lake", "blue-sky", "ocean", "jeans", "bluebells", "swimming-pool"],
    "green": ["forest", "meadow", "ferns", "lime-tree", "garden"],
    "yellow": ["sunflowers", "lemons", "taxi", "daffodils", "rapeseed-field"],
    "orange": ["sunset", "oranges", "pumpkins", "fox"],
    "purple": ["lavender", "plums", "grapes", "violets"],
    "white": ["snow", "paper", "clouds"],
    "black": ["night-sky", "piano", "cat-at-night"],
}


def make_photo(path: Path, colour: str, seed: int, size: tuple[int, int] = (960, 640)) -> None:
    """A photo-like picture in one colour family: a sky gradient, a horizon, a sun, shapes."""
    from PIL import Image, ImageDraw, ImageFilter

    from onnx_models.toy import COLOURS

    rng = random.Random(seed)
    base = COLOURS[colour]
    w, h = size

    def shade(k: float) -> tuple[int, int, int]:
        r, g, b = (max(0, min(255, int(c * k + 255 * (1 - k) * 0.15))) for c in base)
        return r, g, b

    img = Image.new("RGB", size, shade(1.0))
    draw = ImageDraw.Draw(img)
    top, bottom = rng.uniform(0.55, 0.8), rng.uniform(1.0, 1.15)
    for y in range(h):
        t = y / h
        draw.line([(0, y), (w, y)], fill=shade(top + (bottom - top) * t))
    if rng.random() < 0.7:
        r = rng.randint(50, 110)
        cx, cy = rng.randint(r, w - r), rng.randint(r, h // 2)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=shade(1.25))
    horizon = rng.randint(h // 2, int(h * 0.75))
    points = [(0, h)]
    phase, amp = rng.uniform(0, math.tau), rng.randint(20, 70)
    for x in range(0, w + 40, 40):
        points.append((x, horizon + int(amp * math.sin(phase + x / rng.uniform(90, 200)))))
    points.append((w, h))
    draw.polygon(points, fill=shade(0.55))
    for _ in range(rng.randint(6, 18)):
        x, y = rng.randint(0, w), rng.randint(horizon, h)
        s = rng.randint(8, 40)
        draw.ellipse([x - s, y - s, x + s, y + s], fill=shade(rng.uniform(0.7, 1.2)))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=88)


def make_library(folder: Path) -> dict[str, list[Path]]:
    made: dict[str, list[Path]] = {}
    seed = 0
    for colour, names in SCENES.items():
        for name in names:
            seed += 1
            path = folder / f"{name}.jpg"
            make_photo(path, colour, seed)
            made.setdefault(colour, []).append(path)
            # File times spread over the last months, so "recent" has an order.
            stamp = time.time() - seed * 86400 * 3
            os.utime(path, (stamp, stamp))
    # A camera roll of smaller, older pictures, so that indexing takes long enough to be seen.
    colours = list(SCENES)
    for i in range(CAMERA_ROLL):
        colour = colours[i % len(colours)]
        path = folder / "Camera roll" / f"IMG_{4100 + i}.jpg"
        make_photo(path, colour, 1000 + i, size=(480, 320))
        stamp = time.time() - (400 + i) * 86400
        os.utime(path, (stamp, stamp))
        made.setdefault(colour, []).append(path)
    return made


INVOICE = [
    ("Tulip bulbs ‘Orange Emperor’, bag of 50", 2, 18.50),
    ("Japanese maple ‘Osakazuki’, 1.2 m", 1, 64.00),
    ("Paper lanterns, orange, set of 12", 3, 14.90),
    ("Peat-free compost, 40 L", 4, 7.25),
    ("Delivery to Porto", 1, 12.00),
]
AUTUMN_SALES = [("Red", 42, "#c0392b"), ("Orange", 58, "#e67e22"), ("Yellow", 31, "#f1c40f")]
AUTUMN_SALES += [("Purple", 12, "#8e44ad"), ("Green", 20, "#27ae60")]


def make_report_pdf(path: Path) -> None:
    """Three A4 pages with real text: an invoice, an autumn report full of colour (page 2), terms.
    Drawn with QPdfWriter (needs a QGuiApplication)."""
    from PySide6.QtCore import QMarginsF, QRectF, Qt
    from PySide6.QtGui import QColor, QFont, QPageSize, QPainter, QPdfWriter

    writer = QPdfWriter(str(path))
    writer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    writer.setResolution(144)
    writer.setTitle("Invoice INV-2024-0042 and autumn report")
    w, h = writer.width(), writer.height()
    margin = 110.0
    text_w = w - 2 * margin
    p = QPainter(writer)

    def font(size: float, bold: bool = False) -> QFont:
        f = QFont("DejaVu Sans")
        f.setPointSizeF(size)
        f.setBold(bold)
        return f

    def text(
        y: float, words: str, size: float = 11, bold: bool = False, colour: str = "#222"
    ) -> float:
        p.setFont(font(size, bold))
        p.setPen(QColor(colour))
        rect = QRectF(margin, y, text_w, h)
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
        used = p.boundingRect(rect, flags, words)
        p.drawText(rect, flags, words)
        return y + used.height()

    def header(title: str) -> float:
        p.fillRect(QRectF(0, 0, w, 120), QColor("#2f5d3a"))
        p.setFont(font(20, True))
        p.setPen(QColor("white"))
        p.drawText(QRectF(margin, 0, text_w, 120), int(Qt.AlignmentFlag.AlignVCenter), title)
        return 180.0

    def footer(n: int) -> None:
        p.setFont(font(9))
        p.setPen(QColor("#888"))
        p.drawText(
            QRectF(margin, h - 90, text_w, 40), int(Qt.AlignmentFlag.AlignRight), f"Page {n} of 3"
        )

    # Page 1: the invoice.
    y = header("Lantern Garden Centre")
    y = text(y, "Invoice INV-2024-0042", 22, True) + 10
    y = text(y, "Date: 14 October 2024    Due: 13 November 2024", 11, colour="#555")
    y = text(y, "Bill to: Ana Ribeiro, 12 Rua das Flores, 4050-262 Porto", 11, colour="#555") + 40
    cols = (0.0, 0.62, 0.74, 0.87)
    p.fillRect(QRectF(margin, y - 8, text_w, 46), QColor("#e8efe9"))
    for x, label in zip(cols, ("Item", "Qty", "Price", "Amount"), strict=True):
        p.setFont(font(10, True))
        p.setPen(QColor("#2f5d3a"))
        p.drawText(QRectF(margin + x * text_w, y, text_w * 0.6, 40), 0, label)
    y += 56
    total = 0.0
    for item, qty, price in INVOICE:
        amount = qty * price
        total += amount
        p.setFont(font(10))
        p.setPen(QColor("#222"))
        for x, value in zip(cols, (item, str(qty), f"€{price:.2f}", f"€{amount:.2f}"), strict=True):
            p.drawText(QRectF(margin + x * text_w, y, text_w * 0.6, 40), 0, value)
        y += 44
        p.fillRect(QRectF(margin, y - 10, text_w, 1.5), QColor("#ddd"))
    y += 20
    p.setFont(font(13, True))
    p.drawText(
        QRectF(margin, y, text_w, 50), int(Qt.AlignmentFlag.AlignRight), f"Total €{total:.2f}"
    )
    text(y + 90, "Thank you for shopping with us. Payment terms are on page 3.", 10, colour="#555")
    footer(1)

    # Page 2: the report, all colour.
    writer.newPage()
    y = header("Autumn report 2024")
    y = text(y, "Colour in the garden this autumn", 18, True) + 16
    story = (
        "In autumn the whole garden turns orange, red and gold. The Japanese maples by the "
        "pond glow a deep red, the beech hedge turns copper, and the pumpkins in the kitchen "
        "garden are a bright orange. Customers asked above all for plants with autumn colour: "
        "orange tulips for next spring, red-leaved maples and golden grasses."
    )
    y = text(y, story, 11.5) + 40
    y = text(y, "Plants sold this autumn, by colour", 12, True) + 20
    top = max(n for _label, n, _colour in AUTUMN_SALES)
    for label, n, colour in AUTUMN_SALES:
        p.setFont(font(10))
        p.setPen(QColor("#333"))
        p.drawText(QRectF(margin, y, 160, 50), int(Qt.AlignmentFlag.AlignVCenter), label)
        bar = (text_w - 260) * n / top
        p.fillRect(QRectF(margin + 170, y + 6, bar, 38), QColor(colour))
        p.drawText(
            QRectF(margin + 180 + bar, y, 80, 50), int(Qt.AlignmentFlag.AlignVCenter), str(n)
        )
        y += 62
    y += 30
    swatch = text_w / len(AUTUMN_SALES)
    for i, (_label, _n, colour) in enumerate(AUTUMN_SALES):
        p.fillRect(QRectF(margin + i * swatch, y, swatch - 12, 150), QColor(colour))
    text(
        y + 190,
        "Next year: more orange lanterns along the paths, and a display of red and yellow "
        "chrysanthemums at the entrance.",
        11.5,
    )
    footer(2)

    # Page 3: terms.
    writer.newPage()
    y = header("Terms and payment")
    for para in (
        "Payment is due within 30 days of the invoice date by bank transfer.",
        "IBAN PT50 0002 0123 1234 5678 9015 4, reference INV-2024-0042.",
        "Plants are guaranteed for one season when planted as advised. Returns are accepted "
        "within 14 days with the receipt.",
    ):
        y = text(y, para, 11, colour="#444") + 24
    footer(3)
    p.end()


def make_documents(folder: Path) -> list[Path]:
    """The Documents folder: the PDF, a DOCX letter and a Markdown note."""
    from tests.documents import docx

    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "Garden centre - invoice and autumn report.pdf"
    make_report_pdf(report)
    letter = docx(
        folder / "Letter to Ana.docx",
        [
            [
                "Dear Ana,",
                "Thank you for the lovely autumn afternoon in your garden. The maples were "
                "turning red and the paper lanterns looked wonderful in the dusk.",
                "I have ordered the tulip bulbs we talked about; they should arrive next week.",
                "With love, Marta",
            ]
        ],
    )
    note = folder / "Planting notes.md"
    note.write_text(
        "# Planting notes\n\n"
        "- Autumn: plant the red and orange tulip bulbs 15 cm deep, in groups of seven.\n"
        "- Mulch the maple before the first frost.\n"
        "- Order more compost (peat-free).\n",
        encoding="utf-8",
    )
    for i, path in enumerate((report, letter, note)):
        stamp = time.time() - (2 + i) * 86400
        os.utime(path, (stamp, stamp))
    return [report, letter, note]


def wait_until(cond: Callable[[], bool], timeout: float = 30.0, settle: float = 0.0) -> None:
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QApplication.processEvents()
        if cond():
            break
        time.sleep(0.01)
    else:
        raise TimeoutError("the window did not get there in time")
    end = time.monotonic() + settle
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)


def shoot(window: object, path: Path) -> None:
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(window, QWidget)
    QApplication.processEvents()
    if QGuiApplication.platformName() == "xcb":
        geo = window.frameGeometry()
        pixmap = window.screen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
    else:
        pixmap = window.grab()
    pixmap.save(str(path), "PNG")
    print(f"wrote {path} ({pixmap.width()}×{pixmap.height()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNGs")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="lanterna-shots-"))
    os.environ["LANTERNA_DATA_DIR"] = str(work / "data")
    os.environ.setdefault("XDG_CONFIG_HOME", str(work / "config"))

    from onnx_models.toy import build_toy_model

    model = build_toy_model(work / "model")
    photos = work / "Pictures"
    library = make_library(photos)
    documents = work / "Documents"

    from PySide6.QtCore import QPoint, QSettings
    from PySide6.QtWidgets import QApplication, QToolTip

    import app.qt  # noqa: F401  (before any signal: see app/qt.py)

    qapp = QApplication([sys.argv[0]])
    qapp.setApplicationName("Lanterna")
    papers = make_documents(documents)

    from app.bridge import Bridge
    from app.icon import app_icon
    from app.theme import DARK, LIGHT, ThemeFollower
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow

    theme = ThemeFollower(qapp, LIGHT)
    qapp.setWindowIcon(app_icon())
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)

    # 0. First run on a machine without the model: what to do instead of a crash.
    bare = Bridge(work / "bare-data", work / "no-model", device="cpu")
    first = MainWindow(
        bare,
        ThumbnailCache(None),
        settings=QSettings(str(work / "bare.ini"), QSettings.Format.IniFormat),
        theme=theme,
        suggested_folders=[str(photos), str(documents)],
    )
    first.resize(args.width, args.height)
    first.move(0, 0)
    first.show()
    bare.start()
    wait_until(lambda: bool(first._status and first._status.get("model_checked")), settle=0.3)
    shoot(first, args.out / "00-first-run-no-model.png")
    first.close()
    bridge = Bridge(work / "data", model, device="cpu", quiet=0.3)
    thumbs = ThumbnailCache(work / "data" / "cache" / "thumbnails")
    window = MainWindow(
        bridge,
        thumbs,
        settings=settings,
        theme=theme,
        suggested_folders=[str(photos), str(documents)],
    )
    window.resize(args.width, args.height)
    window.move(0, 0)
    window.show()
    bridge.start()

    def thumbnails_done() -> bool:
        return not thumbs._waiting and not thumbs._running

    def results_ready() -> bool:
        return not window._searching and not window._debounce.isActive() and thumbnails_done()

    # 1. First run: folders suggested, the model found.
    wait_until(lambda: bool(window._status and window._status.get("model_checked")))
    shoot(window, args.out / "01-first-run.png")

    # 2. Indexing: paused part way so the status bar shows its progress.
    total = sum(len(v) for v in library.values()) + len(papers)
    progress: list[tuple[int, int]] = []

    def track(p: object) -> None:
        progress.append((p.done, p.total))  # type: ignore[attr-defined]
        if p.done >= total // 3 and not window.index_status.pause.isChecked():  # type: ignore[attr-defined]
            window.index_status.pause.setChecked(True)

    bridge.progress.connect(track)
    window.welcome.start_button.click()
    wait_until(lambda: window.index_status.pause.isChecked(), timeout=60)
    window.run_search()
    wait_until(results_ready, settle=1.0)
    shoot(window, args.out / "02-indexing.png")
    bridge.progress.disconnect(track)
    bridge.progress.connect(lambda p: progress.append((p.done, p.total)))
    window.index_status.pause.setChecked(False)
    wait_until(lambda: bool(progress) and progress[-1] == (total, total), timeout=60)
    wait_until(results_ready, settle=0.5)

    # 3. A text query, with the score tooltip over the second result.
    window.search.setText("rouge")
    window.run_search()
    wait_until(results_ready, settle=0.8)
    rect = window.grid.visualRect(window.model.index(1))
    QToolTip.showText(
        window.grid.viewport().mapToGlobal(rect.center() + QPoint(10, 10)),
        str(window.model.data(window.model.index(1), 3)),
        window.grid,
    )
    wait_until(lambda: True, settle=0.4)
    shoot(window, args.out / "03-text-query.png")
    QToolTip.hideText()

    # 4. An image query: a photo dropped in (here: set as the query image), plus a word.
    window.search.clear()
    window.set_image(str(library["blue"][0]))
    wait_until(results_ready, settle=0.8)
    shoot(window, args.out / "04-image-query.png")

    # 5. Dark palette, text and image combined.
    theme.set_mode(DARK)
    window.search.setText("sunflowers jaune")
    window.set_image(str(library["orange"][0]))
    wait_until(results_ready, settle=0.8)
    shoot(window, args.out / "05-dark.png")

    # 6. Folders & settings, in the dark palette.
    from app.views.settings import SettingsDialog

    bridge.refresh_status()
    wait_until(lambda: bool(window._status and window._status.get("provider")), settle=0.3)
    dialog = SettingsDialog(
        bridge, window._status, device="cpu", theme=DARK, tray=False, parent=window
    )
    dialog.resize(720, 480)
    dialog.move(120, 80)
    dialog.show()
    wait_until(lambda: dialog.excludes.toPlainText() != "", settle=0.4)
    shoot(dialog, args.out / "06-settings.png")
    dialog.close()

    # 7. A document: the page that matched, rendered, with its passage.
    theme.set_mode(LIGHT)
    window.clear_image()
    window.search.setText("autumn red")
    window.run_search()
    wait_until(results_ready, settle=0.3)
    row = window.model.row_of(str(papers[0]))
    assert row is not None, "the PDF was not found"
    window.grid.setCurrentIndex(window.model.index(row))
    wait_until(results_ready, settle=0.8)
    shoot(window, args.out / "07-documents.png")

    # 8. A query that matches nothing: the cut-off's empty state.
    window.search.setText("Zanzibar")
    window.run_search()
    wait_until(lambda: not window._searching, settle=0.8)
    shoot(window, args.out / "08-no-good-matches.png")

    window.close()
    qapp.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
