"""Image decoding and conversion to the vision tower's input.

:func:`decode_image` turns a file or raw image bytes into a modest RGB picture: EXIF orientation
applied, alpha composited on white, and no bigger than the model needs (JPEG and HEIF are decoded
at reduced size with ``draft``; other formats are box-reduced after decoding). :func:`to_tensor`
then resizes, crops and normalises it as the model folder's manifest says (MODEL_CONTRACT.md,
"Vision tower").

Every failure to read or decode a file is a :class:`DecodeError` (a missing file is its subclass
:class:`FileVanishedError`). The functions are safe to call from several threads at once.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import stat
import struct
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, Any

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError, features

from .errors import DecodeError, FileVanishedError

log = logging.getLogger(__name__)

Source = str | os.PathLike[str] | bytes

MAX_PIXELS: int = 180_000_000
"""Images with more pixels than this are refused as likely decompression bombs."""

RESIZE_MODES = ("shortest_edge_then_center_crop", "squash")
RESAMPLE: dict[str, Image.Resampling] = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


# -- model input description ------------------------------------------------------------------


@dataclass(frozen=True)
class VisionSpec:
    """How the vision tower wants its input: the manifest's ``vision`` block."""

    image_size: int
    resize: str = "shortest_edge_then_center_crop"
    resample: str = "bicubic"
    mean: tuple[float, float, float] = _CLIP_MEAN
    std: tuple[float, float, float] = _CLIP_STD

    def __post_init__(self) -> None:
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise ValueError(f"image_size must be a positive integer, not {self.image_size!r}")
        if self.image_size < 1:
            raise ValueError(f"image_size must be a positive integer, not {self.image_size}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(
                f"unknown resize {self.resize!r} (expected one of: {', '.join(RESIZE_MODES)})"
            )
        if self.resample not in RESAMPLE:
            raise ValueError(
                f"unknown resample {self.resample!r} (expected one of: {', '.join(RESAMPLE)})"
            )
        if len(self.mean) != 3 or not all(math.isfinite(m) for m in self.mean):
            raise ValueError(f"mean must be three finite numbers, not {self.mean!r}")
        if len(self.std) != 3 or not all(math.isfinite(s) and s > 0 for s in self.std):
            raise ValueError(f"std must be three positive numbers, not {self.std!r}")

    @classmethod
    def from_manifest(cls, block: Mapping[str, Any]) -> VisionSpec:
        """Read and check the manifest's ``vision`` block (keys this module does not use are
        ignored); any problem is a ValueError that names the key."""
        if "image_size" not in block:
            raise ValueError("image_size is missing")
        kwargs: dict[str, Any] = {"image_size": block["image_size"]}
        for key in ("resize", "resample"):
            if key in block:
                value = block[key]
                if not isinstance(value, str):
                    raise ValueError(f"{key} must be a string, not {value!r}")
                kwargs[key] = value
        for key in ("mean", "std"):
            if key in block:
                kwargs[key] = _three_numbers(key, block[key])
        return cls(**kwargs)


def _three_numbers(key: str, value: object) -> tuple[float, float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 3
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"{key} must be a list of three numbers, not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


@dataclass(frozen=True)
class ImageInfo:
    """Facts about the decoded file, for the index."""

    width: int  # of the original image, after EXIF orientation
    height: int
    taken: float | None  # capture time (unix seconds) from EXIF, if any
    format: str  # Pillow's format name, e.g. "JPEG"
    frames: int  # 1 unless animated (or a multi-page TIFF)


# -- plugins ----------------------------------------------------------------------------------

_PLUGIN_LOCK = threading.Lock()
_plugins_ready = False
_heif_readable = False
_avif_readable = False
_open_formats: tuple[str, ...] = ()

# What Image.open may try. Restricting it keeps out plugins that run external programs (EPS via
# Ghostscript) and header-less formats (TGA, DIB) that would claim random bytes.
_WANTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")


def _register_plugins() -> None:
    """Register the HEIF (and, if Pillow lacks it, AVIF) opener once per process."""
    global _plugins_ready, _heif_readable, _avif_readable, _open_formats
    if _plugins_ready:
        return
    with _PLUGIN_LOCK:
        if _plugins_ready:
            return
        Image.init()
        heif_module: Any = None
        try:
            import pillow_heif

            heif_module = pillow_heif
            pillow_heif.register_heif_opener()
            _heif_readable = True
        except Exception as exc:  # missing or broken native library: HEIF is just unsupported
            log.info("HEIF images are not supported here: %s", exc)
        _avif_readable = "avif" in features.modules and bool(features.check_module("avif"))
        register_avif = getattr(heif_module, "register_avif_opener", None)
        if not _avif_readable and register_avif is not None:
            try:
                register_avif()
                _avif_readable = True
            except Exception as exc:
                log.info("AVIF images are not supported here: %s", exc)
        _open_formats = tuple(f for f in _WANTED_FORMATS if f in Image.OPEN)
        _plugins_ready = True


def _supported_extensions() -> frozenset[str]:
    _register_plugins()
    exts = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".tif", ".tiff"}
    if "WEBP" in _open_formats and features.check_module("webp"):
        exts.add(".webp")
    if _heif_readable:
        exts |= {".heic", ".heif", ".hif"}
    if _avif_readable:
        exts.add(".avif")
    return frozenset(exts)


