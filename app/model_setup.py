"""The work behind the "Get the model" dialog, run on the bridge's workers.

What to download (the variant that suits this machine, and why; the Hub's sizes), the download and
the import themselves (``onnx_models``), and their errors as the one sentence the dialog shows.
The model tooling (onnx, ONNX Runtime, huggingface_hub) is imported here only inside functions,
which run on workers: importing this module on the GUI thread costs nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.views.model_status import provider_text
from engine.errors import Cancelled, LanternaError
from onnx_models.release import human_bytes as human_bytes  # light: no ONNX imports

if TYPE_CHECKING:
    from onnx_models.hub import DownloadPlan
    from onnx_models.importer import Installed

log = logging.getLogger(__name__)

T = TypeVar("T")

IMPORT_LABEL = "“Import a model folder…”"


class SetupError(LanternaError):
    """A download or an import failed; ``detail`` is one sentence saying what to do."""

    title = "Could not get the model"


@dataclass(frozen=True)
class ModelOffer:
    """What the dialog offers: the variant, why it suits this machine, where it is installed,
    and the Hub's plan (``None`` with ``error``, one sentence, when the Hub could not be asked)."""

    variant: str
    why: str
    note: str
    target: Path
    plan: DownloadPlan | None = None
    error: str | None = None


def _network_failure(exc: BaseException | None) -> bool:
    from onnx_models.hub import _is_network_error

    seen = 0
    while exc is not None and seen < 10:
        if _is_network_error(exc):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def explain(exc: BaseException) -> str:
    """The error in one clear sentence, with what to do about it."""
    from onnx_models.errors import DownloadError
    from onnx_models.hub import _offline_env, endpoint

    if isinstance(exc, DownloadError) and _offline_env():
        return _sentence(
            "Downloads are switched off (HF_HUB_OFFLINE is set): download the model on a "
            f"machine with internet access, copy its folder here and use {IMPORT_LABEL}"
        )
    if isinstance(exc, DownloadError) and _network_failure(exc.__cause__):
        host = endpoint().split("://", 1)[-1]
        return _sentence(
            f"Cannot reach the Hub ({host}): download the model on a machine with internet "
            f"access, copy its folder here and use {IMPORT_LABEL}"
        )
    if isinstance(exc, LanternaError):
        from app.views.errors import window_hint

        hint = window_hint(exc.hint)
        return _sentence(f"{exc.detail.rstrip('.')}" + (f" ({hint})" if hint else ""))
    from app.tasks import where_the_log_is

    return _sentence(f"{type(exc).__name__}: {exc} ({where_the_log_is()})")


def guarded(fn: Callable[[], T]) -> T:
    """Run ``fn``; any failure but a cancellation becomes a :class:`SetupError`."""
    try:
        return fn()
    except Cancelled:
        raise
    except Exception as exc:
        if not isinstance(exc, LanternaError):
            log.exception("getting the model failed")
        raise SetupError(explain(exc)) from exc


def model_target(data_dir: Any, model_dir: Any) -> Path:
    """The model folder in use: where a download or an import puts the model."""
    from engine import paths

    return paths.model_dir(model_dir, paths.data_dir(data_dir)).absolute()


def offer(data_dir: Any, model_dir: Any, device: str) -> ModelOffer:
    """Choose the variant for this machine and ask the Hub what it takes (never raises)."""
    from onnx_models import release
    from onnx_models.device import default_variant
    from onnx_models.hub import plan_download, resolve_revision
    from onnx_models.importer import check_target

    target = model_target(data_dir, model_dir)
    variant, why = default_variant(device)
    note = release.VARIANTS[variant].note
    try:
        check_target(target)
        plan = plan_download(variant, resolve_revision(None))
    except Exception as exc:
        if not isinstance(exc, LanternaError):
            log.exception("asking the Hub failed")
        return ModelOffer(variant, why, note, target, error=explain(exc))
    return ModelOffer(variant, why, note, target, plan=plan)


def download(
    plan: DownloadPlan,
    data_dir: Any,
    model_dir: Any,
    device: str,
    *,
    progress: Callable[[int, int], None],
    step: Callable[[str], None],
    cancel: threading.Event,
) -> Installed:
    from engine import paths
    from onnx_models import hub

    installed, _kept = hub.download(
        plan,
        data_dir=paths.data_dir(data_dir),
        model_dir=model_target(data_dir, model_dir),
        device=device,
        report=step,
        progress=progress,
        cancel=cancel,
    )
    return installed


def import_folder(
    source: Path, data_dir: Any, model_dir: Any, device: str, *, step: Callable[[str], None]
) -> Installed:
    from onnx_models.importer import import_model

    return import_model(source, model_target(data_dir, model_dir), device=device, report=step)


def installed_text(installed: Installed) -> str:
    """What was installed, in one sentence."""
    variant = f" ({installed.variant})" if installed.variant else ""
    text = f"Installed {installed.id}{variant} in {installed.model_dir}"
    if installed.self_test is not None:
        text += f"; its self-test passed on {provider_text(installed.self_test.provider)}"
    return text + "."
