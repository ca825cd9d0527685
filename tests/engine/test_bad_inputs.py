"""Every bad input of issue 15 ends in one clear line with the right exit status.

The cases live in :mod:`tests.bad_inputs` (``python -m tests.bad_inputs`` runs them against the
real command line in new processes and prints the table); here they run in-process, on one
scratch world built once for the module.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import bad_inputs
from tests.bad_inputs import CASES, Case, World


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, toy_model: Path) -> Iterator[World]:
    built = bad_inputs.build(tmp_path_factory.mktemp("bad-inputs"), model=toy_model)
    built.can.discard("unshare")  # a mount namespace needs a new process: the script's part
    yield built
    bad_inputs.teardown(built)


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input(world: World, case: Case) -> None:
    if case.needs and case.needs not in world.can:
        pytest.skip(f"this machine cannot run it ({case.needs})")
    result = bad_inputs.run_in_process(world, case)
    problem = bad_inputs.judge(world, case, result)
    assert problem is None, f"{problem}\nstdout: {result.out}\nstderr: {result.err}"


def test_json_paths_round_trip_to_the_real_bytes(world: World) -> None:
    """The documented way back from ``--json`` to a file: ``os.fsencode(json.loads(…))``."""
    argv = [*bad_inputs.D, *bad_inputs.M, "search", "orange", "--json", "--all"]
    case = Case("json", argv, 0, "")
    hits = json.loads(bad_inputs.run_in_process(world, case).out)
    names = {os.path.basename(os.fsencode(h["path"])) for h in hits}
    assert bad_inputs.LATIN1_NAME in names
    assert bad_inputs.ESC_NAME.encode() in names
    assert all(os.path.isfile(os.fsencode(h["path"])) for h in hits)


def test_the_script_reports_a_wrong_expectation(world: World) -> None:
    """The table's verdicts can fail: a case expecting the wrong status or text is caught."""
    good = next(c for c in CASES if c.what == "-k 0")
    result = bad_inputs.run_in_process(world, good)
    assert bad_inputs.judge(world, good, result) is None
    wrong_status = Case(good.what, good.argv, 1, good.expect)
    assert "exit status 2, not 1" in (bad_inputs.judge(world, wrong_status, result) or "")
    wrong_text = Case(good.what, good.argv, 2, "something else")
    assert "not in the output" in (bad_inputs.judge(world, wrong_text, result) or "")
    three_lines = bad_inputs.Result(2, "", f"lanterna: {good.expect}\nhint: b\nmore\n")
    assert "3 lines on stderr" in (bad_inputs.judge(world, good, three_lines) or "")


def test_the_watch_progress_clock_restarts_for_each_run() -> None:
    """``watch`` waits between runs; a sub-second file must not be shown at 180 s/file."""
    from engine.cli import _Bar
    from engine.indexer import Progress

    now = [1000.0]
    stream = io.StringIO()
    bar = _Bar("indexing")
    bar.bar.close()
    from tqdm import tqdm

    bar.bar = tqdm(total=0, desc="indexing", unit="file", file=stream, mininterval=0)
    bar.bar._time = lambda: now[0]  # tqdm's own clock, so the test needs no sleeping
    bar.bar.start_t = bar.bar.last_print_t = now[0]

    def report(done: int, total: int) -> None:
        bar(Progress(done=done, total=total, errors=0, embedded=done, path=None, elapsed=0.0))

    report(0, 2)
    now[0] += 1.0
    report(2, 2)  # the first run: 2 files in 1 s
    now[0] += 180.0  # idle, watching
    report(0, 1)
    now[0] += 0.5
    report(1, 1)
    shown = bar.bar.format_dict
    assert shown["elapsed"] == pytest.approx(0.5), "the idle time counted in the second run"
    assert shown["n"] == 1 and shown["total"] == 1
    bar.write("1 new, 0 changed, 0 moved, 0 removed")
    lines = stream.getvalue().replace("\r", "\n").splitlines()
    assert "1 new, 0 changed, 0 moved, 0 removed" in lines, "the summary is glued to the bar"
    bar.close()


def test_help_still_does_not_load_onnxruntime() -> None:
    code = (
        "import sys, engine.cli, engine.validate, engine.graph; "
        "print('onnxruntime' in sys.modules, 'onnx' in sys.modules)"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr
