"""5. GUI: the app's own measurements (tests/app), in full mode when they are present."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from typing import Any

from .context import _project_root
from .plan import Plan


def bench_gui(plan: Plan) -> dict[str, Any]:
    """The app's own measurements (tests/app); run in full mode when present."""
    tests = _project_root() / "tests" / "app"
    have_app = importlib.util.find_spec("app") is not None and tests.is_dir()
    if not have_app:
        return {"status": "not measured: the app or its tests are not installed here"}
    if not plan.gui:
        return {
            "status": "see tests/app (test_responsiveness.py, test_startup.py); "
            "`lanterna bench` without --quick runs them"
        }
    if importlib.util.find_spec("pytest") is None or importlib.util.find_spec("pytestqt") is None:
        return {"status": "not measured: pytest and pytest-qt are needed (pip install -e .[dev])"}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        str(tests / "test_responsiveness.py"),
        str(tests / "test_startup.py"),
    ]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=_project_root(), env=env, timeout=900, check=False
    )
    text = proc.stdout + proc.stderr
    out: dict[str, Any] = {"status": "measured" if proc.returncode == 0 else "tests failed"}
    stall = re.search(r"longest UI-thread stall (\d+) ms", text)
    shown = re.search(r"window shown (\d+) ms after launch", text)
    out["stall_ms"] = int(stall[1]) if stall else None
    out["window_shown_ms"] = int(shown[1]) if shown else None
    if proc.returncode != 0:
        out["detail"] = text.strip().splitlines()[-1] if text.strip() else ""
    return out
