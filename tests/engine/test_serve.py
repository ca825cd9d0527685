"""`lanterna search` asks the running watcher over its private socket, and answers alone without."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import serve
from engine.library import Library
from engine.search import Query
from tests.images import write

pytestmark = pytest.mark.skipif(not serve.available(), reason="needs AF_UNIX sockets")


def cli(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return proc, time.perf_counter() - start


@pytest.fixture
def watching(tmp_path: Path, toy_model: Path, photos: Path) -> Iterator[Library]:
    for i, colour in enumerate(["red", "green", "blue"]):
        write(photos / f"{colour}.jpg", colour, seed=i)
    lib = Library(tmp_path / "data", toy_model, device="cpu", quiet=0.1)
    lib.add_folders([photos])
    stop = threading.Event()
    indexed = threading.Event()
    worker = threading.Thread(
        target=lib.watch, args=(stop,), kwargs={"on_indexed": lambda run: indexed.set()}
    )
    worker.start()
    assert indexed.wait(30)
    yield lib
    stop.set()
    worker.join(10)
    lib.close()


def test_search_is_answered_by_the_running_watcher(
    watching: Library, tmp_path: Path, photos: Path
) -> None:
    path = serve.socket_path(tmp_path / "data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # The model folder given to the new process does not exist: only the watcher can answer.
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(tmp_path / "data"),
        "LANTERNA_MODEL_DIR": str(tmp_path / "no-model-here"),
    }
    proc, took = cli("search", "ciel bleu", "--json", "-k", "2", env=env)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    expected = [r.as_json() for r in watching.search(Query(text="ciel bleu", k=2))]
    assert hits == expected and hits[0]["path"] == str(photos / "blue.jpg")
    print(f"\nsearch in a new process, answered by the watcher: {took * 1000:.0f} ms")
    bad, _ = cli("search", "", env=env)  # its error, from the watcher, as the CLI words it
    assert (bad.returncode, bad.stdout) == (2, "")  # a usage error, worded as the CLI does
    assert bad.stderr == (
        "lanterna: nothing to search for\nhint: give a TEXT, an --image FILE, or both\n"
    )
    refused = serve.ask(tmp_path / "data", ["status"])
    assert refused is not None and refused[0] == 1 and "only searches" in refused[2]


def test_without_a_watcher_the_cli_answers_alone(
    watching: Library, tmp_path: Path, toy_model: Path
) -> None:
    data = tmp_path / "data"
    assert serve.ask(data, ["search", "red"]) is not None
    second = serve.QueryServer(data, lambda argv: (0, "", ""))
    assert not second.start()  # one server per data folder: the live one keeps it


def test_a_stale_socket_is_replaced_and_removed_on_close(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = serve.socket_path(data)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # left by a process that died
    assert serve.ask(data, ["search", "x"]) is None
    server = serve.QueryServer(data, lambda argv: (0, " ".join(argv) + "\n", ""))
    assert server.start()
    assert serve.ask(data, ["search", "x"]) == (0, "search x\n", "")
    server.close()
    assert not path.exists() and serve.ask(data, ["search", "x"]) is None


def test_output_of_other_threads_is_not_captured(capsys: pytest.CaptureFixture[str]) -> None:
    with serve.captured() as (out, _):
        other = threading.Thread(target=lambda: print("from elsewhere"))
        other.start()
        other.join()
        print("mine")
    assert out.getvalue() == "mine\n"
    assert "from elsewhere" in capsys.readouterr().out


def test_the_console_entry_asks_the_server_before_loading_the_cli(
    watching: Library, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "LANTERNA_DATA_DIR": str(tmp_path / "data"),
        "LANTERNA_MODEL_DIR": str(tmp_path / "no-model-here"),
    }
    code = (
        "import sys\nfrom engine.launch import main\n"
        "rc = main(['search', 'ciel bleu', '-k', '1'])\n"
        "print('LOADED', [m for m in sys.modules if m in ('engine.cli', 'engine.library', "
        "'argparse', 'numpy', 'apsw')])\nsys.exit(rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "blue.jpg" in proc.stdout and "LOADED []" in proc.stdout, proc.stdout
