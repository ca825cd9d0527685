"""Text in photos and scans (OCR): lines of text, their confidence and their boxes.

The models are PaddleOCR's (PP-OCRv6 small detection and recognition, the mobile direction
classifier) as shipped inside the ``rapidocr`` wheel (Apache-2.0, models included, so nothing is
downloaded); rapidocr's own pre- and post-processing runs them, on ONNX Runtime sessions that this
module makes with the same provider choice as the towers (CUDA when it loads, else the CPU).

Cheap first: a text-detection pass on a small render (:data:`GATE_SIDE`) decides whether a
picture holds text at all; a photo without text costs only that pass. Where it does, detection
runs again at a size fit to read it, each line is cut out, turned upright by the direction model
(after EXIF orientation, which decoding applies first) and recognised. Boxes come back in the
coordinates of the original picture as a person sees it (EXIF-rotated).

:class:`Recognizer` does the work in the calling process; :class:`OcrWorker` runs one in a worker
process with a memory cap and a time limit per picture, like the PDF reader: a picture that
overruns is given up, the process restarted, and the next one goes on.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from .embedder import (
    CPU,
    CUDA,
    cuda_provider_present,
    default_threads,
    nvidia_driver_present,
    preload_cuda_libraries,
)
from .errors import DecodeError, FileVanishedError, ModelError
from .ocrlines import Box, Line

if TYPE_CHECKING:
    import onnxruntime as ort

    from .preprocess import Source

log = logging.getLogger(__name__)

GATE_SIDE = 480  # the small render that decides whether there is text at all
WORK_SIDE = 2560  # the picture lines are cut from, at most this long...
WORK_PIXELS = 4_000_000  # ...and this large
DET_SIDE = 1600  # the full detection pass sees at most this long a side...
DET_PIXELS = 1_600_000  # ...and this many pixels
MAX_LINE_SHARE = 0.45  # of the picture's shorter side: a taller "line" is not text
MAX_LINE_AREA = 0.5  # of the picture's area
SMALL_LINE_SHARE = 0.2  # a line this short (of the shorter side) passes the gate on any score
SURE_TEXT = 0.6  # the detector's score a taller region needs to pass the gate
MIN_CONFIDENCE = 0.5  # recognised lines below this are noise more often than text
UPRIGHT_CONFIDENCE = 0.9  # the direction model's certainty needed to turn a line over
OCR_TIMEOUT_S = 60.0  # per picture, in the worker
LOAD_ALLOWANCE_S = 60.0  # a new worker first imports and loads its models
WORKER_MEMORY = 3 * 1024**3

MODEL_FILES = {
    "det": "PP-OCRv6_det_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
}


class OcrUnavailable(ModelError):
    title = "Text recognition unavailable"


@dataclass(frozen=True)
class Reading:
    """What OCR found in one picture. ``width`` × ``height`` is the frame of the boxes."""

    width: int
    height: int
    lines: tuple[Line, ...] = ()
    has_text: bool = False  # the cheap pass found text (else nothing more ran)
    detect_ms: float = 0.0  # both detection passes
    recognise_ms: float = 0.0  # direction and recognition of every line

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def as_json(self) -> dict[str, Any]:
        return {
            "size": [self.width, self.height],
            "lines": [line.as_json() for line in self.lines],
            "has_text": self.has_text,
            "detect_ms": round(self.detect_ms, 2),
            "recognise_ms": round(self.recognise_ms, 2),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reading:
        return cls(
            width=int(data["size"][0]),
            height=int(data["size"][1]),
            lines=tuple(Line.from_json(x) for x in data["lines"]),
            has_text=bool(data.get("has_text", bool(data["lines"]))),
            detect_ms=float(data.get("detect_ms", 0.0)),
            recognise_ms=float(data.get("recognise_ms", 0.0)),
        )


@dataclass
class OcrStats:
    """How much work OCR did; tests count these to prove what did not run."""

    pictures: int = 0
    gate_passes: int = 0  # small-render detections
    full_passes: int = 0  # detections at reading size (only where the gate found text)
    lines: int = 0  # lines given to the recogniser
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, other: dict[str, int]) -> None:
        with self.lock:
            for key in ("pictures", "gate_passes", "full_passes", "lines"):
                setattr(self, key, getattr(self, key) + int(other.get(key, 0)))

    def as_dict(self) -> dict[str, int]:
        return {
            "pictures": self.pictures,
            "gate_passes": self.gate_passes,
            "full_passes": self.full_passes,
            "lines": self.lines,
        }


def models_dir() -> Path:
    """The folder of the OCR models inside the installed rapidocr package."""
    try:
        import rapidocr
    except ImportError as exc:
        raise OcrUnavailable(
            "the rapidocr package is not installed", "install Lanterna's dependencies again"
        ) from exc
    folder = Path(rapidocr.__file__).resolve().parent / "models"
    missing = [name for name in MODEL_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise OcrUnavailable(
            f"the OCR models are missing from {folder} ({', '.join(missing)})",
            "reinstall the rapidocr package",
        )
    return folder


def available() -> str | None:
    """None if OCR can run here, else why not (one line)."""
    import importlib.util

    try:
        models_dir()
    except OcrUnavailable as exc:
        return exc.one_line()
    if importlib.util.find_spec("cv2") is None:  # rapidocr's image operations (OpenCV)
        return f"{OcrUnavailable.title}: OpenCV (opencv-python-headless) is not installed"
    return None


def _providers(device: str) -> list[str]:
    """The towers' rule (engine.embedder): CUDA when asked for or when it may work, else CPU."""
    import onnxruntime as ort

    if device == "cpu":
        return [CPU]
    offered = CUDA in ort.get_available_providers() and cuda_provider_present()
    if offered and nvidia_driver_present():
        return [CUDA, CPU]
    if device == "cuda":
        raise OcrUnavailable(
            "the CUDA provider is not available in this onnxruntime",
            "install the GPU build (onnxruntime-gpu) or use --device cpu",
        )
    return [CPU]


