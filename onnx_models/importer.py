"""``lanterna model import DIR``: install a model folder from local files (the offline path).

``DIR`` may be

* a folder that follows the model contract (it has a ``manifest.json``): it is validated, its
  listed checksums are checked, its files are copied, and checksums are added for any needed file
  the manifest did not list; or
* a folder holding the official combined graph (``onnx/model_fp16.onnx``, ``model.onnx`` with
  ``model.onnx_data``, … and ``tokenizer.json``), as ``hf download`` or a browser leaves it, or a
  path to the combined ``.onnx`` file itself: it is split into the two towers.

Either way the new folder is built beside the models folder, verified and self-tested, and only
then swapped in; a failure leaves the current model untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine import graph as engine_graph
from engine import model as model_folder
from engine.errors import ModelError

from . import release
from .manifest import (
    PREPROCESSOR_CONFIG,
    jina_clip_v2_manifest,
    needed_files,
    read_manifest,
    vision_preprocessing,
    write_manifest,
)
from .split import EXTERNAL_DATA_THRESHOLD, graph_files, split_combined
from .verify import SelfTest, self_test

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class Installed:
    """What an import or a download put in place."""

    model_dir: Path
    id: str
    revision: str
    variant: str | None
    source: str
    files: dict[str, int] = field(default_factory=dict)
    self_test: SelfTest | None = None
    replaced: str | None = None
    """The model that was there before, when it was a different one."""


# --- installing a finished folder -----------------------------------------------------------


def check_target(model_dir: Path) -> None:
    """Refuse to replace a folder that is not a model folder (before any long work starts)."""
    if model_dir.is_file():
        raise ModelError(f"{model_dir} is a file, not a model folder", "choose another --model")
    if (
        model_dir.is_dir()
        and not (model_dir / model_folder.MANIFEST).is_file()
        and any(model_dir.iterdir())
    ):
        raise ModelError(
            f"{model_dir} is not empty and is not a model folder, so it is left alone",
            "choose another --model folder, or empty this one",
        )


def staging_dir(model_dir: Path, what: str) -> Path:
    """A fresh folder beside ``model_dir`` (same file system, so the final swap is a rename)."""
    path = model_dir.parent / f".{model_dir.name}.{what}-{os.getpid()}"
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def install(
    staged: Path,
    model_dir: Path,
    *,
    device: str = "auto",
    run_self_test: bool = True,
    source: str = "",
    report: Report = _quiet,
) -> Installed:
    """Verify and self-test ``staged``, then make it ``model_dir`` (the old one is removed)."""
    model = model_folder.load(staged)
    model_folder.verify(model)
    result = Installed(
        model_dir=model_dir,
        id=model.id,
        revision=model.revision,
        variant=_str_or_none(read_manifest(staged).get("variant")),
        source=source,
        files={name: staged.joinpath(name).stat().st_size for name in model.sha256},
    )
    if run_self_test:
        report("self-testing the towers…")
        result.self_test = self_test(model, device=device)
        result.self_test.raise_if_failed()
    check_target(model_dir)
    if model_dir.is_dir() and (model_dir / model_folder.MANIFEST).is_file():
        try:
            old = model_folder.load(model_dir)
            if (old.id, old.revision, old.sha256) != (model.id, model.revision, model.sha256):
                result.replaced = f"{old.id} {old.revision}"
        except ModelError:
            result.replaced = "a damaged model folder"
    _swap(staged, model_dir)
    return result


def _swap(staged: Path, model_dir: Path) -> None:
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    if not model_dir.exists():
        os.replace(staged, model_dir)
        return
    old = model_dir.with_name(f".{model_dir.name}.old-{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    os.replace(model_dir, old)
    try:
        os.replace(staged, model_dir)
    except OSError:
        os.replace(old, model_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- copying --------------------------------------------------------------------------------


def copy_hashed(src: Path, dst: Path, chunk: int = 1 << 22) -> str:
    """Copy a file and return the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, dst.open("wb") as fout:
        while block := fin.read(chunk):
            digest.update(block)
            fout.write(block)
    return digest.hexdigest()


