"""Long runs on slow machines: newest first, an ETA from the measured rate, yielding to the user."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.embedder import Embedder
from engine.indexer import Progress
from engine.library import Library
from engine.model import load
from engine.schedule import (
    Conditions,
    Policy,
    PolicyPause,
    RateMeter,
    describe_eta,
    lower_priority,
)
from engine.search import Query
from tests.images import write

COLOURS = ["red", "green", "blue", "yellow", "black", "white"]


def _dated_photos(folder: Path) -> list[Path]:
    """Photos written oldest first (so the files table's id order is oldest first too)."""
    out = []
    base = time.time() - 10 * 86400
    for i, colour in enumerate(COLOURS):
        path = write(folder / f"{i}_{colour}.jpg", colour, seed=i)
        os.utime(path, (base + i * 3600, base + i * 3600))
        out.append(path)
    return out


def test_newest_photos_are_indexed_first(library: Library, photos: Path) -> None:
    written = _dated_photos(photos)
    seen: list[str] = []

    def progress(p: Progress) -> None:
        if p.path and (not seen or seen[-1] != p.path):
            seen.append(p.path)

    library.add_folders([photos])
    report = library.index(progress=progress)
    assert report.run.embedded == len(written)
    assert [Path(p).name for p in seen] == [p.name for p in reversed(written)]


def test_names_are_searchable_before_any_photo_is_embedded(library: Library, photos: Path) -> None:
    _dated_photos(photos)
    library.add_folders([photos])
    library.scan()
    assert library.store.count_pending() == len(COLOURS)
    found = [Path(r.path).name for r in library.search(Query(text="yellow", k=5))]
    assert found[:1] == ["3_yellow.jpg"]
    assert library.store.counts()["vectors"] == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eta_comes_from_the_measured_rate_and_ignores_pauses() -> None:
    clock = Clock()
    meter = RateMeter(window_s=600, clock=clock)
    meter.update(0)
    assert meter.rate() is None and describe_eta(meter.eta(100)) == ""
    clock.now += 100
    meter.update(140)  # 1.4 files/s
    assert meter.rate() == pytest.approx(1.4)
    remaining = int(1.4 * 9 * 3600)
    assert describe_eta(meter.eta(remaining), meter.rate(), "photos") == (
        "about 9 hours left at 1.4 photos/s"
    )
    meter.pause()
    clock.now += 3600  # an hour on battery is not an hour of work
    meter.update(140)  # the status bar still updates while paused
    assert meter.rate() == pytest.approx(1.4)
    meter.resume()
    meter.update(141)
    assert meter.rate() == pytest.approx(1.41)  # without the pause: 141 / 3700 s
    # a slow CPU: a third of a photo per second reads per minute
    assert describe_eta(2 * 86400, 0.3, "photos") == "about 2.0 days left at 18 photos a minute"
    assert describe_eta(30, 12.0, "files") == "less than a minute left at 12 files/s"


class Machine(Conditions):
    """The machine's state as a test sets it (the real probes are checked below)."""

    def __init__(self) -> None:
        super().__init__()
        self.battery: bool | None = False
        self.busy: float | None = 0.0
        self.idle: float | None = 999.0

    def on_battery(self) -> bool | None:
        return self.battery

    def others_busy_share(self) -> float | None:
        return self.busy

    def user_idle_s(self) -> float | None:
        return self.idle


def test_policy_reasons() -> None:
    machine = Machine()
    gate = PolicyPause(Policy(only_when_idle=True), conditions=machine, check_every=0)
    assert not gate.is_set() and gate.reason is None
    machine.battery = True
    assert gate.is_set() and "battery" in (gate.reason or "")
    machine.battery, machine.busy = None, 0.9  # no battery at all: never a battery pause
    assert "busy (90%)" in (gate.reason or "")
    machine.busy, machine.idle = None, 5.0
    assert "idle" in (gate.reason or "")
    machine.idle = None  # cannot tell: do not wait for ever
    assert gate.reason is None
    gate.set()  # the user's button
    assert gate.reason == "paused"
    gate.clear()
    off = PolicyPause(Policy(pause_on_battery=False), conditions=machine, check_every=0)
    machine.battery = True
    assert off.reason is None


def test_indexing_waits_on_battery_and_goes_on_when_plugged_in(
    library: Library, photos: Path
) -> None:
    _dated_photos(photos)
    library.add_folders([photos])
    library.scan()
    machine = Machine()
    machine.battery = True
    gate = PolicyPause(Policy(), conditions=machine, check_every=0)
    result: dict[str, int] = {}

    def run() -> None:
        result["embedded"] = library.embed_pending(pause=gate).embedded  # type: ignore[arg-type]

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.5)
    first = library.store.counts()["indexed"]
    assert first <= 1  # the first photo may be under way when the pause is seen
    machine.battery = False
    worker.join(30)
    assert not worker.is_alive() and result["embedded"] == len(COLOURS)


