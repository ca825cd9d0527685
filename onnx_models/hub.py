"""``lanterna model download``: fetch jina-clip-v2 from the Hugging Face Hub and install it.

The steps, each one a function the GUI's first-run dialog can call as well:

1. :func:`resolve_revision`: a download is pinned to a commit (:data:`release.TESTED_REVISION`
   unless ``--revision`` names another); a branch name is refused, since it can move.
2. :func:`plan_download`: one request asks the Hub for the size and checksum (the LFS SHA-256, or
   the git blob id of a small file) of every file of the chosen variant at that commit, so the
   user sees the licence and the size before agreeing.
3. :func:`download`: ``huggingface_hub.hf_hub_download`` fetches each file into
   ``DATA/downloads/`` (progress bars on stderr; a dropped connection is resumed with range
   requests, and files already complete from an earlier attempt are kept), every file is checked
   against the Hub's checksum, the combined graph is split into the towers, the manifest is
   written, the folder is verified and self-tested and swapped in; the download folder is deleted
   unless ``keep``. ``progress`` hears how many bytes have arrived and ``cancel`` stops the
   download between two chunks (the GUI's dialog uses both); a cancelled download leaves no model
   folder and no partial files behind.

Privacy: the only hosts contacted are the Hub endpoint (``HF_ENDPOINT``, default
``https://huggingface.co``) and the storage it redirects to. No token is sent unless ``HF_TOKEN``
is set, and huggingface_hub's telemetry (its user-agent probing) is switched off.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.errors import Cancelled, ModelError

from . import release
from .errors import DownloadError
from .importer import (
    Installed,
    Report,
    check_target,
    git_blob_id,
    import_combined,
    install,
    staging_dir,
)

DEFAULT_ENDPOINT = "https://huggingface.co"
HOOKED_CHUNK_SIZE = 1 << 20  # with a progress hook or Cancel: report (and stop) every 1 MiB
OFFLINE_ADVICE = (
    "download the model on a machine with internet access (see docs/model.md, “Offline”), "
    "copy the folder here and run `lanterna model import DIR`"
)


Progress = Callable[[int, int], None]
"""``progress(done, total)``: bytes of the planned files fetched so far, and in all."""


def _quiet(_: str) -> None:
    pass


def endpoint() -> str:
    """The Hub to use: ``HF_ENDPOINT`` (read now, not when huggingface_hub was imported)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _offline_env() -> bool:
    values = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(v.strip().upper() in {"1", "ON", "YES", "TRUE"} for v in values)


def _token() -> str | bool:
    """Only a token the user set for this purpose is sent; never one found on disk."""
    return os.environ.get("HF_TOKEN") or False