def _scale_to(size: tuple[int, int], max_side: int, max_pixels: int) -> float:
    """The factor (at most 1) that fits ``size`` in both bounds."""
    w, h = size
    return min(1.0, max_side / max(w, h, 1), math.sqrt(max_pixels / max(w * h, 1)))


def _shrunk(img: Image.Image, max_side: int, max_pixels: int) -> Image.Image:
    factor = _scale_to(img.size, max_side, max_pixels)
    if factor >= 1.0:
        return img
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _bgr(img: Image.Image) -> npt.NDArray[np.uint8]:
    """rapidocr (OpenCV) wants BGR, C-contiguous."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[:, :, ::-1])


class Recognizer:
    """The three OCR models in this process. Not for several threads at once."""

    def __init__(self, *, device: str = "auto", threads: int | None = None) -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ModelError(f"unknown device {device!r}", "use auto, cpu or cuda")
        self.device = device
        self.threads = threads or default_threads()
        self.stats = OcrStats()
        self._lock = threading.Lock()
        self._parts: tuple[Any, Any, Any, Any] | None = None  # gate, det, cls, rec
        self.provider = ""

    # -- sessions ----------------------------------------------------------------------------

    def _session(self, path: Path, providers: list[str]) -> ort.InferenceSession:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.enable_cpu_mem_arena = False  # picture sizes vary: an arena only grows
        ort.set_default_logger_severity(4)
        try:
            return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:
            raise OcrUnavailable(f"cannot load {path.name}: {exc}", "reinstall rapidocr") from exc

    def _ensure(self) -> tuple[Any, Any, Any, Any]:
        with self._lock:
            if self._parts is None:
                self._parts = self._load()
            return self._parts

    def _load(self) -> tuple[Any, Any, Any, Any]:
        folder = models_dir()
        # rapidocr logs each model it wraps at INFO on its own handler; only its warnings matter.
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        from omegaconf import OmegaConf
        from rapidocr.ch_ppocr_cls import TextClassifier
        from rapidocr.ch_ppocr_det import TextDetector
        from rapidocr.ch_ppocr_rec import TextRecognizer
        from rapidocr.utils.parse_parameters import ParseParams

        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        providers = _providers(self.device)
        if CUDA in providers:
            preload_cuda_libraries()
        sessions = {k: self._session(folder / name, providers) for k, name in MODEL_FILES.items()}
        self.provider = str(sessions["det"].get_providers()[0])
        defaults = ParseParams.load(Path(folder).parent / "config.yaml")

        def section(name: str, session: ort.InferenceSession, **values: Any) -> Any:
            block = defaults[name]
            cfg: Any = OmegaConf.create(
                OmegaConf.to_container(block), flags={"allow_objects": True}
            )
            for key in ("engine_type", "ocr_version", "task_type", "model_type", "lang_type"):
                cfg[key] = block[key]
            cfg.session = session  # our session: rapidocr then makes none and downloads nothing
            cfg.font_path = None
            cfg.model_root_dir = str(folder)
            for key, value in values.items():
                cfg[key] = value
            return cfg

        gate = TextDetector(
            section("Det", sessions["det"], limit_type="max", limit_side_len=GATE_SIDE)
        )
        det = TextDetector(section("Det", sessions["det"], limit_type="max"))
        cls = TextClassifier(section("Cls", sessions["cls"], cls_thresh=UPRIGHT_CONFIDENCE))
        rec = TextRecognizer(section("Rec", sessions["rec"]))
        return gate, det, cls, rec

    def close(self) -> None:
        with self._lock:
            self._parts = None

    # -- reading -----------------------------------------------------------------------------

    def read_file(self, source: Source) -> Reading:
        """OCR an image file (a path, or its bytes). Raises DecodeError for an unreadable one."""
        from .preprocess import decode_within

        small, info = decode_within(source, GATE_SIDE)
        frame = (info.width, info.height)
        started = time.perf_counter()
        if not self._gate(small):
            return Reading(*frame, detect_ms=(time.perf_counter() - started) * 1000)
        gate_ms = (time.perf_counter() - started) * 1000
        work, _ = decode_within(source, WORK_SIDE)
        return self._read(_shrunk(work, WORK_SIDE, WORK_PIXELS), frame, gate_ms)

    def read_picture(self, img: Image.Image, frame: tuple[int, int] | None = None) -> Reading:
        """OCR a picture already in memory (a PDF page's render); boxes in ``frame`` (default:
        the picture's own size)."""
        frame = frame or img.size
        work = _shrunk(img.convert("RGB"), WORK_SIDE, WORK_PIXELS)
        started = time.perf_counter()
        if not self._gate(_shrunk(work, GATE_SIDE, GATE_SIDE * GATE_SIDE)):
            return Reading(*frame, detect_ms=(time.perf_counter() - started) * 1000)
        return self._read(work, frame, (time.perf_counter() - started) * 1000)

    def _gate(self, small: Image.Image) -> bool:
        """The cheap pass: does the small render hold anything the detector calls text?"""
        gate = self._ensure()[0]
        with self.stats.lock:
            self.stats.pictures += 1
            self.stats.gate_passes += 1
        found = gate(_bgr(small))
        if found.boxes is None:
            return False
        # Blurred, grainy photos can make the detector outline most of the picture as one
        # "region": a line of text is far smaller than the picture it is in.
        # Smooth blocks of colour can pass too, weakly: a tall region needs a sure score.
        short = min(small.size)
        scores = found.scores if found.scores is not None else [1.0] * len(found.boxes)
        for box, score in zip(found.boxes, scores, strict=True):
            pts = np.asarray(box, dtype=np.float32)
            height = min(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2]))
            width = max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[3] - pts[2]))
            if height > MAX_LINE_SHARE * short:
                continue
            if width * height > MAX_LINE_AREA * small.size[0] * small.size[1]:
                continue
            if float(score) >= SURE_TEXT or height <= SMALL_LINE_SHARE * short:
                return True
        return False

    def _read(self, work: Image.Image, frame: tuple[int, int], gate_ms: float) -> Reading:
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        _, det, cls, rec = self._ensure()
        pixels = _bgr(work)
        factor = _scale_to(work.size, DET_SIDE, DET_PIXELS)
        det.limit_side_len = max(32, round(max(work.size) * factor))
        started = time.perf_counter()
        found = det(pixels)
        detect_ms = gate_ms + (time.perf_counter() - started) * 1000
        with self.stats.lock:
            self.stats.full_passes += 1
        if found.boxes is None or len(found.boxes) == 0:
            return Reading(*frame, has_text=True, detect_ms=detect_ms)
        boxes = [np.asarray(b, dtype=np.float32) for b in found.boxes]
        started = time.perf_counter()
        crops = [get_rotate_crop_image(pixels, b.copy()) for b in boxes]
        turned = cls(crops)
        read = rec(TextRecInput(img=turned.img_list))
        recognise_ms = (time.perf_counter() - started) * 1000
        with self.stats.lock:
            self.stats.lines += len(crops)
        upside_down = [
            "180" in str(label) and float(score) > UPRIGHT_CONFIDENCE
            for label, score in turned.cls_res
        ]
        sx, sy = frame[0] / work.width, frame[1] / work.height
        lines = []
        for box, text, score, flipped in zip(
            boxes, read.txts, read.scores, upside_down, strict=True
        ):
            text = " ".join(str(text).split())
            if float(score) < MIN_CONFIDENCE or not any(ch.isalnum() for ch in text):
                continue
            pts = [(float(x) * sx, float(y) * sy) for x, y in box]
            if flipped:  # corners in the order the text reads
                pts = pts[2:] + pts[:2]
            corners: Box = (pts[0], pts[1], pts[2], pts[3])
            lines.append(Line(text, float(score), corners))
        if lines and sum(upside_down) * 2 > len(upside_down):
            lines.reverse()  # an upside-down page reads from the bottom of the picture up
        return Reading(*frame, tuple(lines), True, detect_ms, recognise_ms)


