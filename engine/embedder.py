"""Running the two towers with ONNX Runtime: tokenise, batch, embed, truncate, normalise.

Where the towers run. Sessions load lazily under a lock; the engine tries the accelerators that
this onnxruntime build offers, in this order, and uses the first one it can trust:

1. CUDA (``onnxruntime-gpu``, NVIDIA GPUs on Linux and Windows);
2. DirectML (``onnxruntime-directml``, any DirectX 12 GPU on Windows: AMD, Intel, NVIDIA);
3. CoreML (plain ``onnxruntime`` on macOS: the Apple GPU and Neural Engine);
4. OpenVINO (``onnxruntime-openvino``, only where OpenVINO sees an Intel GPU or NPU);
5. the CPU.

An accelerator is trusted only after two checks on its vision session: two very different images
must give different vectors (a known fp16 trap), and its vectors for the self-test images must
match the CPU's (cosine ≥ :data:`PARITY_MIN`). The parity verdict is remembered per model,
provider and onnxruntime version in ``trust_file`` when one is given, so the CPU run is paid once.
:attr:`Embedder.provider` says which provider actually runs (``get_device()`` is not trusted:
onnxruntime-gpu reports a GPU even where CUDA failed to load) and :attr:`Embedder.provider_note`
says why, in one line for the user.

Threads and batch sizes come from measurements (docs/benchmarks.md, "Real-scale figures"), not
from a fixed rule: see :func:`tuning_for`. Every vector leaves this module truncated to 256 dims
and L2-normalised, in :func:`truncate_normalise` and nowhere else.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import sys
import threading
import time
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

_failed: set[str] = set()  # accelerators that failed to start or to be trusted in this process

CUDA = "CUDAExecutionProvider"
DIRECTML = "DmlExecutionProvider"
COREML = "CoreMLExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
CPU = "CPUExecutionProvider"
ACCELERATORS = (CUDA, DIRECTML, COREML, OPENVINO)  # the order in which they are tried
DEVICES = ("auto", "cpu", "cuda", "directml", "coreml", "openvino")
_DEVICE_PROVIDER = {"cuda": CUDA, "directml": DIRECTML, "coreml": COREML, "openvino": OPENVINO}
_NAMES = {
    CUDA: "the GPU (CUDA)",
    DIRECTML: "the GPU (DirectML)",
    COREML: "the GPU / Neural Engine (CoreML)",
    OPENVINO: "the Intel GPU/NPU (OpenVINO)",
    CPU: "the CPU",
}
PARITY_MIN = 0.99  # cosine of an accelerator's vector to the CPU's, per self-test image
CHUNK_TOKENS = 256  # passages: long enough for meaning, short enough for a useful snippet
CHUNK_OVERLAP = 32


def truncate_normalise(raw: npt.NDArray[Any], dims: int = STORED_DIMS) -> Vectors:
    """Matryoshka: keep the first ``dims`` values and rescale to unit length."""
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] < dims:
        raise ModelError(
            f"a tower gave vectors of shape {list(raw.shape)}, not [batch, ≥ {dims}]",
            "the model folder does not follow the model contract: use another model",
        )
    head = np.asarray(raw, dtype=np.float32)[:, :dims]
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(head / norms, dtype=np.float32)


def default_threads() -> int:
    """Intra-op threads for a tower on the CPU: every core (see :func:`tuning_for`)."""
    return tuning_for(CPU).vision_threads


@dataclass(frozen=True)
class Tuning:
    """Threads and batch sizes for one provider, and the measurement they come from."""

    vision_batch: int
    text_batch: int
    vision_threads: int
    text_threads: int
    why: str


def tuning_for(provider: str, cores: int | None = None) -> Tuning:
    """Batch sizes and intra-op threads per provider, chosen from the benchmark's figures.

    CPU (stand-in towers of the real size, 2 cores, docs/benchmarks.md): the vision tower gets
    every core, because a 12-MP JPEG decodes in ~50 ms on one core while the tower takes
    seconds per photo, so the decode threads are mostly idle (on a quiet machine cores − 1
    threads indexed at 0.18 photos/s, all cores at 0.29–0.34). On a machine that other programs
    keep busy one thread did better (5.7 s against 6.6 s per photo at a load of 5 on 2 cores),
    but then the policy in :mod:`engine.schedule` pauses indexing anyway. Batch 1, because batch
    4 is no faster per photo on the CPU provider, needs 1.6–2.5× the memory, and with dynamic
    int8 a photo's vector would depend on its batch mates (activation scales are per batch:
    cosine 0.989 to the same photo alone). The text tower answers a query on one thread: 44 ms
    against 81 ms on two (int8, 22 tokens), and it must not fight the indexer for the cores.
    GPUs: batch 8 images (one launch for eight, memory is not the limit), texts 16, and two
    CPU threads for what the provider leaves on the CPU.
    """
    cores = max(1, cores or os.cpu_count() or 2)
    if provider == CPU:
        return Tuning(
            vision_batch=1,
            text_batch=1,
            vision_threads=cores,
            text_threads=1,
            why="CPU: all cores for photos, one for queries, batch 1 (measured)",
        )
    return Tuning(
        vision_batch=8,
        text_batch=16,
        vision_threads=min(2, cores),
        text_threads=min(2, cores),
        why=f"{_NAMES.get(provider, provider)}: batch 8 images, 16 texts",
    )


def provider_options(provider: str) -> dict[str, str]:
    """Options for an accelerator's provider (OpenVINO: the Intel GPU or NPU it found)."""
    if provider == OPENVINO:
        device = openvino_device()
        return {"device_type": device} if device else {}
    return {}


