"""The CLI surface, run as a user would: a subprocess per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.images import write


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_end_to_end(tmp_path: Path, toy_model: Path, photos: Path) -> None:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(tmp_path / "d"),
        "LANTERNA_MODEL_DIR": str(toy_model),
    }
    for i, colour in enumerate(["red", "green", "blue"]):
        write(photos / f"{colour}.jpg", colour, seed=i)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")

    assert "watching" in run("folders", "add", str(photos), env=env).stdout
    assert str(photos) in run("folders", "list", env=env).stdout
    out = run("index", env=env).stdout
    assert "3 embedded" in out and "1 error\n" in out

    hits = json.loads(run("search", "ciel bleu", "--json", "-k", "2", env=env).stdout)
    assert [h["path"] for h in hits] == [str(photos / "blue.jpg")]  # the others don't match
    hits = json.loads(run("search", "ciel bleu", "--json", "-k", "2", "--all", env=env).stdout)
    assert all({"path", "score", "kind", "item", "match", "how", "snippet"} <= set(h) for h in hits)
    assert len(hits) == 2
    assert hits[0]["path"] == str(photos / "blue.jpg")
    assert hits[0]["kind"] == "image" and hits[0]["item"] == 1 and hits[0]["how"] == "image"
    assert hits[0]["match"] >= 0.5 > hits[1]["match"] and hits[1]["weak"]
    none = run("search", "Zanzibar", env=env)
    assert none.stdout == "" and "no good matches" in none.stderr

    by_image = json.loads(
        run("search", "--image", str(photos / "red.jpg"), "--json", env=env).stdout
    )
    assert by_image[0]["path"] == str(photos / "red.jpg")

    status = json.loads(run("status", "--json", env=env).stdout)
    assert status["files"] == {"indexed": 3, "pending": 0, "error": 1}
    assert status["provider"] == "CPUExecutionProvider"
    assert status["dims"] == 256
    assert status["errors"][0]["path"].endswith("broken.jpg")
    assert "indexed" in run("status", env=env).stdout

    run("folders", "remove", str(photos), env=env)
    assert json.loads(run("search", "red", "--json", env=env).stdout) == []


def test_cli_errors_are_one_clear_line(tmp_path: Path, toy_model: Path) -> None:
    env = {**os.environ, "LANTERNA_DATA_DIR": str(tmp_path / "d")}
    env["LANTERNA_MODEL_DIR"] = str(toy_model)
    no_folder = run("folders", "add", str(tmp_path / "absent"), env=env, check=False)
    assert no_folder.returncode == 2 and "no such folder" in no_folder.stderr
    nothing = run("index", env=env, check=False)
    assert nothing.returncode == 1 and "no folders" in nothing.stderr
    bad_usage = run("search", "--kind", "video", "x", env=env, check=False)
    assert bad_usage.returncode == 2
    assert bad_usage.stderr.splitlines()[0].startswith("lanterna search: argument --kind")

    missing_model = run("--model", str(tmp_path / "nope"), "search", "x", env=env, check=False)
    assert missing_model.returncode == 1
    first, hint = missing_model.stderr.strip().splitlines()
    assert first.startswith("lanterna: Model error: no model folder at ")
    assert hint.startswith("hint: ") and "Traceback" not in missing_model.stderr


def test_engine_never_imports_qt() -> None:
    code = (
        "import sys, engine, engine.cli, engine.library, engine.search, engine.watcher;"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'shiboken6', 'PyQt'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_is_quick_and_lazy() -> None:
    code = "import sys, engine.cli; print('onnxruntime' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False"