# -- the worker process -----------------------------------------------------------------------


def _limit_memory() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the time limit still applies


def _worker_main(conn: Connection, device: str, threads: int) -> None:
    if device == "cpu":  # CUDA reserves far more address space than it uses: no cap there
        _limit_memory()
    recognizer = Recognizer(device=device, threads=threads)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        op, payload = request
        before = recognizer.stats.as_dict()
        try:
            if op == "file":
                reading = recognizer.read_file(payload)
            elif op == "picture":
                size, raw, frame = payload
                reading = recognizer.read_picture(Image.frombytes("RGB", size, raw), frame)
            elif op == "provider":
                recognizer._ensure()
                conn.send(("ok", recognizer.provider, {}))
                continue
            else:
                raise ValueError(f"unknown request {op!r}")
            after = recognizer.stats.as_dict()
            delta = {k: after[k] - before[k] for k in after}
            conn.send(("ok", reading.as_json(), delta))
        except FileVanishedError as exc:
            conn.send(("vanished", exc.detail, {}))
        except (DecodeError, OcrUnavailable) as exc:
            conn.send(("error", exc.detail, {}))
        except MemoryError:
            conn.send(("error", "picture too large to read its text (memory limit)", {}))
        except Exception as exc:
            conn.send(("error", f"text recognition failed: {type(exc).__name__}: {exc}", {}))