def _hub() -> Any:
    """huggingface_hub, imported on first use with its telemetry switched off."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import huggingface_hub
    from huggingface_hub import constants

    constants.HF_HUB_DISABLE_TELEMETRY = True
    return huggingface_hub


def _library_version() -> str:
    from engine import __version__

    return str(__version__)


# --- errors ---------------------------------------------------------------------------------


def _is_network_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    network = {
        "ConnectError",
        "ConnectTimeout",
        "TimeoutException",
        "NetworkError",
        "TransportError",
        "ProxyError",
        "ConnectionError",
        "OfflineModeIsEnabled",
        "LocalEntryNotFoundError",
    }
    return bool(names & network) or isinstance(exc, (ConnectionError, TimeoutError))


@contextmanager
def _hub_errors(host: str, what: str) -> Iterator[None]:
    """Turn what huggingface_hub raises into one-line errors that say what to do."""
    if _offline_env():
        raise DownloadError(
            f"downloads are switched off (HF_HUB_OFFLINE is set), so {OFFLINE_ADVICE}"
        )
    _hub()
    errors = importlib.import_module("huggingface_hub.errors")
    entry_missing = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)
    try:
        yield
    except ModelError:
        raise
    except errors.RevisionNotFoundError as exc:
        raise DownloadError(
            f"{host} has no revision {what} of {release.REPO_ID}", "check --revision"
        ) from exc
    except entry_missing as exc:
        raise DownloadError(f"{what} is not in {release.REPO_ID} on {host}") from exc
    except errors.RepositoryNotFoundError as exc:
        raise DownloadError(f"{host} does not have {release.REPO_ID}") from exc
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", "an error")
        raise DownloadError(
            f"{host} answered {status} while fetching {what}; try again later, or {OFFLINE_ADVICE}"
        ) from exc
    except Exception as exc:
        if _is_network_error(exc):
            raise DownloadError(f"{host} cannot be reached, so {OFFLINE_ADVICE}") from exc
        raise


# --- plan -----------------------------------------------------------------------------------


def latest_commit(*, hub_endpoint: str | None = None) -> str:
    """The commit the release branch points at now; the download is then pinned to it."""
    url = (hub_endpoint or endpoint()).rstrip("/")
    host = urlparse(url).netloc or url
    with _hub_errors(host, release.RELEASE_BRANCH):
        api = _hub().HfApi(
            endpoint=url, library_name="lanterna", library_version=_library_version()
        )
        info = api.model_info(release.REPO_ID, revision=release.RELEASE_BRANCH, token=_token())
    sha = str(getattr(info, "sha", "") or "").lower()
    if not release.is_commit(sha):
        raise DownloadError(f"{host} did not say which commit {release.REPO_ID} is at")
    return sha


def resolve_revision(revision: str | None, *, hub_endpoint: str | None = None) -> str:
    """The commit to download: ``revision`` if given, else the one Lanterna was tested with,
    else the commit the release branch points at now (every file is still checked against
    the Hub's checksums for that commit)."""
    chosen = revision or release.TESTED_REVISION
    if chosen is None:
        return latest_commit(hub_endpoint=hub_endpoint)
    if not release.is_commit(chosen.lower()):
        raise ModelError(
            f"--revision must be a full commit id (40 hex digits), not {chosen!r}",
            "branch and tag names can move, so they cannot vouch for the files",
        )
    return chosen.lower()


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    sha256: str | None
    """The LFS SHA-256 the Hub reports (None for a small file kept in git)."""
    blob_id: str
    """The git blob id (SHA-1 of ``blob <size>\\0`` + content)."""


@dataclass(frozen=True)
class DownloadPlan:
    repo_id: str
    revision: str
    variant: release.Variant
    files: tuple[RemoteFile, ...]
    endpoint: str

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def host(self) -> str:
        return urlparse(self.endpoint).netloc or self.endpoint

    def file(self, path: str) -> RemoteFile | None:
        return next((f for f in self.files if f.path == path), None)

    def describe(self) -> str:
        """The licence, the files and their sizes, as the consent prompt shows them."""
        width = max(len(f.path) for f in self.files)
        lines = [
            f"{self.repo_id} at {self.revision[:12]}, variant {self.variant.name} "
            f"({self.variant.note}), from {self.host}:"
        ]
        lines += [f"  {f.path:<{width}}  {release.human_bytes(f.size):>10}" for f in self.files]
        lines.append(
            f"  download {release.human_bytes(self.total_bytes)}; the split towers take about "
            "as much again while they are written"
        )
        lines.append(
            f"Licence: {release.LICENCE} ({release.LICENCE_URL}): {release.LICENCE_SUMMARY}."
        )
        return "\n".join(lines)


def plan_download(variant: str, revision: str, *, hub_endpoint: str | None = None) -> DownloadPlan:
    """Ask the Hub what the variant's files are at ``revision`` (sizes and checksums)."""
    if variant not in release.VARIANTS:
        raise ModelError(f"unknown variant {variant!r}", f"use {', '.join(release.VARIANTS)}")
    chosen = release.VARIANTS[variant]
    url = (hub_endpoint or endpoint()).rstrip("/")
    host = urlparse(url).netloc or url
    wanted = [chosen.graph, *chosen.external_data, release.TOKENIZER_FILE]
    with _hub_errors(host, revision[:12]):
        api = _hub().HfApi(
            endpoint=url, library_name="lanterna", library_version=_library_version()
        )
        entries = api.get_paths_info(release.REPO_ID, wanted, revision=revision, token=_token())
    found: dict[str, RemoteFile] = {}
    for entry in entries:
        size = getattr(entry, "size", None)
        if size is None:  # a folder
            continue
        lfs = getattr(entry, "lfs", None)
        sha = getattr(lfs, "sha256", None) if lfs is not None else None
        found[entry.path] = RemoteFile(entry.path, int(size), sha, str(entry.blob_id))
    for required in (chosen.graph, release.TOKENIZER_FILE):
        if required not in found:
            raise DownloadError(
                f"{release.REPO_ID} at {revision[:12]} has no {required}",
                "that revision may predate the ONNX files: pass another --revision",
            )
    files = tuple(found[p] for p in wanted if p in found)
    return DownloadPlan(release.REPO_ID, revision, chosen, files, url)


# --- download -------------------------------------------------------------------------------


def download_dir(data_dir: Path, plan: DownloadPlan) -> Path:
    name = plan.repo_id.replace("/", "--")
    return data_dir / "downloads" / f"{name}-{plan.revision[:12]}"


def _check_integrity(path: Path, remote: RemoteFile, local_dir: Path) -> None:
    from engine.model import sha256_file

    size = path.stat().st_size
    if size != remote.size:
        ok, detail = False, f"{size} bytes instead of {remote.size}"
    elif remote.sha256:
        ok = sha256_file(path) == remote.sha256.lower()
        detail = "its SHA-256 differs from the Hub's"
    else:
        ok = git_blob_id(path) == remote.blob_id.lower()
        detail = "its git id differs from the Hub's"
    if not ok:
        path.unlink(missing_ok=True)
        meta = local_dir / ".cache" / "huggingface" / "download" / f"{remote.path}.metadata"
        meta.unlink(missing_ok=True)
        raise DownloadError(
            f"{remote.path} arrived damaged ({detail}) and was deleted",
            "run the download again",
        )


def _check_space(folder: Path, plan: DownloadPlan) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    have = sum((folder / f.path).stat().st_size for f in plan.files if (folder / f.path).is_file())
    need = 2 * plan.total_bytes - have
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DownloadError(
            f"not enough free space in {folder}: {release.human_bytes(need)} needed, "
            f"{release.human_bytes(free)} free",
            "free some space, or move the data folder with --data-dir",
        )


def _stop_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("the download was cancelled; nothing was installed")


def _hook_class(on_bytes: Callable[[int], None], cancel: threading.Event | None) -> Any:
    """A progress-bar class for huggingface_hub that draws nothing: it hands the byte count of
    the file in flight to ``on_bytes`` and ends the transfer (raises :class:`Cancelled` from
    ``update``) once ``cancel`` is set."""
    from tqdm import tqdm

    class Hook(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.n = int(kwargs.get("initial") or 0)
            on_bytes(self.n)

        def update(self, n: float | None = 1) -> bool | None:
            _stop_if_cancelled(cancel)
            self.n += int(n or 0)
            on_bytes(self.n)
            return None

        # Xet transfers also report network bytes; those written are what update() counts.
        def update_transfer(self, n: float | None = 1) -> None:
            _stop_if_cancelled(cancel)

        def set_transfer_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            pass

    return Hook


def fetch_files(
    plan: DownloadPlan,
    local_dir: Path,
    *,
    tqdm_class: Any = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Path]:
    """Fetch (or find, from an earlier attempt) every planned file, each checked.

    With ``progress`` or ``cancel``, huggingface_hub's progress bars give way to them (and
    ``tqdm_class`` is not used)."""
    _check_space(local_dir, plan)
    out: dict[str, Path] = {}
    cache = local_dir.parent / ".hub-cache"
    total = plan.total_bytes
    done = 0

    def tell(in_flight: int) -> None:
        if progress is not None:
            progress(min(done + in_flight, total), total)

    hooked = progress is not None or cancel is not None
    if hooked:
        tqdm_class = _hook_class(tell, cancel)
    with _chunks_of(HOOKED_CHUNK_SIZE if hooked else None):
        tell(0)
        for remote in plan.files:
            _stop_if_cancelled(cancel)
            out[remote.path] = _fetch_one(plan, remote, local_dir, cache, tqdm_class)
            done += remote.size
            tell(0)
    return out


@contextmanager
def _chunks_of(size: int | None) -> Iterator[None]:
    """huggingface_hub hands data over in pieces of ``DOWNLOAD_CHUNK_SIZE`` (10 MB); a progress
    bar and Cancel that answer at once need smaller ones."""
    _hub()
    from huggingface_hub import constants

    before = constants.DOWNLOAD_CHUNK_SIZE
    if size is not None:
        constants.DOWNLOAD_CHUNK_SIZE = min(before, size)
    try:
        yield
    finally:
        constants.DOWNLOAD_CHUNK_SIZE = before


def _fetch_one(
    plan: DownloadPlan, remote: RemoteFile, local_dir: Path, cache: Path, tqdm_class: Any
) -> Path:
    with _hub_errors(plan.host, remote.path):
        local = _hub().hf_hub_download(
            plan.repo_id,
            remote.path,
            revision=plan.revision,
            local_dir=local_dir,
            cache_dir=cache,
            endpoint=plan.endpoint,
            token=_token(),
            library_name="lanterna",
            library_version=_library_version(),
            tqdm_class=tqdm_class,
        )
    path = Path(local)
    _check_integrity(path, remote, local_dir)
    return path


def _remove_download(local_dir: Path) -> None:
    shutil.rmtree(local_dir, ignore_errors=True)
    shutil.rmtree(local_dir.parent / ".hub-cache", ignore_errors=True)
    with contextlib.suppress(OSError):
        local_dir.parent.rmdir()  # only when no other download is kept there


def download(
    plan: DownloadPlan,
    *,
    data_dir: Path,
    model_dir: Path,
    keep: bool = False,
    device: str = "auto",
    tqdm_class: Any = None,
    report: Report = _quiet,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> tuple[Installed, Path | None]:
    """Fetch, split, verify and install; returns what was installed and the kept download.

    ``progress(done, total)`` hears the bytes fetched; once ``cancel`` is set the download stops
    (within a chunk while fetching, else before the next step) and raises :class:`Cancelled`,
    leaving the model folder as it was and deleting what was fetched."""
    check_target(model_dir)
    local_dir = download_dir(data_dir, plan)

    def step(message: str) -> None:
        _stop_if_cancelled(cancel)
        report(message)

    staged: Path | None = None
    try:
        step(f"downloading into {local_dir}…")
        files = fetch_files(
            plan, local_dir, tqdm_class=tqdm_class, progress=progress, cancel=cancel
        )
        staged = staging_dir(model_dir, "download")
        import_combined(
            files[plan.variant.graph],
            staged,
            variant=plan.variant.name,
            revision=plan.revision,
            tokenizer=files[release.TOKENIZER_FILE],
            check_hub_record=False,
            report=step,
        )
        _stop_if_cancelled(cancel)
        installed = install(
            staged,
            model_dir,
            device=device,
            source=f"{plan.repo_id} at {plan.revision} ({plan.variant.name}) from {plan.host}",
            report=step,
        )
    except Exception as exc:
        if cancel is None or not cancel.is_set():
            raise
        _remove_download(local_dir)
        if isinstance(exc, Cancelled):
            raise
        raise Cancelled("the download was cancelled; nothing was installed") from exc
    finally:
        if staged is not None and staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    if keep:
        return installed, local_dir
    _remove_download(local_dir)
    return installed, None
