"""Pictures with text in them, drawn at test time: a photographed receipt, a screenshot, a scan.

Latin text uses Pillow's own scalable font (always there); Chinese needs a CJK font that a
Debian package ships (fonts-wqy-zenhei, fonts-noto-cjk), found by :func:`cjk_font`.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

INVOICE = "INV-2024-0042"
RECEIPT_LINES = (
    "CORNER HARDWARE",
    "12 Mill Lane, Bristol",
    f"Invoice {INVOICE}",
    "Date 2024-03-15",
    "Hammer        12.50",
    "Nails 100      3.20",
    "TOTAL         15.70",
    "Thank you",
)
SCREENSHOT_LINES = (
    "Settings - Network",
    "Error: connection refused",
    "Proxy server: gateway.example",
    "Retry in 30 seconds",
)
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def cjk_font() -> str | None:
    for path in CJK_FONTS:
        if Path(path).is_file():
            return path
    found = sorted(glob.glob("/usr/share/fonts/**/*[Cc][Jj][Kk]*", recursive=True))
    return found[0] if found else None


def _noisy(img: Image.Image, sigma: float, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + rng.normal(0.0, sigma, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _perspective(size: tuple[int, int], tilt: float) -> tuple[float, ...]:
    """Coefficients for Image.transform that lean the top edge away (a phone held at a slant)."""
    w, h = size
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = [(tilt * w, 0), (w - tilt * w, tilt * h / 2), (w, h), (0, h)]
    rows = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    a = np.asarray(rows, dtype=np.float64)
    b = np.asarray([c for p in src for c in p], dtype=np.float64)
    return tuple(float(c) for c in np.linalg.solve(a, b))


def receipt(path: Path, *, seed: int = 3) -> Path:
    """A receipt photographed on a wooden table: off-white paper, slight rotation and
    perspective, sensor noise, a little blur, saved as a JPEG."""
    paper = Image.new("RGB", (560, 760), (246, 242, 232))
    draw = ImageDraw.Draw(paper)
    for i, text in enumerate(RECEIPT_LINES):
        draw.text((40, 40 + i * 82), text, fill=(28, 28, 30), font=font(34 if i else 40))
    table = Image.new("RGB", (900, 1100), (120, 84, 52))
    grain = np.asarray(table, dtype=np.float32)
    stripes = np.sin(np.arange(table.width) / 9.0)[None, :, None] * 14
    table = Image.fromarray(np.clip(grain + stripes, 0, 255).astype(np.uint8), "RGB")
    leaning = paper.rotate(4, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    mask = Image.new("L", paper.size, 255).rotate(4, expand=True)
    table.paste(leaning, (150, 140), mask)
    table = table.transform(
        table.size,
        Image.Transform.PERSPECTIVE,
        _perspective(table.size, 0.05),
        Image.Resampling.BICUBIC,
    )
    photo = _noisy(table.filter(ImageFilter.GaussianBlur(0.7)), 7.0, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    photo.save(path, quality=88)
    return path


def screenshot(path: Path, *, upside_down: bool = True) -> Path:
    """An application window with a few lines of text, as a PNG; turned over by default (a
    screenshot pasted upside down, or a phone photo of one with the wrong orientation)."""
    img = Image.new("RGB", (900, 420), (250, 250, 252))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 900, 48), fill=(52, 58, 70))
    draw.text((20, 8), SCREENSHOT_LINES[0], fill=(240, 240, 240), font=font(28))
    for i, text in enumerate(SCREENSHOT_LINES[1:]):
        draw.text((40, 90 + i * 90), text, fill=(30, 30, 30), font=font(32))
    draw.rectangle((700, 340, 860, 390), outline=(80, 120, 200), width=3)
    if upside_down:
        img = img.rotate(180)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def photo_without_text(path: Path, *, seed: int = 11) -> Path:
    """A landscape-like picture (sky, hills, a sun, texture) with nothing written on it."""
    rng = np.random.default_rng(seed)
    w, h = 1024, 768
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    sky = np.array([90, 150, 230], dtype=np.float32) * (1 - y) + np.array([200, 220, 250]) * y
    arr = np.broadcast_to(sky, (h, w, 3)).astype(np.float32).copy()
    x = np.arange(w)
    ridge = (h * 0.6 + 60 * np.sin(x / 130.0) + 25 * np.sin(x / 37.0)).astype(int)
    for col in range(w):
        arr[ridge[col] :, col] = (60, 120 + (col % 40), 50)
    yy, xx = np.ogrid[:h, :w]
    arr[(yy - 150) ** 2 + (xx - 780) ** 2 < 50**2] = (255, 230, 120)
    arr += rng.normal(0.0, 6.0, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    img.filter(ImageFilter.GaussianBlur(1.2)).save(path, quality=90)
    return path


def bilingual(path: Path, cjk: str) -> Path:
    """A shop sign: an English line and a Chinese line."""
    img = Image.new("RGB", (900, 360), (178, 34, 34))
    draw = ImageDraw.Draw(img)
    draw.text((60, 50), "Golden Dragon Noodle House", fill=(255, 236, 160), font=font(44))
    draw.text(
        (60, 190), "金龙面馆 欢迎光临", fill=(255, 236, 160), font=ImageFont.truetype(cjk, 72)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    _noisy(img, 4.0, 5).save(path, quality=92)
    return path


def scanned_letter(path: Path, word: str = "Quixotic") -> Path:
    """A one-page PDF that is only a picture of a typed letter: no text layer at all."""
    page = Image.new("RGB", (1240, 1754), (255, 255, 255))  # A4 at 150 dpi
    draw = ImageDraw.Draw(page)
    body = (
        "Dear Ms Okafor,",
        "",
        "Thank you for your letter about the",
        f"{word} Gardens planning appeal.",
        "The hearing is set for 4 June.",
        "",
        "Yours sincerely,",
        "R. Lindqvist",
    )
    for i, text in enumerate(body):
        draw.text((120, 160 + i * 70), text, fill=(20, 20, 20), font=font(38))
    scan = _noisy(page.rotate(0.8, fillcolor=(255, 255, 255)), 5.0, 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    scan.save(path, "PDF", resolution=150.0)
    return path
