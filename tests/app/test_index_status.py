"""The status bar of a long run: an ETA from the measured rate, newest first, pause on battery."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from app.widgets.status import IndexStatus
from engine.schedule import Conditions, RateMeter
from tests.images import write


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_eta_from_the_measured_rate_and_newest_first(qtbot: Any) -> None:
    status = IndexStatus()
    qtbot.addWidget(status)
    clock = Clock()
    status.meter = RateMeter(clock=clock)
    total = 45_500
    status.show_progress(0, total, 0, None)
    assert status.eta.text() == "estimating the time left…"
    clock.now = 100.0
    status.show_progress(140, total, 0, 1.0)  # the caller's own estimate is not what is shown
    assert status.eta.text() == "about 9 hours left at 1.4 files/s"
    assert status.counts.text() == "Indexing… 140 files of 45\u2009500, newest first"
    assert "newest" in status.bar.toolTip()


def test_calibration_is_a_stage_of_its_own_and_no_rate(qtbot: Any) -> None:
    status = IndexStatus()
    qtbot.addWidget(status)
    clock = Clock()
    status.meter = RateMeter(clock=clock)
    status.show_progress(3, 16, 0, None, "calibrate")
    assert status.counts.text() == "Preparing search for this model… 3 of 16"
    assert status.eta.text() == "" and status.bar.value() == 3 and status.bar.maximum() == 16
    clock.now = 60.0
    status.show_progress(16, 16, 0, None, "calibrate")
    clock.now = 61.0
    status.show_progress(0, 500, 0, None)  # the photos: their rate starts from nothing
    assert status.eta.text() == "estimating the time left…"
    assert status.counts.text() == "Indexing… 0 files of 500, newest first"


def test_pause_reason_is_shown_and_the_wait_is_not_counted(qtbot: Any) -> None:
    status = IndexStatus()
    qtbot.addWidget(status)
    clock = Clock()
    status.meter = RateMeter(clock=clock)
    status.show_progress(0, 1000, 0, None)
    clock.now = 10.0
    status.show_progress(10, 1000, 0, None)
    reason = "paused on battery: indexing goes on when the computer is plugged in"
    status.set_pause_reason(reason)
    assert status.eta.text() == reason
    clock.now = 3610.0  # an hour on battery
    status.set_pause_reason(None)
    clock.now = 3620.0
    status.show_progress(20, 1000, 0, None)
    assert status.eta.text() == "about 16 min left at 1.0 files/s"


class OnBattery(Conditions):
    def on_battery(self) -> bool | None:
        return True


def test_window_pauses_on_battery_and_says_so(qtbot: Any, make_window: Any, photos: Path) -> None:
    for i, colour in enumerate(["red", "blue", "green"]):
        path = write(photos / f"{colour}.jpg", colour, seed=i)
        os.utime(path, (1e9 + i, 1e9 + i))
    window = make_window()
    window.bridge.policy_pause.conditions = OnBattery()
    window.bridge.policy_pause.check_every = 0.0
    window.index_status.watch_pause_reason(window.bridge.pause_reason, every_ms=100)
    window.bridge.add_folders([str(photos)])
    qtbot.waitUntil(lambda: "on battery" in window.index_status.eta.text(), timeout=10_000)
    assert window.index_status.eta.isVisible()
    qtbot.wait(800)
    lib = window.bridge._lib
    assert lib is not None and lib.store.counts()["indexed"] <= 1  # one may be under way
    window.bridge.policy_pause.conditions = Conditions()  # plugged in (no battery here)
    qtbot.waitUntil(lambda: "3 files indexed" in window.index_status.counts.text(), timeout=20_000)


def test_the_words_stage_is_shown_with_its_own_words(qtbot: Any) -> None:
    from app.widgets.status import NEWEST_FIRST_TIP, WORDS_FIRST_TIP

    status = IndexStatus()
    qtbot.addWidget(status)
    status.show_progress(1, 4, 0, None, "words")
    assert status.counts.text() == "Reading the words of documents… 1 file of 4, newest first"
    assert status.counts.toolTip() == WORDS_FIRST_TIP and status.bar.isVisible() is not None
    status.pause.setChecked(True)
    assert status.counts.text() == "Paused: 1 file of 4 read"
    status.pause.setChecked(False)
    status.show_progress(2, 9, 0, None)  # then the vectors
    assert status.counts.text().startswith("Indexing… 2 files of 9")
    assert status.counts.toolTip() == NEWEST_FIRST_TIP