def openvino_device() -> str | None:
    """``GPU`` or ``NPU`` when OpenVINO sees one (its CPU plugin is no gain over ours)."""
    try:
        import openvino
    except ImportError:
        return None
    try:
        devices = [str(d) for d in openvino.Core().available_devices]
    except Exception as exc:  # a broken driver: stay on the CPU
        log.debug("OpenVINO could not list devices: %s", exc)
        return None
    for wanted in ("GPU", "NPU"):
        if any(d.split(".")[0] == wanted for d in devices):
            return wanted
    return None


def accelerator_usable(provider: str, available: Sequence[str]) -> bool:
    """Whether ``provider`` is offered by this onnxruntime and can run here at all."""
    if provider not in available or provider in _failed:
        return False
    if provider == CUDA:
        return cuda_provider_present() and nvidia_driver_present()
    if provider == DIRECTML:
        return sys.platform == "win32"
    if provider == COREML:
        return sys.platform == "darwin"
    if provider == OPENVINO:
        return openvino_device() is not None
    return False


def cuda_provider_present() -> bool:
    """Whether onnxruntime's CUDA provider library is installed (a bundle may leave it out
    even though onnxruntime-gpu still lists the provider)."""
    import onnxruntime as ort

    capi = Path(ort.__file__).parent / "capi"
    names = ("libonnxruntime_providers_cuda.so", "onnxruntime_providers_cuda.dll")
    return any((capi / name).exists() for name in names)


@functools.cache
def nvidia_driver_present() -> bool:
    """Whether NVIDIA's driver library, which the CUDA provider needs before anything else,
    loads here. Without it a CUDA session cannot start: trying one anyway costs a second full
    session load (onnxruntime falls back to the CPU inside it), a second or more per tower and
    process on every machine that has onnxruntime-gpu but no NVIDIA GPU."""
    import ctypes

    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


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


_INSTALL_HINT = {
    CUDA: "install the GPU build (onnxruntime-gpu, see docs/model.md)",
    DIRECTML: "on Windows, install onnxruntime-directml in place of onnxruntime-gpu",
    COREML: "CoreML needs macOS (plain onnxruntime includes it)",
    OPENVINO: (
        "install onnxruntime-openvino in place of onnxruntime-gpu; it needs an Intel GPU or NPU"
    ),
}
_START_HINT = {
    CUDA: " (no NVIDIA GPU, or its CUDA/cuDNN libraries are missing)",
    DIRECTML: " (no DirectX 12 GPU, or its driver is too old)",
}


