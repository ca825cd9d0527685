"""OCR on pictures drawn at test time, through the real models and ONNX Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine.errors import DecodeError, FileVanishedError
from engine.ocr import GATE_SIDE, WORK_SIDE, OcrWorker, Reading, Recognizer
from engine.ocrlines import Line, best_line
from tests import ocr_images
from tests.images import write

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def recognizer() -> Iterator[Recognizer]:
    rec = Recognizer(device="cpu")
    yield rec
    rec.close()


def texts(reading: Reading) -> list[str]:
    return [line.text for line in reading.lines]


def inside(line: Line, width: int, height: int) -> bool:
    left, top, right, bottom = line.bounds
    return -1 <= left < right <= width + 1 and -1 <= top < bottom <= height + 1


def test_receipt_photo_gives_the_invoice_number(recognizer: Recognizer, tmp_path: Path) -> None:
    path = ocr_images.receipt(tmp_path / "receipt.jpg")
    reading = recognizer.read_file(path)
    assert reading.has_text
    assert (reading.width, reading.height) == Image.open(path).size
    invoice = [line for line in reading.lines if ocr_images.INVOICE in line.text]
    assert invoice, texts(reading)
    assert invoice[0].confidence > 0.8
    assert all(inside(line, reading.width, reading.height) for line in reading.lines)
    joined = reading.text
    assert "CORNER HARDWARE" in joined and "TOTAL" in joined
    # reading order: the shop's name comes before the invoice line, the total after it
    assert joined.index("CORNER") < joined.index(ocr_images.INVOICE) < joined.index("TOTAL")


def test_upside_down_screenshot_reads_right(recognizer: Recognizer, tmp_path: Path) -> None:
    reading = recognizer.read_file(ocr_images.screenshot(tmp_path / "shot.png"))
    assert texts(reading) == list(ocr_images.SCREENSHOT_LINES)
    # The first line as read is at the bottom of the turned-over picture, and its corners
    # start where the text starts (bottom right of the picture).
    first = reading.lines[0]
    assert first.bounds[1] > reading.height / 2
    assert first.box[0][0] > first.box[1][0]


def test_photo_without_text_costs_only_the_small_detection(
    recognizer: Recognizer, tmp_path: Path
) -> None:
    before = recognizer.stats.as_dict()
    for path in (
        ocr_images.photo_without_text(tmp_path / "hills.jpg"),
        write(tmp_path / "red.jpg", "red", seed=3, size=(1024, 768)),
    ):
        reading = recognizer.read_file(path)
        assert reading.lines == () and not reading.has_text
    after = recognizer.stats.as_dict()
    assert after["gate_passes"] - before["gate_passes"] == 2
    assert after["full_passes"] == before["full_passes"]
    assert after["lines"] == before["lines"]


def test_latin_and_chinese_in_one_picture(recognizer: Recognizer, tmp_path: Path) -> None:
    cjk = ocr_images.cjk_font()
    if cjk is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-zenhei)")
    reading = recognizer.read_file(ocr_images.bilingual(tmp_path / "sign.jpg", cjk))
    joined = reading.text.replace(" ", "")
    assert "GoldenDragonNoodleHouse" in joined, texts(reading)
    assert "金龙面馆" in joined and "欢迎光临" in joined, texts(reading)


def _known_text(size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    where = (size[0] // 5, size[1] // 3)
    draw.text(where, "Platform 9 departures", fill=(0, 0, 0), font=ocr_images.font(size[0] // 18))
    bbox = draw.textbbox(where, "Platform 9 departures", font=ocr_images.font(size[0] // 18))
    return img, (int(bbox[0]), int(bbox[1]), int(bbox[2]), int(bbox[3]))


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def test_boxes_are_in_the_original_pictures_pixels(recognizer: Recognizer, tmp_path: Path) -> None:
    """A picture larger than the reading size: the boxes still land on the text as drawn."""
    img, drawn = _known_text((WORK_SIDE + 840, 2000))
    img.save(tmp_path / "big.png")
    reading = recognizer.read_file(tmp_path / "big.png")
    assert (reading.width, reading.height) == img.size
    (line,) = reading.lines
    assert line.text == "Platform 9 departures"
    assert _overlap(line.bounds, drawn) > 0.6, (line.bounds, drawn)


def test_exif_orientation_is_applied_before_reading(recognizer: Recognizer, tmp_path: Path) -> None:
    """A camera stores the pixels sideways and says so in EXIF (orientation 6): the text reads
    and the boxes are those of the picture as a person sees it."""
    upright, drawn = _known_text((1200, 800))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    stored.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    reading = recognizer.read_file(tmp_path / "sideways.jpg")
    assert (reading.width, reading.height) == (1200, 800)
    (line,) = reading.lines
    assert line.text == "Platform 9 departures"
    assert _overlap(line.bounds, drawn) > 0.6


def test_page_render_in_memory(recognizer: Recognizer) -> None:
    img, drawn = _known_text((1000, 1400))
    reading = recognizer.read_picture(img, frame=(500, 700))  # boxes in a half-size frame
    (line,) = reading.lines
    half = tuple(v / 2 for v in drawn)
    assert _overlap(line.bounds, half) > 0.6


def test_gate_sees_a_small_render(recognizer: Recognizer, tmp_path: Path) -> None:
    """The cheap pass must not decode or detect at full size: its input fits GATE_SIDE."""
    seen: list[tuple[int, int]] = []
    original = Recognizer._gate

    def spy(self: Recognizer, small: Image.Image) -> bool:
        seen.append(small.size)
        return original(self, small)

    ocr_images.photo_without_text(tmp_path / "hills.jpg")
    try:
        Recognizer._gate = spy  # type: ignore[method-assign]
        recognizer.read_file(tmp_path / "hills.jpg")
    finally:
        Recognizer._gate = original  # type: ignore[method-assign]
    assert seen and max(seen[0]) <= GATE_SIDE


def test_best_line_prefers_the_query_words() -> None:
    box = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    lines = [Line("TOTAL 15.70", 0.99, box), Line("Invoice INV-2024-0042", 0.9, box)]
    chosen = best_line(lines, ["inv", "2024", "0042"])
    assert chosen is not None and chosen.text.startswith("Invoice")
    assert best_line(lines, ["nothing"]) == lines[0]
    assert best_line([], ["x"]) is None


def test_reading_round_trips_through_json(recognizer: Recognizer, tmp_path: Path) -> None:
    reading = recognizer.read_file(ocr_images.screenshot(tmp_path / "s.png", upside_down=False))
    again = Reading.from_json(reading.as_json())
    assert texts(again) == texts(reading)
    flat = [c for p in reading.lines[0].box for c in p]
    assert [c for p in again.lines[0].box for c in p] == pytest.approx(flat, abs=0.06)


# -- the worker process -----------------------------------------------------------------------


def test_worker_reads_and_reports_bad_files_in_one_line(tmp_path: Path) -> None:
    worker = OcrWorker(device="cpu")
    try:
        shot = ocr_images.screenshot(tmp_path / "shot.png")
        reading = worker.read_file(shot)
        assert texts(reading) == list(ocr_images.SCREENSHOT_LINES)
        assert worker.stats.full_passes == 1 and worker.stats.lines >= 4
        assert worker.provider() == "CPUExecutionProvider"

        (tmp_path / "empty.jpg").write_bytes(b"")
        (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        with pytest.raises(DecodeError, match="empty file"):
            worker.read_file(tmp_path / "empty.jpg")
        with pytest.raises(DecodeError) as info:
            worker.read_file(tmp_path / "junk.png")
        assert "\n" not in str(info.value)
        with pytest.raises(FileVanishedError):
            worker.read_file(tmp_path / "gone.jpg")
        assert worker.restarts == 0  # bad files are answered, not crashed on
    finally:
        worker.close()


def test_worker_gives_up_on_an_overrun_and_goes_on(tmp_path: Path) -> None:
    worker = OcrWorker(device="cpu")
    try:
        receipt = ocr_images.receipt(tmp_path / "receipt.jpg")
        worker.provider()  # started, models loaded
        worker.timeout = 0.05  # far less than reading a receipt takes
        with pytest.raises(DecodeError, match="gave up"):
            worker.read_file(receipt)
        assert worker.restarts == 1
        worker.timeout = 120.0
        reading = worker.read_file(receipt)  # a fresh process reads it
        assert any(ocr_images.INVOICE in t for t in texts(reading))
    finally:
        worker.close()


def test_worker_reads_a_picture_sent_to_it() -> None:
    img, _ = _known_text((900, 600))
    worker = OcrWorker(device="cpu")
    try:
        reading = worker.read_picture(img)
    finally:
        worker.close()
    assert texts(reading) == ["Platform 9 departures"]