def test_a_long_pause_gives_the_vision_tower_back(
    library: Library, photos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import indexer

    monkeypatch.setattr(indexer, "RELEASE_VISION_PAUSED_S", 0.3)
    _dated_photos(photos)
    library.add_folders([photos])
    library.scan()
    machine = Machine()
    gate = PolicyPause(Policy(), conditions=machine, check_every=0)
    result: dict[str, int] = {}
    unplugged = threading.Event()

    def unplug_after_the_first(p: Progress) -> None:
        if p.embedded >= 1 and not unplugged.is_set():
            unplugged.set()
            machine.battery = True

    def run() -> None:
        report = library.embed_pending(pause=gate, progress=unplug_after_the_first)  # type: ignore[arg-type]
        result["embedded"] = report.embedded

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        machine.battery and library._embedder is not None and not library.embedder.vision_loaded
    ):
        time.sleep(0.05)
    paused_at = library.store.counts()["indexed"]
    assert machine.battery and not library.embedder.vision_loaded  # released while it waits
    assert library.embedder._text is None or library.search(Query(text="red"))  # queries go on
    assert paused_at < len(COLOURS)
    machine.battery = False  # plugged in: the tower loads again and indexing finishes
    worker.join(30)
    assert not worker.is_alive() and result["embedded"] == len(COLOURS)
    assert library.embedder.vision_loaded


def test_real_probes_answer_or_say_they_cannot() -> None:
    c = Conditions()
    assert c.on_battery() in (True, False, None)
    c.others_busy_share()
    time.sleep(0.6)
    share = c.others_busy_share()
    assert share is None or 0.0 <= share <= 1.0
    idle = c.user_idle_s()
    assert idle is None or idle >= 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_lower_priority_is_for_the_calling_thread_only() -> None:
    seen: dict[str, int] = {}

    def body() -> None:
        assert lower_priority()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen["thread"] >= 10
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_vision_tower_unloads_when_idle_and_text_stays(toy_model: Path) -> None:
    import numpy as np

    emb = Embedder(load(toy_model), device="cpu")
    try:
        size = emb.model.vision.image_size
        emb.embed_pixels(np.zeros((1, 3, size, size), dtype=np.float32))
        emb.embed_query("red")
        assert not emb.release_vision_if_idle(60)  # just used
        assert emb.release_vision_if_idle(0)
        assert not emb.vision_loaded and emb._text is not None
        emb.embed_query("blue")  # queries go on without reloading anything
        assert not emb.vision_loaded
        emb.embed_pixels(np.zeros((1, 3, size, size), dtype=np.float32))
        assert emb.vision_loaded
    finally:
        emb.close()


def _thread_nice() -> dict[int, int]:
    out = {}
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        out[int(task)] = int(fields[16])  # field 19 of stat: nice
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_indexing_remakes_a_vision_tower_that_a_query_made(toy_model: Path) -> None:
    import numpy as np

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if base >= 10:
        pytest.skip("the tests already run at nice 10: nothing lower to see")
    emb = Embedder(load(toy_model), device="cpu", threads=2)  # one pool thread besides the caller
    pixels = np.zeros((1, 3, emb.model.vision.image_size, emb.model.vision.image_size), np.float32)
    try:
        before = set(_thread_nice())
        emb.embed_pixels(pixels)  # a query from a normal thread makes the session
        query_session = emb._vision
        made = {t: n for t, n in _thread_nice().items() if t not in before}
        assert made and all(n == base for n in made.values())

        def index() -> None:
            assert lower_priority()
            emb.embed_pixels(pixels)

        worker = threading.Thread(target=index)
        worker.start()
        worker.join()
        assert emb._vision is not query_session  # made again, from the lowered thread
        remade = {t: n for t, n in _thread_nice().items() if t not in before and t not in made}
        assert remade and all(n >= 10 for n in remade.values()), remade  # its threads: lowered
        emb.embed_pixels(pixels)  # a query now shares the lowered session: nothing reloads
        assert emb._vision_nice is not None and emb._vision_nice >= 10
    finally:
        emb.close()


def test_calibration_probes_are_a_stage_and_can_be_cancelled(
    library: Library, photos: Path
) -> None:
    from engine import probes

    _dated_photos(photos)
    library.add_folders([photos])
    library.scan()
    stop = threading.Event()
    seen: list[Progress] = []

    def cancel_midway(p: Progress) -> None:
        seen.append(p)
        if p.stage == "calibrate" and p.done == 3:
            stop.set()

    run = library.embed_pending(cancel=stop, progress=cancel_midway)
    assert run.cancelled and run.embedded == 0
    assert [p.done for p in seen] == [1, 2, 3] and {p.total for p in seen} == {16}
    key = probes.model_key(library.embedder)
    assert "image" not in library.store.probes(key)  # half a set is not stored
    seen.clear()
    run = library.embed_pending(progress=seen.append)
    assert run.embedded == len(COLOURS)
    stages = [p.stage for p in seen]
    assert stages[:16] == ["calibrate"] * 16 and set(stages[16:]) <= {"index", "text"}
    assert len(library.store.probes(key)["image"]) == 16
    seen.clear()
    write(photos / "new.jpg", "red", seed=40)
    library.scan()
    library.embed_pending(progress=seen.append)
    assert "calibrate" not in {p.stage for p in seen}  # once per model