SUPPORTED_EXTENSIONS: frozenset[str] = _supported_extensions()
"""Lower-case file name extensions (with the dot) of the images this installation can read."""


# -- decoding ---------------------------------------------------------------------------------

_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def _bomb_warning_ignored() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning for the duration.

    Pillow warns above ~89 MP, well below MAX_PIXELS, which is checked here instead. Unless the
    interpreter has context-aware warnings (3.14+), catch_warnings swaps the process-wide filter
    list, so overlapping uses from decode threads could restore the wrong list: they take turns.
    """
    context_aware = bool(getattr(sys.flags, "context_aware_warnings", False))
    lock: contextlib.AbstractContextManager[Any] = (
        contextlib.nullcontext() if context_aware else _WARNINGS_LOCK
    )
    with lock, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


@contextlib.contextmanager
def _opened(source: Source) -> Iterator[IO[bytes]]:
    """The source as a binary file object, with file-system errors as DecodeError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise DecodeError("empty file (0 bytes)")
        yield io.BytesIO(source)
        return
    try:
        path = os.fspath(source)
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise DecodeError("is a directory, not an image file")
        if not stat.S_ISREG(st.st_mode):
            raise DecodeError("not a regular file")
        if st.st_size == 0:
            raise DecodeError("empty file (0 bytes)")
        # Pillow gets a file object, never the path: with a path it may memory-map uncompressed
        # files, and a file truncated while mapped kills the process with SIGBUS.
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the yield
    except (FileNotFoundError, NotADirectoryError):
        raise FileVanishedError("file not found") from None
    except IsADirectoryError:
        raise DecodeError("is a directory, not an image file") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:  # e.g. an embedded NUL in the name
        raise DecodeError(f"invalid file name: {exc}") from None
    with fh:
        yield fh


def decode_image(source: Source, min_side: int) -> tuple[Image.Image, ImageInfo]:
    """Decode a file (path) or image data (bytes) to an RGB image whose shorter side is at least
    ``min_side`` (unless the original is smaller) and less than about twice that.

    EXIF orientation is applied, transparency is composited on white, animations give their
    first frame. Raises DecodeError (FileVanishedError for a missing file).
    """
    if min_side < 1:
        raise ValueError(f"min_side must be at least 1, not {min_side}")
    return _decode(source, lambda short, long: min_side, fit=None)


def load_rgb(source: Source, min_side: int) -> Image.Image:
    """Just the picture of :func:`decode_image`."""
    return decode_image(source, min_side)[0]