def _import_contract(src: Path, staged: Path, report: Report) -> str:
    model = model_folder.load(src)
    report(f"checking {model.id} {model.revision} in {src}…")
    model_folder.verify(model)  # listed checksums: a damaged or altered folder stops here
    manifest = read_manifest(src)
    known: dict[str, str] = {}
    for name in needed_files(src, manifest):
        digest = copy_hashed(src / name, staged / name)
        expected = model.sha256.get(name)
        if expected is not None and digest != expected:
            raise ModelError(f"{name} changed while it was being copied", "import it again")
        known[name] = digest
    write_manifest(staged, manifest, known=known)
    return f"model folder {src}"


# --- combined graphs ------------------------------------------------------------------------


def find_combined(src: Path, variant: str | None, device: str) -> tuple[Path, str | None]:
    """The combined graph to split in ``src`` (a folder or an .onnx file), and its variant."""
    if src.is_file():
        known = release.variant_for_file(src.name)
        return src, known.name if known else variant
    found: dict[str, Path] = {}
    for v in release.VARIANTS.values():
        for candidate in (src / v.graph, src / Path(v.graph).name):
            if candidate.is_file():
                found.setdefault(v.name, candidate)
    if variant is not None:
        if variant not in found:
            raise ModelError(
                f"{src} holds no {variant} graph ({release.VARIANTS[variant].graph})",
                f"it holds: {', '.join(sorted(found)) or 'no known graph'}",
            )
        return found[variant], variant
    if len(found) == 1:
        name, path = next(iter(found.items()))
        return path, name
    if found:
        from .device import default_variant

        preferred, _ = default_variant(device)
        if preferred in found:
            return found[preferred], preferred
        name = sorted(found)[0]
        return found[name], name
    others = sorted(p for d in (src, src / "onnx") if d.is_dir() for p in d.glob("*.onnx"))
    if len(others) == 1:
        return others[0], variant
    if others:
        raise ModelError(
            f"{src} holds several ONNX graphs ({', '.join(p.name for p in others)})",
            "pass the one to use: `lanterna model import PATH/TO/GRAPH.onnx`",
        )
    raise ModelError(
        f"{src} is neither a model folder (no manifest.json) nor a folder with the combined "
        "jina-clip-v2 graph (onnx/model_fp16.onnx, onnx/model.onnx, …)",
        "see docs/model.md, 'Offline'",
    )


def _find_tokenizer(graph: Path, src: Path) -> Path:
    for folder in (graph.parent, graph.parent.parent, src if src.is_dir() else src.parent):
        candidate = folder / release.TOKENIZER_FILE
        if candidate.is_file():
            return candidate
    raise ModelError(
        f"no {release.TOKENIZER_FILE} beside {graph.name} or in the folder above it",
        f"copy the repository's {release.TOKENIZER_FILE} there too",
    )