class OcrWorker:
    """One long-lived OCR process, started on first use, restarted after a crash or overrun."""

    def __init__(
        self,
        *,
        device: str = "auto",
        threads: int | None = None,
        timeout: float = OCR_TIMEOUT_S,
    ) -> None:
        self.device = device
        self.threads = threads or default_threads()
        self.timeout = timeout
        self.stats = OcrStats()
        self.restarts = 0
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None

    def _start(self) -> tuple[Connection, bool]:
        fresh = self._proc is None or not self._proc.is_alive() or self._conn is None
        if fresh:
            ctx = mp.get_context("spawn")
            parent, child = ctx.Pipe()
            self._proc = ctx.Process(
                target=_worker_main,
                args=(child, self.device, self.threads),
                daemon=True,
                name="lanterna-ocr",
            )
            self._proc.start()
            child.close()
            self._conn = parent
        assert self._conn is not None
        return self._conn, fresh

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
            self.restarts += 1
        self._proc = None
        self._conn = None

    def _call(self, op: str, payload: Any) -> Any:
        with self._lock:
            conn, fresh = self._start()
            timeout = self.timeout + (LOAD_ALLOWANCE_S if fresh else 0.0)
            try:
                conn.send((op, payload))
                if not conn.poll(timeout):
                    self.kill()
                    raise DecodeError(
                        f"gave up reading its text after {self.timeout:.0f} s (a huge or "
                        "hostile picture?)"
                    )
                status, value, delta = conn.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
                self.kill()
                raise DecodeError("the text reader crashed on this file") from exc
        self.stats.add(delta)
        if status == "vanished":
            raise FileVanishedError(str(value))
        if status == "error":
            raise DecodeError(str(value))
        return value

    def peak_rss(self) -> int | None:
        """The worker's peak resident memory in bytes (Linux), None if unknown or not running."""
        proc = self._proc
        if proc is None or not proc.is_alive():
            return None
        try:
            with open(f"/proc/{proc.pid}/status") as fh:
                for row in fh:
                    if row.startswith("VmHWM:"):
                        return int(row.split()[1]) * 1024
        except (OSError, ValueError):
            return None
        return None

    def provider(self) -> str:
        """The provider the worker's models run on (starts the worker; loading may take a
        second or two)."""
        return str(self._call("provider", None))

    def read_file(self, path: str | os.PathLike[str]) -> Reading:
        return Reading.from_json(self._call("file", os.fspath(path)))

    def read_picture(self, img: Image.Image, frame: tuple[int, int] | None = None) -> Reading:
        rgb = img.convert("RGB")
        payload = (rgb.size, rgb.tobytes(), frame or rgb.size)
        return Reading.from_json(self._call("picture", payload))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._proc is not None and self._proc.is_alive():
                try:
                    self._conn.send(None)
                    self._proc.join(2)
                except OSError:
                    pass
            if self._proc is not None:
                self._proc.kill()
                self._proc.join(5)
            self._proc = None
            self._conn = None
