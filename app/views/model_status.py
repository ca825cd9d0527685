"""The model's state in words, as the welcome page, the banner and the settings show it."""

from __future__ import annotations

from typing import Any

PROVIDERS = {
    "CUDAExecutionProvider": "the GPU (CUDA)",
    "CPUExecutionProvider": "the CPU",
    "CoreMLExecutionProvider": "Apple's Neural Engine / GPU (CoreML)",
    "DmlExecutionProvider": "the GPU (DirectML)",
}

REAL_MODEL = (
    "Lanterna needs the jina-clip-v2 model (about 1.7 GB in fp16; licence CC-BY-NC-4.0, free "
    "for personal, non-commercial use). “Get the model…” downloads it, showing the licence and "
    "the size first, or imports a folder copied from elsewhere; or choose a model folder you "
    "already have. Folders and files can be added meanwhile: their names and the words of "
    "documents can be searched at once, the rest as soon as the model is there."
)


def provider_text(provider: str | None) -> str:
    if not provider:
        return "not started yet"
    return PROVIDERS.get(provider, provider)


def describe(status: dict[str, Any] | None) -> tuple[str, str, str]:
    """(state, headline, details): state is "checking", "ready" or "missing"."""
    if status is None or not status.get("model_checked"):
        return "checking", "Checking the model…", ""
    error = status.get("model_error")
    if error:
        return "missing", "The model is missing or cannot be used", f"{error}\n\n{REAL_MODEL}"
    model = status.get("model") or {}
    name = model.get("id", "model")
    licence = model.get("licence")
    where = provider_text(status.get("provider"))
    headline = f"Ready: {name}" + (f" (licence {licence})" if licence else "")
    details = f"Runs on {where}. Model folder: {status.get('model_dir')}"
    note = status.get("provider_note")
    if note and "as asked" not in note:
        details += f"\n{note}"
    mismatch = status.get("index_mismatch")
    if mismatch:
        details += (
            f"\nThe index was made with another model ({mismatch.get('detail')}): rebuild it to "
            "search with this one."
        )
    return "ready", headline, details