def git_blob_id(path: Path) -> str:
    """The git blob id of a file (SHA-1 of ``blob <size>\\0`` + content), as the Hub reports it."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def hub_record(path: Path) -> tuple[str | None, str | None]:
    """What the Hub client recorded about a downloaded file: (commit, etag), when it did.

    ``hf download --local-dir`` keeps ``.cache/huggingface/download/<file>.metadata``; the Hub
    cache keeps ``snapshots/<commit>/<file>`` as a link to ``blobs/<etag>``.
    """
    absolute = path.absolute()
    for root in absolute.parents:
        rel = absolute.relative_to(root).as_posix()
        meta = root / ".cache" / "huggingface" / "download" / f"{rel}.metadata"
        if meta.is_file():
            try:
                lines = meta.read_text(encoding="utf-8").splitlines()
            except OSError:
                return None, None
            if len(lines) >= 2:
                return lines[0].strip() or None, lines[1].strip() or None
            return None, None
    parts = path.absolute().parts
    if "snapshots" in parts:
        at = len(parts) - 1 - parts[::-1].index("snapshots")
        commit = parts[at + 1] if at + 1 < len(parts) else None
        etag = Path(os.readlink(path)).name if path.is_symlink() else None
        return (commit if commit and release.is_commit(commit) else None), etag
    return None, None


def check_against_hub_record(path: Path, report: Report) -> str | None:
    """Compare a file with the digest the Hub client recorded for it; returns its commit."""
    commit, etag = hub_record(path)
    if etag is None:
        return commit
    if len(etag) == 64:
        report(f"checking {path.name} against its Hub checksum…")
        actual = model_folder.sha256_file(path)
    elif len(etag) == 40:
        actual = git_blob_id(path)
    else:
        return commit
    if actual != etag.lower():
        raise ModelError(
            f"{path.name} does not match the checksum the Hub gave when it was downloaded "
            "(damaged or altered)",
            "download it again",
        )
    return commit


def import_combined(
    graph: Path,
    staged: Path,
    *,
    variant: str | None,
    revision: str | None,
    tokenizer: Path,
    threshold: int = EXTERNAL_DATA_THRESHOLD,
    check_hub_record: bool = True,
    report: Report = _quiet,
) -> str:
    """Split ``graph`` into ``staged`` and write the jina-clip-v2 manifest there.

    With ``check_hub_record``, files the Hub client downloaded are checked against the digests it
    recorded, and the commit it recorded names the revision when none is given.
    """
    commits: set[str] = set()
    if check_hub_record:
        # the graph first: reading a damaged graph to find its data files would fail obscurely
        recorded = [check_against_hub_record(graph, report)]
        others = [graph.parent / name for name in graph_files(graph)[1:]]
        recorded += [check_against_hub_record(path, report) for path in [*others, tokenizer]]
        commits = {c for c in recorded if c}
    if revision is None:
        if len(commits) == 1:
            revision = commits.pop()
        else:
            report(f"hashing {graph.name} to name this model's revision…")
            revision = "local-" + model_folder.sha256_file(graph)[:16]
    report(f"splitting {graph.name} into the text and vision towers…")
    written = split_combined(graph, staged, threshold=threshold)
    shutil.copyfile(tokenizer, staged / release.TOKENIZER_FILE)
    folders = (graph.parent, graph.parent.parent, tokenizer.parent)
    vision = vision_preprocessing(
        [folder / PREPROCESSOR_CONFIG for folder in folders],
        fixed_image_size(written["vision"][0]),
        report,
    )
    manifest = jina_clip_v2_manifest(
        revision=revision,
        variant=variant,
        text_file=written["text"][0].name,
        vision_file=written["vision"][0].name,
        vision=vision,
    )
    write_manifest(staged, manifest)
    return f"combined graph {graph}"


def fixed_image_size(vision_tower: Path) -> int | None:
    """The square image size a vision tower's ``pixel_values`` is fixed to, if it is."""
    try:
        port = engine_graph.read(vision_tower).input("pixel_values")
    except (OSError, engine_graph.GraphFormatError) as exc:
        raise ModelError(f"cannot read the vision tower {vision_tower.name}: {exc}") from exc
    shape = port.shape if port is not None else None
    if not shape or len(shape) != 4:
        return None
    height, width = shape[2], shape[3]
    if isinstance(height, int) and height > 0 and height == width:
        return height
    return None


# --- the command ----------------------------------------------------------------------------


def import_model(
    src: Path,
    model_dir: Path,
    *,
    device: str = "auto",
    variant: str | None = None,
    revision: str | None = None,
    threshold: int = EXTERNAL_DATA_THRESHOLD,
    run_self_test: bool = True,
    report: Report = _quiet,
) -> Installed:
    """Install the model found at ``src`` as ``model_dir`` (see the module's docstring)."""
    src = src.expanduser().absolute()
    if not src.exists():
        raise ModelError(f"no such file or folder: {src}")
    if src.resolve() == model_dir.resolve():
        raise ModelError(
            f"{src} is already the model folder", "check it with `lanterna model verify`"
        )
    if variant is not None and variant not in release.VARIANTS:
        raise ModelError(f"unknown variant {variant!r}", f"use {', '.join(release.VARIANTS)}")
    check_target(model_dir)
    staged = staging_dir(model_dir, "import")
    try:
        if src.is_dir() and (src / model_folder.MANIFEST).is_file():
            source = _import_contract(src, staged, report)
        else:
            graph, found_variant = find_combined(src, variant, device)
            tokenizer = _find_tokenizer(graph, src)
            source = import_combined(
                graph,
                staged,
                variant=found_variant,
                revision=revision,
                tokenizer=tokenizer,
                threshold=threshold,
                report=report,
            )
        return install(
            staged,
            model_dir,
            device=device,
            run_self_test=run_self_test,
            source=source,
            report=report,
        )
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
