"""Running the two towers with ONNX Runtime: tokenise, batch, embed, truncate, normalise.

Sessions load lazily under a lock; the CUDA provider is used when it loads and works, else the
CPU provider, and :attr:`Embedder.provider` says which one actually runs (``get_device()`` is not
trusted: onnxruntime-gpu reports a GPU even where CUDA failed to load). Every vector leaves this
module truncated to 256 dims and L2-normalised, in :func:`truncate_normalise` and nowhere else.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ModelError
from .model import STORED_DIMS, ModelFolder, check_tokenizer, load_error

if TYPE_CHECKING:
    import onnxruntime as ort
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

_cuda_failed = False

CUDA = "CUDAExecutionProvider"
CHUNK_TOKENS = 256  # passages: long enough for meaning, short enough for a useful snippet
CHUNK_OVERLAP = 32
CPU = "CPUExecutionProvider"


def truncate_normalise(raw: npt.NDArray[Any], dims: int = STORED_DIMS) -> Vectors:
    """Matryoshka: keep the first ``dims`` values and rescale to unit length."""
    head = np.asarray(raw, dtype=np.float32)[:, :dims]
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(head / norms, dtype=np.float32)


def default_threads() -> int:
    """Leave a core for the GUI and the decoders."""
    return max(1, (os.cpu_count() or 2) - 1)


def cuda_provider_present() -> bool:
    """Whether onnxruntime's CUDA provider library is installed (a bundle may leave it out
    even though onnxruntime-gpu still lists the provider)."""
    import onnxruntime as ort

    capi = Path(ort.__file__).parent / "capi"
    names = ("libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll")
    return any((capi / name).exists() for name in names)


def preload_cuda_libraries() -> None:
    """Let onnxruntime find CUDA and cuDNN from NVIDIA's pip wheels.

    ``preload_dlls`` prints what it could not find; that must not reach stdout (``--json``), so
    it goes to the log instead.
    """
    import onnxruntime as ort

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            ort.preload_dlls()
    except Exception as exc:  # best effort: the session says what failed
        log.debug("preload_dlls failed: %s", exc)
    if buf.getvalue().strip():
        log.info("CUDA libraries: %s", buf.getvalue().strip())


@dataclass
class Stats:
    """How much work the towers did; tests count these to prove what was not re-embedded."""

    images: int = 0
    texts: int = 0
    image_batches: int = 0
    text_batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Embedder:
    def __init__(
        self,
        model: ModelFolder,
        *,
        device: str = "auto",
        threads: int | None = None,
        batch_size: int = 8,
    ) -> None:
        if device not in ("auto", "cpu", "cuda"):
            raise ModelError(f"unknown device {device!r}", "use auto, cpu or cuda")
        self.model = model
        self.device = device
        self.threads = threads or default_threads()
        self.batch_size = batch_size
        self.stats = Stats()
        self.provider_note = ""
        self._lock = threading.Lock()
        self._text: ort.InferenceSession | None = None
        self._vision: ort.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._text_inputs: set[str] = set()
        self._chunker: Tokenizer | None = None

    # -- sessions ----------------------------------------------------------------------------

    def _providers(self) -> list[str]:
        import onnxruntime as ort

        available = ort.get_available_providers()
        if self.device == "cpu":
            return [CPU]
        if CUDA in available and not _cuda_failed and cuda_provider_present():
            return [CUDA, CPU]
        if self.device == "cuda":
            raise ModelError(
                "the CUDA provider is not available in this onnxruntime",
                "install the GPU build (onnxruntime-gpu) or use --device cpu",
            )
        return [CPU]

    def _session(self, filename: str) -> ort.InferenceSession:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # EXTENDED or higher: at BASIC the fp16 vision branch on CUDA returns one vector for all.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        providers = self._providers()
        if CUDA in providers:
            preload_cuda_libraries()
        # onnxruntime logs a failed CUDA start as an error on stderr; this module reports it.
        ort.set_default_logger_severity(4)
        path = self.model.file(filename)
        try:
            session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:
            raise load_error(path, exc) from exc
        global _cuda_failed
        if CUDA in providers and CUDA not in session.get_providers():
            _cuda_failed = True  # do not pay for a failed CUDA start again in this process
            if self.device == "cuda":
                raise ModelError(
                    "the CUDA provider failed to start",
                    "check the NVIDIA driver and the CUDA/cuDNN libraries, or use --device cpu",
                )
        self.provider_note = self._note(session)
        return session

    def _note(self, session: ort.InferenceSession) -> str:
        """Why the towers run where they run, in words for the user."""
        import onnxruntime as ort

        if CUDA in session.get_providers():
            return "running on the GPU (CUDA)"
        if self.device == "cpu":
            return "running on the CPU as asked"
        if CUDA not in ort.get_available_providers() or not cuda_provider_present():
            return "running on the CPU: this build of onnxruntime has no GPU support"
        return (
            "running on the CPU: CUDA could not start (no NVIDIA GPU, or its CUDA/cuDNN "
            "libraries are missing)"
        )

    def _ensure_text(self) -> tuple[ort.InferenceSession, Tokenizer]:
        with self._lock:
            if self._text is None or self._tokenizer is None:
                from tokenizers import Tokenizer

                try:
                    tok = Tokenizer.from_file(str(self.model.file(self.model.text.tokenizer)))
                except Exception as exc:
                    raise ModelError(f"cannot read the tokenizer: {exc}") from exc
                check_tokenizer(self.model, tok.get_vocab_size())
                tok.no_padding()
                tok.enable_truncation(self.model.text.max_tokens)
                session = self._session(self.model.text.file)
                self._text_inputs = {i.name for i in session.get_inputs()}
                if "input_ids" not in self._text_inputs:
                    raise ModelError("the text tower has no input named input_ids")
                self._tokenizer, self._text = tok, session
            return self._text, self._tokenizer

    def _ensure_vision(self) -> ort.InferenceSession:
        with self._lock:
            if self._vision is None:
                session = self._session(self.model.vision_file)
                if "pixel_values" not in {i.name for i in session.get_inputs()}:
                    raise ModelError("the vision tower has no input named pixel_values")
                if CUDA in session.get_providers() and not self.vision_distinguishes(session):
                    # A known trap: some fp16 graphs on CUDA give one vector for every image.
                    if self.device == "cuda":
                        raise ModelError(
                            "on the GPU the vision tower gives the same vector for different "
                            "images",
                            "use --device cpu, or another variant of the model",
                        )
                    self.device = "cpu"
                    session = self._session(self.model.vision_file)
                    self.provider_note = (
                        "running on the CPU: on the GPU the vision tower failed its self-test "
                        "(different images, same vector)"
                    )
                self._vision = session
            return self._vision

    def vision_distinguishes(self, session: ort.InferenceSession) -> bool:
        """Self-test: two very different images must not give the same vector."""
        size = self.model.vision.image_size
        # A flat grey picture and one with a bright top-left and a dark, tinted rest: they differ
        # in layout and colour, which every image model sees (plain noise averages to grey).
        shaped = np.full((3, size, size), -1.0, dtype=np.float32)
        shaped[:, : size // 2, : size // 2] = 1.5
        shaped[0] += 0.8
        pixels = np.stack([np.zeros((3, size, size), dtype=np.float32), shaped])
        raw = session.run([self.model.vision_output], {"pixel_values": pixels})[0]
        a, b = truncate_normalise(raw)
        return bool(np.all(np.isfinite(raw))) and float(a @ b) < 0.9999

    @property
    def provider(self) -> str:
        """The provider that actually runs the loaded towers (loads the text tower if needed)."""
        session = self._text or self._vision or self._ensure_text()[0]
        return str(session.get_providers()[0])

    def close(self) -> None:
        with self._lock:
            self._text = self._vision = None
            self._tokenizer = None

    # -- embedding ---------------------------------------------------------------------------

    def tokenize(self, texts: Sequence[str], *, query: bool) -> dict[str, npt.NDArray[np.int64]]:
        _, tok = self._ensure_text()
        prefix = self.model.text.query_prefix if query else ""
        encodings = tok.encode_batch([prefix + t for t in texts])
        longest = max((len(e.ids) for e in encodings), default=1) or 1
        pad = self.model.text.pad_id
        ids = np.full((len(texts), longest), pad, dtype=np.int64)
        mask = np.zeros((len(texts), longest), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids}
        if "attention_mask" in self._text_inputs:
            feeds["attention_mask"] = mask
        return feeds

    def chunk_text(
        self, text: str, size: int = CHUNK_TOKENS, overlap: int = CHUNK_OVERLAP
    ) -> list[str]:
        """Split a document's text into passages of at most ``size`` tokens that overlap.

        Token-aware (the model's own tokenizer, so nothing is cut off at ``max_tokens``); each
        passage is a slice of the original text, so it can be shown as a snippet.
        """
        if not text.strip():
            return []
        self._ensure_text()
        with self._lock:
            if self._chunker is None:
                from tokenizers import Tokenizer

                chunker = Tokenizer.from_file(str(self.model.file(self.model.text.tokenizer)))
                chunker.no_truncation()
                chunker.no_padding()
                self._chunker = chunker
            chunker = self._chunker
        size = max(8, min(size, self.model.text.max_tokens - 2))
        overlap = max(0, min(overlap, size // 2))
        offsets = [o for o in chunker.encode(text, add_special_tokens=False).offsets if o[1] > o[0]]
        if not offsets:
            return []
        chunks = []
        start = 0
        while start < len(offsets):
            end = min(start + size, len(offsets))
            piece = text[offsets[start][0] : offsets[end - 1][1]].strip()
            if piece:
                chunks.append(piece)
            if end == len(offsets):
                break
            start = end - overlap
        return chunks

    def embed_texts(
        self, texts: Sequence[str], *, query: bool = False, count: bool = True
    ) -> Vectors:
        """Embed texts; ``query=True`` adds the model's query instruction (user queries only).
        ``count=False`` leaves ``stats`` alone (the engine's own calibration probes)."""
        session, _ = self._ensure_text()
        out = []
        for start in range(0, len(texts), self.batch_size):
            chunk = texts[start : start + self.batch_size]
            raw = session.run([self.model.text.output], self.tokenize(chunk, query=query))[0]
            out.append(truncate_normalise(raw))
            if not count:
                continue
            with self.stats.lock:
                self.stats.texts += len(chunk)
                self.stats.text_batches += 1
        if not out:
            return np.zeros((0, STORED_DIMS), dtype=np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self.embed_texts([text], query=True)[0]
        return vector

    def embed_pixels(self, pixels: npt.NDArray[np.float32], *, count: bool = True) -> Vectors:
        """Embed a batch of preprocessed images ``[n, 3, S, S]`` (``count``: as in embed_texts)."""
        session = self._ensure_vision()
        out = []
        for start in range(0, len(pixels), self.batch_size):
            chunk = np.ascontiguousarray(pixels[start : start + self.batch_size], dtype=np.float32)
            raw = session.run([self.model.vision_output], {"pixel_values": chunk})[0]
            out.append(truncate_normalise(raw))
            if not count:
                continue
            with self.stats.lock:
                self.stats.images += len(chunk)
                self.stats.image_batches += 1
        if not out:
            return np.zeros((0, STORED_DIMS), dtype=np.float32)
        return np.concatenate(out)
