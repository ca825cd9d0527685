"""The UI thread keeps ticking while a folder is indexed, and results come as they are made.

A 10 ms timer on the GUI thread records the longest gap between its ticks while the bridge's
watch thread indexes a folder of pictures (300; ``LANTERNA_STALL_FILES`` sets another number,
1 000 for the full measurement) and the grid shows results as they come. The longest stall is a
figure, printed here and judged against DESIGN.md's 100 ms budget by ``lanterna bench``: a
wall-clock limit in a test fails on a loaded machine without anything being wrong.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer

from tests.images import write

FILES = int(os.environ.get("LANTERNA_STALL_FILES", "300"))
COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple")


def test_longest_ui_stall_while_indexing(qtbot: Any, make_window: Any, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    for i in range(FILES):
        write(
            folder / f"{COLOURS[i % len(COLOURS)]}-{i}.png",
            COLOURS[i % len(COLOURS)],
            seed=i,
            size=(48, 36),
        )
    window = make_window()
    done: list[int] = []
    window.bridge.progress.connect(lambda p: done.append(p.done) if p.done >= p.total else None)

    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    start = time.perf_counter()
    timer.start()
    last[0] = time.perf_counter()
    window._welcome_start([str(folder)])
    qtbot.waitUntil(lambda: FILES in done, timeout=120_000)
    elapsed = time.perf_counter() - start
    qtbot.wait(300)  # the final refresh of the results
    timer.stop()
    worst = max(gaps)
    print(
        f"\nindexed {FILES} files in {elapsed:.1f} s; longest UI-thread stall "
        f"{worst * 1000:.0f} ms (timer at 10 ms, {len(gaps)} ticks)"
    )
    assert window.model.rowCount() > 0
    assert len(gaps) > 1, "the GUI thread's timer never ran while indexing"
