"""Where the towers run: the order of accelerators, the trust checks, threads and batch sizes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from engine import embedder as emb_module
from engine.embedder import (
    CPU,
    CUDA,
    DIRECTML,
    OPENVINO,
    PARITY_MIN,
    Embedder,
    accelerator_usable,
    tuning_for,
    vision_parity,
)
from engine.errors import ModelError
from engine.model import load


def test_cpu_tuning_uses_every_core_and_batch_one() -> None:
    cpu = tuning_for(CPU, cores=2)
    assert (cpu.vision_batch, cpu.vision_threads, cpu.text_threads) == (1, 2, 1)
    assert tuning_for(CPU, cores=8).vision_threads == 8
    assert tuning_for(CPU, cores=8).text_threads == 1
    gpu = tuning_for(CUDA, cores=8)
    assert gpu.vision_batch == 8 and gpu.text_batch == 16


def test_the_embedder_takes_its_batch_from_the_provider(toy_model: Path) -> None:
    emb = Embedder(load(toy_model), device="cpu")
    assert emb.batch_size == 1 and emb.text_batch_size == 1
    emb.embed_query("red")
    assert emb.provider == CPU and emb.provider_note == "running on the CPU as asked"
    assert emb._text is not None
    assert emb._text.get_session_options().intra_op_num_threads == tuning_for(CPU).text_threads
    given = Embedder(load(toy_model), device="cpu", batch_size=4)
    assert given.batch_size == 4


def test_auto_on_a_machine_without_accelerators_says_why(toy_model: Path) -> None:
    emb = Embedder(load(toy_model), device="auto")
    emb.embed_query("red")
    if emb.provider != CPU:
        pytest.skip(f"this machine runs {emb.provider}")
    note = emb.provider_note
    assert note.startswith("running on the CPU (") and "thread" in note
    offered = [p for p in emb_module.ACCELERATORS if p in ort.get_available_providers()]
    if offered:
        assert ":" in note  # the reason the offered accelerator was not used


def test_an_accelerator_not_built_in_is_one_clear_error(toy_model: Path) -> None:
    wanted = "coreml" if sys.platform != "darwin" else "directml"
    emb = Embedder(load(toy_model), device=wanted)
    with pytest.raises(ModelError) as caught:
        emb.embed_query("red")
    assert "--device cpu" in caught.value.one_line()
    assert not accelerator_usable(DIRECTML, [DIRECTML]) or sys.platform == "win32"
    assert not accelerator_usable(OPENVINO, [CPU])


def _session(folder: Path) -> ort.InferenceSession:
    model = load(folder)
    return ort.InferenceSession(str(model.file(model.vision_file)), providers=[CPU])


def test_parity_tells_a_matching_provider_from_a_wrong_one(
    toy_model: Path, other_toy_model: Path
) -> None:
    model = load(toy_model)
    same = vision_parity(model, _session(toy_model), _session(toy_model))
    assert same >= 0.9999
    wrong = vision_parity(model, _session(other_toy_model), _session(toy_model))
    assert wrong < PARITY_MIN


def test_an_untrusted_accelerator_is_refused_and_remembered(
    toy_model: Path, other_toy_model: Path, tmp_path: Path
) -> None:
    """A session whose vectors differ from the CPU's fails the check; the verdict is cached."""
    trust = tmp_path / "provider-checks.json"
    emb = Embedder(load(toy_model), device="auto", trust_file=trust)
    reasons: list[str] = []
    assert not emb._trusted(_session(other_toy_model), CUDA, reasons)
    assert "differ from the CPU" in reasons[0]
    cached = json.loads(trust.read_text())
    (key,) = cached
    assert key.startswith(f"{emb.model.manifest_hash}:{CUDA}:") and cached[key] < PARITY_MIN
    again: list[str] = []
    # the cached verdict decides without a CPU run (even handed a matching session now)
    assert not emb._trusted(_session(toy_model), CUDA, again)
    ok = Embedder(load(toy_model), device="auto", trust_file=tmp_path / "other.json")
    assert ok._trusted(_session(toy_model), CUDA, [])


def test_the_text_self_test_tells_two_texts_apart(toy_model: Path) -> None:
    model = load(toy_model)
    emb = Embedder(model, device="cpu")
    session = ort.InferenceSession(str(model.file(model.text.file)), providers=[CPU])
    assert emb._texts_differ(session)


def test_without_an_nvidia_driver_cuda_is_not_even_tried(toy_model: Path) -> None:
    if CUDA not in ort.get_available_providers() or not emb_module.cuda_provider_present():
        pytest.skip("this onnxruntime has no CUDA provider to skip")
    if emb_module.nvidia_driver_present():
        pytest.skip("this machine has NVIDIA's driver: the CUDA provider is tried")
    opened: list[str] = []
    emb = Embedder(load(toy_model), device="auto")
    real_open = emb._open

    def counting(filename: str, provider: str, threads: int) -> ort.InferenceSession:
        opened.append(provider)
        return real_open(filename, provider, threads)

    emb._open = counting  # type: ignore[method-assign]
    emb.embed_query("red")
    assert opened == [CPU]  # one session: no doomed CUDA start before it
    assert emb.provider_note.endswith("no NVIDIA GPU driver here for the CUDA provider")
    asked = Embedder(load(toy_model), device="cuda")
    with pytest.raises(ModelError) as caught:
        asked.embed_query("red")
    assert "no NVIDIA GPU driver" in caught.value.detail and "--device cpu" in caught.value.hint
