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
   unless ``keep``.

Privacy: the only hosts contacted are the Hub endpoint (``HF_ENDPOINT``, default
``https://huggingface.co``) and the storage it redirects to. No token is sent unless ``HF_TOKEN``
is set, and huggingface_hub's telemetry (its user-agent probing) is switched off.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engine.errors import ModelError

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
OFFLINE_ADVICE = (
    "download the model on a machine with internet access (see docs/model.md, “Offline”), "
    "copy the folder here and run `lanterna model import DIR`"
)


def _quiet(_: str) -> None:
    pass


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


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
        lines += [f"  {f.path:<{width}}  {human_bytes(f.size):>10}" for f in self.files]
        lines.append(
            f"  download {human_bytes(self.total_bytes)}; the split towers take about as much "
            "again while they are written"
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
            f"not enough free space in {folder}: {human_bytes(need)} needed, "
            f"{human_bytes(free)} free",
            "free some space, or move the data folder with --data-dir",
        )


def fetch_files(plan: DownloadPlan, local_dir: Path, *, tqdm_class: Any = None) -> dict[str, Path]:
    """Fetch (or find, from an earlier attempt) every planned file, each checked."""
    _check_space(local_dir, plan)
    out: dict[str, Path] = {}
    cache = local_dir.parent / ".hub-cache"
    for remote in plan.files:
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
        out[remote.path] = path
    return out


def download(
    plan: DownloadPlan,
    *,
    data_dir: Path,
    model_dir: Path,
    keep: bool = False,
    device: str = "auto",
    tqdm_class: Any = None,
    report: Report = _quiet,
) -> tuple[Installed, Path | None]:
    """Fetch, split, verify and install; returns what was installed and the kept download."""
    check_target(model_dir)
    local_dir = download_dir(data_dir, plan)
    report(f"downloading into {local_dir}…")
    files = fetch_files(plan, local_dir, tqdm_class=tqdm_class)
    staged = staging_dir(model_dir, "download")
    try:
        import_combined(
            files[plan.variant.graph],
            staged,
            variant=plan.variant.name,
            revision=plan.revision,
            tokenizer=files[release.TOKENIZER_FILE],
            check_hub_record=False,
            report=report,
        )
        installed = install(
            staged,
            model_dir,
            device=device,
            source=f"{plan.repo_id} at {plan.revision} ({plan.variant.name}) from {plan.host}",
            report=report,
        )
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
    if keep:
        return installed, local_dir
    shutil.rmtree(local_dir, ignore_errors=True)
    shutil.rmtree(local_dir.parent / ".hub-cache", ignore_errors=True)
    with contextlib.suppress(OSError):
        local_dir.parent.rmdir()  # only when no other download is kept there
    return installed, None