def vision_parity(
    model: ModelFolder, session: ort.InferenceSession, cpu: ort.InferenceSession
) -> float:
    """The lowest cosine between ``session``'s and the CPU's vectors for the self-test images.

    One image at a time (the CPU's cost is that of one batch-1 run per image).
    """
    size = model.vision.image_size
    rng = np.random.default_rng(1)
    images = [
        rng.normal(0.0, 1.0, (1, 3, size, size)).astype(np.float32),
        np.linspace(-1.5, 1.5, 3 * size * size, dtype=np.float32).reshape(1, 3, size, size),
    ]
    worst = 1.0
    for pixels in images:
        a = truncate_normalise(session.run([model.vision_output], {"pixel_values": pixels})[0])
        b = truncate_normalise(cpu.run([model.vision_output], {"pixel_values": pixels})[0])
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            return 0.0
        worst = min(worst, float(a[0] @ b[0]))
    return worst


@dataclass
class Stats:
    """How much work the towers did; tests count these to prove what was not re-embedded."""

    images: int = 0
    texts: int = 0
    image_batches: int = 0
    text_batches: int = 0
    vision_seconds: float = 0.0  # wall time inside the vision tower (the pipeline's busy share)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Embedder:
    def __init__(
        self,
        model: ModelFolder,
        *,
        device: str = "auto",
        threads: int | None = None,
        batch_size: int | None = None,
        trust_file: Path | None = None,
    ) -> None:
        if device not in DEVICES:
            raise ModelError(f"unknown device {device!r}", f"use one of {', '.join(DEVICES)}")
        self.model = model
        self.device = device
        self.threads = threads  # None: per tower and provider, from tuning_for()
        self._batch_size = batch_size  # None: per provider, from tuning_for()
        self.trust_file = trust_file
        self.stats = Stats()
        self.provider_note = ""
        self._lock = threading.Lock()
        self._text: ort.InferenceSession | None = None
        self._vision: ort.InferenceSession | None = None
        self._vision_nice: int | None = None  # the priority its threads were made at (Linux)
        self._tokenizer: Tokenizer | None = None
        self._text_inputs: set[str] = set()
        self._chunker: Tokenizer | None = None
        self._vision_used = time.monotonic()

    # -- sessions ----------------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        """Providers to try, best first (always ending with the CPU)."""
        import onnxruntime as ort

        available = ort.get_available_providers()
        if self.device == "cpu":
            return [CPU]
        if self.device != "auto":
            wanted = _DEVICE_PROVIDER[self.device]
            if not accelerator_usable(wanted, available):
                driverless = wanted == CUDA and wanted in available and cuda_provider_present()
                if driverless and not nvidia_driver_present():
                    raise ModelError(
                        "no NVIDIA GPU driver was found here for the cuda provider",
                        "install NVIDIA's driver for your GPU, or use --device cpu",
                    )
                raise ModelError(
                    f"the {self.device} provider is not available in this onnxruntime"
                    + (" (or failed to start here)" if wanted in _failed else ""),
                    _INSTALL_HINT[wanted] + ", or use --device cpu",
                )
            return [wanted, CPU]
        return [p for p in ACCELERATORS if accelerator_usable(p, available)] + [CPU]

    def planned_provider(self) -> str:
        """The provider a tower will run on, without loading one (the loaded one once loaded)."""
        session = self._vision or self._text
        if session is not None:
            return str(session.get_providers()[0])
        return self._candidates()[0]

    @property
    def tuning(self) -> Tuning:
        return tuning_for(self.planned_provider())

    @property
    def batch_size(self) -> int:
        """Images per vision run: as given, else the provider's measured best."""
        return self._batch_size or self.tuning.vision_batch

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        self._batch_size = value

    @property
    def text_batch_size(self) -> int:
        return self._batch_size or self.tuning.text_batch

    def _options(self, threads: int) -> ort.SessionOptions:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        # EXTENDED or higher: at BASIC the fp16 vision branch on CUDA returns one vector for all.
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        return opts

    def _open(self, filename: str, provider: str, threads: int) -> ort.InferenceSession:
        """One session on ``provider`` (with the CPU behind it for unsupported operators)."""
        import onnxruntime as ort

        if provider == CUDA:
            preload_cuda_libraries()
        # onnxruntime logs a failed accelerator start as an error on stderr; this module reports.
        ort.set_default_logger_severity(4)
        path = self.model.file(filename)
        providers: list[Any] = [CPU]
        if provider != CPU:
            providers = [(provider, provider_options(provider)), CPU]
        try:
            return ort.InferenceSession(
                str(path), sess_options=self._options(threads), providers=providers
            )
        except Exception as exc:
            raise load_error(path, exc) from exc

    def _session(self, filename: str, tower: str) -> ort.InferenceSession:
        """The first candidate provider that starts (and, for the vision tower, is trusted)."""
        reasons: list[str] = []
        for provider in self._candidates():
            threads = self.threads or getattr(tuning_for(provider), f"{tower}_threads")
            session = self._open(filename, provider, threads)
            if provider == CPU:
                self.provider_note = self._note(CPU, reasons, threads)
                return session
            if provider not in session.get_providers():
                _failed.add(provider)  # do not pay for a failed start again in this process
                reasons.append(f"{_NAMES[provider]} could not start{_START_HINT.get(provider, '')}")
            elif tower == "vision" and not self._trusted(session, provider, reasons):
                _failed.add(provider)
            elif tower == "text" and not self._texts_differ(session):
                reasons.append(
                    f"on {_NAMES[provider]} the text tower gave one vector for two texts"
                )
                _failed.add(provider)
            else:
                self.provider_note = self._note(provider, reasons, threads)
                return session
            if self.device != "auto":
                raise ModelError(
                    f"cannot use {_NAMES[provider]}: {reasons[-1]}",
                    "use --device cpu, or another variant of the model",
                )
        raise ModelError("no provider could run the model")  # unreachable: the CPU is last

    def _trusted(self, session: ort.InferenceSession, provider: str, reasons: list[str]) -> bool:
        """The two-images-differ self-test, then parity with the CPU (remembered per model)."""
        if not self.vision_distinguishes(session):
            # A known trap: some fp16 graphs on a GPU give one vector for every image.
            reasons.append(f"on {_NAMES[provider]} the vision tower gave one vector for two images")
            return False
        key = self._trust_key(provider)
        known = self._trust_cache().get(key)
        if known is None:
            log.info("checking %s against the CPU once for this model", _NAMES[provider])
            try:
                cpu = self._open(self.model.vision_file, CPU, tuning_for(CPU).vision_threads)
                known = vision_parity(self.model, session, cpu)
            except Exception as exc:  # a variant the CPU cannot run: the self-test must do
                log.warning("no CPU parity check for %s: %s", _NAMES[provider], exc)
                return True
            del cpu
            self._remember(key, known)
        if known < PARITY_MIN:
            reasons.append(
                f"on {_NAMES[provider]} the vision tower's vectors differ from the CPU's "
                f"(cosine {known:.3f} < {PARITY_MIN})"
            )
            return False
        return True

    def _trust_key(self, provider: str) -> str:
        import onnxruntime as ort

        return f"{self.model.manifest_hash}:{provider}:{ort.__version__}"

    def _trust_cache(self) -> dict[str, float]:
        if self.trust_file is None:
            return {}
        try:
            data = json.loads(self.trust_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _remember(self, key: str, parity: float) -> None:
        if self.trust_file is None:
            return
        cache = self._trust_cache()
        cache[key] = round(parity, 6)
        try:
            self.trust_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.trust_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1))
            os.replace(tmp, self.trust_file)
        except OSError as exc:
            log.warning("could not save the provider check: %s", exc)

    def _note(self, provider: str, reasons: Sequence[str], threads: int) -> str:
        """Where the towers run and why, in one line for the user."""
        import onnxruntime as ort

        if provider != CPU:
            return f"running on {_NAMES[provider]}" + (
                f" ({'; '.join(reasons)})" if reasons else ""
            )
        if self.device == "cpu":
            return "running on the CPU as asked"
        if self.threads:
            where = f"running on the CPU ({threads} thread{'s' if threads != 1 else ''})"
        else:
            t = tuning_for(CPU)
            where = (
                f"running on the CPU ({t.vision_threads} threads for photos, "
                f"{t.text_threads} for queries)"
            )
        if reasons:
            return f"{where}: {'; '.join(reasons)}"
        offered = [p for p in ACCELERATORS if p in ort.get_available_providers()]
        if not offered or (offered == [CUDA] and not cuda_provider_present()):
            return f"{where}: this build of onnxruntime has no GPU support"
        if offered == [CUDA] and not nvidia_driver_present():
            return f"{where}: no NVIDIA GPU driver here for the CUDA provider"
        return f"{where}: no usable GPU or NPU for {', '.join(_NAMES[p] for p in offered)}"

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
                session = self._session(self.model.text.file, "text")
                self._text_inputs = {i.name for i in session.get_inputs()}
                if "input_ids" not in self._text_inputs:
                    raise ModelError("the text tower has no input named input_ids")
                self._tokenizer, self._text = tok, session
            return self._text, self._tokenizer

    def _ensure_vision(self) -> ort.InferenceSession:
        from .schedule import thread_niceness

        nice = thread_niceness()
        with self._lock:
            made_at = self._vision_nice
            lowered = nice is not None and made_at is not None and nice > made_at
            if self._vision is not None and lowered:
                # Indexing (a lowered thread) meets a session that a query made: its threads,
                # made with the session, run at the query's priority. Make them again from here,
                # so that indexing yields to the desktop (a query then shares the lowered ones).
                log.info("the vision tower is loaded again at the indexing thread's priority")
                self._vision = None
            if self._vision is None:
                session = self._session(self.model.vision_file, "vision")
                if "pixel_values" not in {i.name for i in session.get_inputs()}:
                    raise ModelError("the vision tower has no input named pixel_values")
                self._vision = session
                self._vision_nice = nice
            return self._vision

    def _texts_differ(self, session: ort.InferenceSession) -> bool:
        """Self-test of a text session: two different token sequences, two different vectors."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self.model.file(self.model.text.tokenizer)))
        vectors = []
        for text in ("a red car", "snow on the mountains at night"):
            ids = np.asarray([tok.encode(text).ids], dtype=np.int64)
            feeds = {"input_ids": ids}
            if "attention_mask" in {i.name for i in session.get_inputs()}:
                feeds["attention_mask"] = np.ones_like(ids)
            vectors.append(truncate_normalise(session.run([self.model.text.output], feeds)[0]))
        a, b = vectors
        return (
            bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b))) and float(a[0] @ b[0]) < 0.9999
        )

    def self_test_pixels(self) -> npt.NDArray[np.float32]:
        """Two very different images: flat grey, and a shaped, tinted one."""
        size = self.model.vision.image_size
        # A flat grey picture and one with a bright top-left and a dark, tinted rest: they differ
        # in layout and colour, which every image model sees (plain noise averages to grey).
        shaped = np.full((3, size, size), -1.0, dtype=np.float32)
        shaped[:, : size // 2, : size // 2] = 1.5
        shaped[0] += 0.8
        return np.stack([np.zeros((3, size, size), dtype=np.float32), shaped])

    def vision_distinguishes(self, session: ort.InferenceSession) -> bool:
        """Self-test: two very different images must not give the same vector."""
        raw = session.run([self.model.vision_output], {"pixel_values": self.self_test_pixels()})[0]
        a, b = truncate_normalise(raw)
        return bool(np.all(np.isfinite(raw))) and float(a @ b) < 0.9999

    @property
    def provider(self) -> str:
        """The provider that actually runs the loaded towers (loads the text tower if needed)."""
        session = self._text or self._vision or self._ensure_text()[0]
        return str(session.get_providers()[0])

    @property
    def vision_loaded(self) -> bool:
        return self._vision is not None

    def release_vision(self) -> None:
        """Drop the vision session (its memory) while the text tower stays warm for queries."""
        with self._lock:
            self._vision = None

    def release_vision_if_idle(self, idle_s: float) -> bool:
        """Release the vision tower when it has not run for ``idle_s`` seconds."""
        with self._lock:
            if self._vision is None or time.monotonic() - self._vision_used < idle_s:
                return False
            self._vision = None
        log.info("the vision tower was idle for %.0f s: released (the text tower stays)", idle_s)
        return True

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
        step = self.text_batch_size
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
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
        self._vision_used = time.monotonic()
        out = []
        step = self.batch_size
        for start in range(0, len(pixels), step):
            chunk = np.ascontiguousarray(pixels[start : start + step], dtype=np.float32)
            began = time.perf_counter()
            raw = session.run([self.model.vision_output], {"pixel_values": chunk})[0]
            took = time.perf_counter() - began
            out.append(truncate_normalise(raw))
            if not count:
                continue
            with self.stats.lock:
                self.stats.images += len(chunk)
                self.stats.image_batches += 1
                self.stats.vision_seconds += took
        if not out:
            return np.zeros((0, STORED_DIMS), dtype=np.float32)
        return np.concatenate(out)