def pad_square(img: Image.Image, fill: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Centre a page on a white square, so that a centre crop keeps the whole page."""
    side = max(img.size)
    if img.width == img.height:
        return img
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return canvas


def thumbnail(source: Source, max_side: int) -> Image.Image:
    """An RGB picture that fits in ``max_side`` × ``max_side`` (keeping the aspect ratio, never
    enlarged), EXIF-rotated and decoded at reduced size where the format allows it."""
    return decode_within(source, max_side)[0]


def decode_within(source: Source, max_side: int) -> tuple[Image.Image, ImageInfo]:
    """:func:`thumbnail` with the facts of :func:`decode_image` (the original's oriented size)."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")

    def needed_short_side(short: int, long: int) -> int:
        return max(1, math.ceil(short * max_side / long))

    return _decode(source, needed_short_side, fit=max_side)


def prepare(source: Source, spec: VisionSpec) -> tuple[npt.NDArray[np.float32], ImageInfo]:
    """Decode ``source`` and turn it into the vision tower's ``[3, S, S]`` input."""
    img, info = decode_image(source, spec.image_size)
    return to_tensor(img, spec), info


def _decode(
    source: Source, needed: Callable[[int, int], int], fit: int | None
) -> tuple[Image.Image, ImageInfo]:
    _register_plugins()
    try:
        with _opened(source) as fh:
            return _decode_file(fh, needed, fit)
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeError(_too_large(exc)) from exc
    except UnidentifiedImageError as exc:
        raise DecodeError(_unidentified(source)) from exc
    except MemoryError as exc:
        raise DecodeError("not enough memory to decode this image") from exc
    except (
        OSError,
        SyntaxError,
        EOFError,
        ValueError,
        struct.error,
        IndexError,
        KeyError,
        TypeError,
        ZeroDivisionError,
        RuntimeError,
        Image.DecompressionBombWarning,  # only raised when the application made warnings errors
    ) as exc:
        raise DecodeError(f"truncated or corrupt image: {_describe(exc)}") from exc
    except Exception as exc:
        log.warning("unexpected error decoding an image", exc_info=True)
        raise DecodeError(f"cannot decode image: {_describe(exc)}") from exc


def _decode_file(
    fh: IO[bytes], needed: Callable[[int, int], int], fit: int | None
) -> tuple[Image.Image, ImageInfo]:
    with _bomb_warning_ignored():
        im = Image.open(fh, formats=_open_formats)
    result: Image.Image = im
    try:
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise DecodeError(
                f"image too large: {width}×{height} pixels (limit {MAX_PIXELS // 1_000_000} MP)"
            )
        frames = _frame_count(im)
        short, long = min(width, height), max(width, height)
        need: int = needed(short, long)
        if short > need:
            # Ask for the smallest size whose shorter side is still `need`; JPEG then decodes at
            # 1/2, 1/4 or 1/8 scale (never below the request), HEIF may use an embedded thumbnail.
            if width <= height:
                request = (need, max(need, height * need // width))
            else:
                request = (max(need, width * need // height), need)
            im.draft("RGB", request)
        pillow_limit = Image.MAX_IMAGE_PIXELS
        if pillow_limit is not None and width * height > pillow_limit:
            with _bomb_warning_ignored():  # TIFF and GIF check the size again while loading
                im.load()
        else:
            im.load()
        orientation, taken = _read_exif(im)
        result = _to_rgb(im)
        factor = min(result.size) // need
        if factor >= 2:
            result = result.reduce(factor)  # box average; the sides round up, so stay >= need
        result = _orient(result, orientation)
        if fit is not None and max(result.size) > fit:
            w, h = result.size
            scale = fit / max(w, h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            result = result.resize(size, Image.Resampling.BICUBIC)
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        info = ImageInfo(width, height, taken, im.format or "", frames)
        return result, info
    finally:
        if result is not im:
            im.close()


def _frame_count(im: Image.Image) -> int:
    if im.format == "MPO":
        return 1  # further "frames" are other views of one scene (stereo pairs, previews)
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception:  # a damaged later frame: the first one may still decode
        log.debug("cannot count frames", exc_info=True)
        frames = 1
    if im.tell() != 0:
        im.seek(0)
    return max(1, frames)


def _too_large(exc: Exception) -> str:
    match = re.search(r"\((\d+) pixels\)", str(exc))
    limit = f"limit {MAX_PIXELS // 1_000_000} MP"
    if match:
        return f"image too large: {int(match[1]) / 1e6:.0f} MP ({limit})"
    return f"image too large ({limit})"


def _unidentified(source: Source) -> str:
    head = b""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:16])
    else:
        with contextlib.suppress(OSError, ValueError, TypeError), open(source, "rb") as fh:
            head = fh.read(16)
    if head[4:8] == b"ftyp" and (not _heif_readable or not _avif_readable):
        return "not a recognised image format (HEIF/AVIF support is not available here)"
    return "not a recognised image format"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


# -- metadata ---------------------------------------------------------------------------------

_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_DATE_TIME = 0x0132
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME_DIGITIZED = 0x9004
_OFFSET_TIME, _OFFSET_TIME_ORIGINAL, _OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
_SUBSEC_TIME, _SUBSEC_TIME_ORIGINAL, _SUBSEC_TIME_DIGITIZED = 0x9290, 0x9291, 0x9292
# (date, its UTC offset, its fraction of a second), in order of preference; the offsets and
# fractions always live in the Exif IFD
_DATE_TAGS = (
    (_DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _SUBSEC_TIME_ORIGINAL),
    (_DATE_TIME_DIGITIZED, _OFFSET_TIME_DIGITIZED, _SUBSEC_TIME_DIGITIZED),
    (_DATE_TIME, _OFFSET_TIME, _SUBSEC_TIME),
)

_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_EXIF_TIME = re.compile(
    r"\s*(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?"
)
_EXIF_OFFSET = re.compile(r"\s*([+-])(\d{1,2}):?(\d{2})")


def _read_exif(im: Image.Image) -> tuple[int, float | None]:
    """(orientation 1-8, capture time); damaged metadata counts as absent."""
    try:
        exif = im.getexif()
    except Exception:
        log.debug("unreadable EXIF", exc_info=True)
        return 1, None
    try:
        orientation = int(exif.get(_ORIENTATION, 1))
    except (TypeError, ValueError):
        orientation = 1
    if orientation not in range(1, 9):
        orientation = 1
    try:
        taken = _capture_time(exif)
    except Exception:
        log.debug("unreadable EXIF date", exc_info=True)
        taken = None
    return orientation, taken


def _capture_time(exif: Image.Exif) -> float | None:
    try:
        sub: Mapping[int, Any] = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    # IFD0 normally holds only DateTime, but some writers put all the dates there
    for ifd in (sub, exif):
        for stamp, offset, subsec in _DATE_TAGS:
            taken = _exif_timestamp(ifd.get(stamp), sub.get(offset), sub.get(subsec))
            if taken is not None:
                return taken
    return None


def _exif_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        return value.strip("\x00 \t\r\n")
    return None


def _exif_timestamp(stamp: object, offset: object, subsec: object) -> float | None:
    """EXIF "YYYY:MM:DD HH:MM:SS" as unix time: local time unless an offset tag says otherwise."""
    text = _exif_text(stamp)
    match = _EXIF_TIME.match(text) if text else None
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    hour, minute, second = (int(g) if g else 0 for g in match.group(4, 5, 6))
    if year < 1800:
        return None
    tz = None
    offset_text = _exif_text(offset)
    offset_match = _EXIF_OFFSET.match(offset_text) if offset_text else None
    if offset_match is not None:
        delta = timedelta(hours=int(offset_match[2]), minutes=int(offset_match[3]))
        if delta < timedelta(hours=24):
            tz = timezone(-delta if offset_match[1] == "-" else delta)
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz)
        taken = moment.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    digits = _exif_text(subsec)
    if digits and digits.isdigit():
        taken += int(digits) / 10 ** len(digits)
    return taken


def _orient(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


# -- pixels -----------------------------------------------------------------------------------

_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_DEEP_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB, transparency composited on white."""
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.mode in _DEEP_MODES:
        return _deep_to_l(im).convert("RGB")
    if im.mode in _ALPHA_MODES or im.info.get("transparency") is not None:
        try:
            rgba = im.convert("RGBA")
        except ValueError:
            rgba = None  # a transparency Pillow cannot apply to this mode: ignore it
        if rgba is not None:
            white = Image.new("RGB", im.size, (255, 255, 255))
            white.paste(rgba, mask=rgba.getchannel("A"))
            return white
    return im.convert("RGB")  # P, L, 1, CMYK, YCbCr, HSV, RGBX, ...


def _deep_to_l(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale as 8-bit.

    Pillow's own convert("L") clips these at 255, turning a 16-bit mid-grey white.
    """
    arr = np.asarray(im)
    if im.mode.startswith("I;16"):
        return Image.fromarray((arr >> 8).astype(np.uint8))
    values = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(values.max()) if values.size else 0.0
    if im.mode == "F" and top <= 1.0:
        full = 1.0
    elif im.mode == "F" and top <= 255.0:
        full = 255.0
    else:
        full = max(65535.0, top)  # "I" is how Pillow opens 16-bit PPM/PGM
    scaled = np.clip(values * (255.0 / full) + 0.5, 0.0, 255.0).astype(np.uint8)
    return Image.fromarray(scaled)


def to_tensor(img: Image.Image, spec: VisionSpec) -> npt.NDArray[np.float32]:
    """The vision tower's input for one image: float32 ``[3, S, S]``, C-contiguous.

    "shortest_edge_then_center_crop" follows the reference pipeline (torchvision ``Resize(S)``
    then ``CenterCrop(S)`` on a PIL image): the shorter side becomes S, the other
    ``int(S * long / short)`` (truncated); the crop offsets are ``int(round((side - S) / 2))``.
    "squash" resizes straight to S × S. Then x / 255, (x - mean) / std per channel.
    """
    size = spec.image_size
    resample = RESAMPLE[spec.resample]
    rgb = _to_rgb(img)
    if spec.resize == "squash":
        resized = rgb.resize((size, size), resample)
    else:
        w, h = rgb.size
        if w <= h:
            new_w, new_h = size, int(size * h / w)
        else:
            new_w, new_h = int(size * w / h), size
        resized = rgb.resize((new_w, new_h), resample) if (new_w, new_h) != (w, h) else rgb
        left = round((new_w - size) / 2.0)
        top = round((new_h - size) / 2.0)
        if (new_w, new_h) != (size, size):
            resized = resized.crop((left, top, left + size, top + size))
    pixels = np.asarray(resized, dtype=np.float32)  # [S, S, 3]
    scale = 1.0 / (255.0 * np.asarray(spec.std, dtype=np.float32))
    shift = -np.asarray(spec.mean, dtype=np.float32) / np.asarray(spec.std, dtype=np.float32)
    out = np.empty((3, size, size), dtype=np.float32)
    for c in range(3):
        np.multiply(pixels[:, :, c], scale[c], out=out[c])
        out[c] += shift[c]
    return out
