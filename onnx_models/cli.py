"""``lanterna model …``: download, import, inspect and verify the model folder.

``engine.cli`` registers these with :func:`add_model_parser` and hands them to
:func:`run_model_command`; they need no index and no working model (they are how one gets one).
Errors print one line on stderr (and a hint on a second) and exit with status 1, like the rest of
the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from engine.paths import display

from . import release


def add_model_parser(subparsers: Any) -> None:
    """Add ``model`` and its actions to the ``lanterna`` command's subparsers."""
    model = subparsers.add_parser(
        "model",
        help="download, import, inspect or verify the model",
        description="Get the model folder that Lanterna runs, and check it.",
    )
    actions = model.add_subparsers(dest="model_action", required=True, metavar="<action>")

    dl = actions.add_parser(
        "download",
        help=f"fetch {release.REPO_ID} from the Hugging Face Hub (asks first)",
        description=(
            f"Fetch {release.REPO_ID} at a pinned revision, split it into the two towers, "
            "check and install it. Shows the licence and the size and asks before downloading."
        ),
    )
    dl.add_argument(
        "--variant",
        choices=list(release.VARIANTS),
        help="precision (default: fp16 when the GPU works, int8 on the CPU)",
    )
    dl.add_argument(
        "--revision",
        metavar="COMMIT",
        help="the commit to fetch (default: the one this Lanterna was tested with)",
    )
    dl.add_argument(
        "--keep", action="store_true", help="keep the downloaded combined graph afterwards"
    )
    dl.add_argument(
        "-y", "--yes", action="store_true", help="agree to the licence and the download"
    )

    imp = actions.add_parser(
        "import",
        help="install a model folder, or the official ONNX files, from this machine",
        description=(
            "Install a folder that follows the model contract, or a folder (or .onnx file) with "
            "the official combined jina-clip-v2 graph, which is split on import. Needs no network."
        ),
    )
    imp.add_argument("source", metavar="DIR", help="model folder, release folder or .onnx file")
    imp.add_argument(
        "--variant",
        choices=list(release.VARIANTS),
        help="which combined graph to use when the folder holds several",
    )
    imp.add_argument(
        "--revision",
        metavar="REV",
        help="record this revision (default: the commit the Hub client recorded, if any)",
    )

    info = actions.add_parser("info", help="files, sizes, checksums, licence and provider")
    info.add_argument("--json", action="store_true", help="print a JSON object")

    ver = actions.add_parser(
        "verify", help="hash every file and self-test both towers (non-zero exit on failure)"
    )
    ver.add_argument("--json", action="store_true", help="print a JSON object")


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _consent(yes: bool) -> None:
    from .errors import ConsentRequired

    if yes:
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise ConsentRequired(
            "the licence and the download need your agreement and there is no terminal to ask",
            "run it again with --yes to agree",
        )
    print("Agree to the licence and download? [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise ConsentRequired("nothing was downloaded: the licence was not accepted")


def _print_installed(installed: Any, kept: Path | None = None) -> None:
    from .release import human_bytes

    variant = f" ({installed.variant})" if installed.variant else ""
    print(
        f"installed {installed.id} {installed.revision}{variant} in {display(installed.model_dir)}"
    )
    print(f"  from {display(installed.source)}")
    for name, size in sorted(installed.files.items()):
        print(f"  {name:<24} {human_bytes(size):>10}")
    if installed.self_test is not None:
        test = installed.self_test
        print(f"  self-test passed on {test.provider}")
    if installed.replaced:
        print(
            f"  replaced {installed.replaced}: run `lanterna index --reembed` to embed your "
            "files again with this model"
        )
    if kept is not None:
        print(f"  the download is kept in {display(kept)}")


def _download(args: argparse.Namespace, data_dir: Path, model_dir: Path, device: str) -> int:
    from .device import default_variant
    from .hub import download, plan_download, resolve_revision
    from .importer import check_target

    check_target(model_dir)
    revision = resolve_revision(args.revision)
    variant, why = args.variant, "chosen with --variant"
    if variant is None:
        variant, why = default_variant(device)
        why += " (choose with --variant)"
    plan = plan_download(variant, revision)
    _err(plan.describe())
    _err(f"Variant {variant}: {why}.")
    _consent(args.yes)
    installed, kept = download(
        plan, data_dir=data_dir, model_dir=model_dir, keep=args.keep, device=device, report=_err
    )
    _print_installed(installed, kept)
    return 0


def _import(args: argparse.Namespace, data_dir: Path, model_dir: Path, device: str) -> int:
    from engine import validate

    from .importer import import_model

    source = validate.path_text(args.source, "DIR")
    if not os.path.lexists(source):
        raise validate.UsageError(f"no such file or folder: {display(os.path.abspath(source))}")
    installed = import_model(
        Path(source),
        model_dir,
        device=device,
        variant=args.variant,
        revision=args.revision,
        report=_err,
    )
    _print_installed(installed)
    return 0


def _info(args: argparse.Namespace, data_dir: Path, model_dir: Path, device: str) -> int:
    from .release import human_bytes
    from .verify import model_info

    info = model_info(model_dir, data_dir=data_dir, device=device)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    variant = f" ({info['variant']})" if info["variant"] else ""
    dims = info["matryoshka_dims"]
    print(f"model      {info['id']} {info['revision']}{variant}")
    print(f"licence    {info['licence']}")
    print(f"folder     {display(info['model_dir'])}")
    print(
        f"dims       {info['dim']} (Matryoshka {dims[0]}…{dims[-1]}); "
        f"Lanterna keeps {info['stored_dims']}"
    )
    for i, f in enumerate(info["files"]):
        size = human_bytes(f["bytes"]) if f["bytes"] is not None else "missing"
        digest = f"sha256 {f['sha256'][:16]}…" if f["sha256"] else "no checksum listed"
        print(f"{'files' if i == 0 else '':<10} {f['name']:<24} {size:>10}  {digest}")
    print(f"{'':<10} {'total':<24} {human_bytes(info['total_bytes']):>10}")
    print(f"checksums  {info['checksums']}")
    if info["provider"]:
        note = f" — {info['provider_note']}" if info["provider_note"] else ""
        print(f"provider   {info['provider']}{note}")
    elif info["provider_note"]:
        print(f"provider   {info['provider_note']}")
    return 0


def _verify(args: argparse.Namespace, data_dir: Path, model_dir: Path, device: str) -> int:
    from engine import model as model_folder
    from engine.errors import ModelError

    from .release import human_bytes
    from .verify import check_files, self_test

    model = model_folder.load(model_dir)
    files = check_files(model)
    out: dict[str, Any] = {
        "model_dir": str(model_dir),
        "id": model.id,
        "revision": model.revision,
        "files": [f.as_json() for f in files],
        "self_test": None,
        "passed": False,
    }
    if not args.json:
        for f in files:
            size = human_bytes(f.bytes) if f.bytes is not None else "-"
            print(f"file       {f.name:<24} {size:>10}  {f.status}")
    bad = [f for f in files if f.status in ("mismatch", "missing")]
    if bad:
        if args.json:
            print(json.dumps(out, ensure_ascii=False, indent=2))
        model_folder.verify(model)  # raises the engine's own one-line error
        raise ModelError(f"{bad[0].name} in {model.path} is {bad[0].status}")
    test = self_test(model, device=device)
    out["self_test"] = test.as_json()
    out["passed"] = test.passed
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        note = f" — {test.provider_note}" if test.provider_note else ""
        print(f"provider   {test.provider}{note}")
        for check in test.checks:
            print(f"self-test  {check.name}: {'ok' if check.passed else 'FAILED'} ({check.detail})")
    test.raise_if_failed()
    if not args.json:
        print(f"verified   {model.id} {model.revision}")
    return 0


_ACTIONS = {"download": _download, "import": _import, "info": _info, "verify": _verify}


def run_model_command(
    args: argparse.Namespace, data_dir: Path, model_dir: Path, device: str
) -> int:
    """Run ``lanterna model <action>``; returns the exit status (errors print one line)."""
    from engine.errors import LanternaError

    try:
        return _ACTIONS[args.model_action](args, data_dir, model_dir, device)
    except LanternaError as exc:
        first, *rest = exc.lines()
        print(f"lanterna: {first}", file=sys.stderr)
        for line in rest:
            print(line, file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("lanterna: interrupted", file=sys.stderr)
        return 130
