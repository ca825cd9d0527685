"""The frozen one-folder bundle (dist/lanterna), when packaging/build.sh has made one here.

Without a bundle these tests are skipped: building it takes minutes and PyInstaller, so the
ordinary test run does not. The spec and the entry script are checked either way.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "lanterna"
BINARY = BUNDLE / ("lanterna.exe" if sys.platform == "win32" else "lanterna")
MAX_MB = 560  # the size budget without NVIDIA's libraries and the CUDA provider (build.sh)

needs_bundle = pytest.mark.skipif(
    not BINARY.is_file(),
    reason=f"no bundle at {BINARY.relative_to(ROOT)}: run packaging/build.sh to make one",
)


def run_bundle(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_DATA_HOME=str(home / "xdg-data"),
        XDG_CONFIG_HOME=str(home / "xdg-config"),
        XDG_CACHE_HOME=str(home / "xdg-cache"),
    )
    return subprocess.run(
        [str(BINARY), *args], capture_output=True, text=True, env=env, timeout=240, check=False
    )


@needs_bundle
def test_bundle_self_test_passes(tmp_path: Path, toy_model: Path) -> None:
    done = run_bundle(
        "--self-test",
        "--data-dir",
        str(tmp_path / "data"),
        "--model",
        str(toy_model),
        home=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "frozen bundle in" in done.stdout
    assert done.stdout.rstrip().endswith("self-test passed")
    assert "and a PDF (PDFium worker process)" in done.stdout


@needs_bundle
def test_bundle_self_test_fails_in_one_line(tmp_path: Path) -> None:
    done = run_bundle(
        "--self-test",
        "--data-dir",
        str(tmp_path / "data"),
        "--model",
        str(tmp_path / "none"),
        home=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("self-test failed: Model error: ")


@needs_bundle
def test_bundle_holds_what_it_must_and_nothing_of_nvidia() -> None:
    files = [p for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink()]
    names = {p.name.lower() for p in files}
    assert any(n.startswith("vec0.") for n in names), "sqlite-vec's vec0 is missing"
    assert any("pdfium" in n for n in names), "PDFium is missing"
    assert any(n.startswith("libheif") or n.startswith("heif") for n in names), "no libheif"
    assert (BUNDLE / "_internal" / "resources" / "lanterna.svg").is_file() or (
        BUNDLE / "resources" / "lanterna.svg"
    ).is_file()
    nvidia = ("libcudart", "libcublas", "libcudnn", "libcufft", "libcurand", "libnvrtc", "libcuda.")
    assert not [n for n in names if n.startswith(nvidia)]
    assert not [n for n in names if "providers_tensorrt" in n]
    assert not (BUNDLE / "_internal" / "torch").exists()
    provider = sum(p.stat().st_size for p in files if "providers_cuda" in p.name)
    total = sum(p.stat().st_size for p in files)
    assert (total - provider) / 2**20 < MAX_MB


def test_the_spec_compiles() -> None:
    spec = ROOT / "packaging" / "lanterna.spec"
    compile(spec.read_text(encoding="utf-8"), str(spec), "exec")


def entry_module() -> ModuleType:
    path = ROOT / "packaging" / "entry.py"
    spec = importlib.util.spec_from_file_location("lanterna_bundle_entry", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_entry_script_reads_the_self_test_options() -> None:
    entry = entry_module()
    argv = ["--self-test", "--model", "/m", "--data-dir=/d"]
    assert entry._option(argv, "--model") == "/m"
    assert entry._option(argv, "--data-dir") == "/d"
    assert entry._option(argv, "--device") is None
    assert entry._option(["--model"], "--model") is None


def test_the_entry_script_runs_the_self_test(
    tmp_path: Path, toy_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import selftest

    calls = []
    monkeypatch.setattr(selftest, "run", lambda *a, **k: calls.append((a, k)) or 0)
    argv = ["lanterna", "--self-test", "--data-dir", "D", "--model", "M", "--device", "cpu"]
    monkeypatch.setattr(sys, "argv", argv)
    assert entry_module().main() == 0
    assert calls == [(("D", "M"), {"device": "cpu"})]
