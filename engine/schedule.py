"""Planning a long indexing run on a slow machine: newest first, an honest ETA, yielding.

On a laptop without a GPU the real vision tower takes seconds per photo, so a library of 50 000
photos is a day of work (docs/benchmarks.md). This module holds the policy that makes that
bearable, apart from the indexer's mechanics:

* :func:`pending_newest_first`: the order of work: the most recently changed files first, so the
  photos a user is most likely to look for are searchable within minutes (file names are
  searchable from the scan on: they enter the keyword index when a file is first seen);
* :class:`RateMeter` and :func:`describe_eta`: the time left, from the rate measured over the
  last minutes ("about 9 hours left at 1.4 photos/s"), not from a guess;
* :class:`Policy`, :class:`Conditions` and :class:`PolicyPause`: indexing pauses on battery, when
  other programs keep the processor busy, and (the "index while idle" setting) while the user is
  at the machine. :class:`PolicyPause` reads like the ``threading.Event`` the indexer already
  polls for the pause button, so it needs no new hook;
* :func:`lower_priority`: the indexing thread (and the vision tower's threads that it starts)
  runs below normal priority, so the desktop stays responsive.

The indexer thread's owner (``engine/library.py``'s caller: the app's bridge, ``lanterna watch``)
decides which of these to use; nothing here starts a thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import FileRow, Store

log = logging.getLogger(__name__)

PAGE = 256


def pending_newest_first(store: Store, page: int = PAGE) -> Iterator[FileRow]:
    """Every pending file, the most recently modified first (keyset pages, no big sort held)."""
    before: tuple[int, int] | None = None
    while True:
        rows = store.pending_newest(page, before=before)
        if not rows:
            return
        yield from rows
        last = rows[-1]
        before = (last.mtime_ns or 0, last.id)


# -- the time left -------------------------------------------------------------------------------


class RateMeter:
    """Files done per second over a sliding window (pauses do not count as work time)."""

    def __init__(self, window_s: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._paused_at: float | None = None
        self._paused_total = 0.0

    def _now(self) -> float:
        paused = self._paused_total
        if self._paused_at is not None:
            paused += self._clock() - self._paused_at
        return self._clock() - paused

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._clock()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_total += self._clock() - self._paused_at
            self._paused_at = None

    def reset(self) -> None:
        self._samples.clear()

    def update(self, done: int) -> None:
        now = self._now()
        if self._samples and done < self._samples[-1][1]:
            self._samples.clear()  # a new run started
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] > self.window_s:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Per second, once there are at least two samples a few seconds and one file apart."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 3.0 or d1 <= d0:
            return None
        return (d1 - d0) / (t1 - t0)

    def eta(self, remaining: int) -> float | None:
        rate = self.rate()
        if rate is None or remaining <= 0:
            return None
        return remaining / rate


def _rate_text(rate: float, unit: str) -> str:
    if rate >= 1.0:
        return f"{rate:.1f} {unit}/s" if rate < 10 else f"{rate:.0f} {unit}/s"
    per_min = rate * 60
    return (
        f"{per_min:.0f} {unit} a minute" if per_min >= 1.5 else f"{per_min * 60:.0f} {unit} an hour"
    )


def describe_eta(seconds: float | None, rate: float | None = None, unit: str = "files") -> str:
    """``about 9 hours left at 1.4 photos/s``; empty when there is nothing honest to say."""
    if seconds is None:
        return ""
    if seconds < 60:
        left = "less than a minute left"
    elif seconds < 3600:
        left = f"about {max(1, round(seconds / 60))} min left"
    elif seconds < 36 * 3600:
        hours = seconds / 3600
        left = f"about {hours:.0f} hours left" if hours >= 2.5 else f"about {hours:.1f} hours left"
        left = left.replace("about 1.0 hours", "about 1 hour")
    else:
        left = f"about {seconds / 86400:.1f} days left"
    return f"{left} at {_rate_text(rate, unit)}" if rate else left


# -- yielding to the user ------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """When indexing stands aside. ``only_when_idle`` is the "index while idle" setting."""

    pause_on_battery: bool = True
    pause_when_busy: bool = True
    only_when_idle: bool = False
    busy_share: float = 0.6  # other programs' share of all cores that counts as busy
    idle_after_s: float = 120.0  # no keyboard or mouse for this long counts as idle


class Conditions:
    """What the machine is doing: battery, other programs' load, the user's idle time.

    Each probe returns ``None`` where it cannot tell (no battery, no psutil, an unknown
    desktop); the policy then does not pause for that reason.
    """

    def __init__(self) -> None:
        self._last: tuple[float, float, float] | None = None  # wall, all cpu, own cpu

    def on_battery(self) -> bool | None:
        try:
            import psutil
        except ImportError:
            return None
        try:
            battery = psutil.sensors_battery()
        except Exception:  # some platforms raise instead of answering None
            return None
        if battery is None or battery.power_plugged is None:
            return None
        return not battery.power_plugged

    def others_busy_share(self) -> float | None:
        """Share of all cores used by other programs since the previous call."""
        try:
            import psutil
        except ImportError:
            return None
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        own = psutil.Process().cpu_times()
        mine = own.user + own.system
        now = time.monotonic()
        last, self._last = self._last, (now, busy, mine)
        if last is None or now - last[0] < 0.5:
            return None
        cores = psutil.cpu_count() or 1
        span = (now - last[0]) * cores
        others = (busy - last[1]) - (mine - last[2])
        return float(max(0.0, min(1.0, others / span)))

    def user_idle_s(self) -> float | None:
        """Seconds since the last keyboard or mouse input, where the platform tells."""
        try:
            if sys.platform == "win32":
                return _idle_windows()
            if sys.platform == "darwin":
                return _idle_macos()
            return _idle_freedesktop()
        except Exception as exc:  # a probe must never stop indexing
            log.debug("idle time unknown: %s", exc)
            return None


def _idle_windows() -> float | None:
    import ctypes
    from ctypes import wintypes

    class LastInput(ctypes.Structure):
        _fields_ = [("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD)]

    info = LastInput()
    info.cbSize = ctypes.sizeof(info)
    windll = ctypes.windll  # type: ignore[attr-defined]
    if not windll.user32.GetLastInputInfo(ctypes.byref(info)):
        return None
    return float((windll.kernel32.GetTickCount() - info.dwTime) & 0xFFFFFFFF) / 1000.0


def _idle_macos() -> float | None:
    import subprocess

    out = subprocess.run(
        ["ioreg", "-c", "IOHIDSystem", "-d", "4"],
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout
    for line in out.splitlines():
        if '"HIDIdleTime"' in line:
            return int(line.rsplit("=", 1)[1].strip()) / 1e9
    return None


def _idle_freedesktop() -> float | None:
    """GNOME's idle monitor over D-Bus (other desktops: unknown, so no idle pause)."""
    import subprocess

    out = subprocess.run(
        [
            "gdbus",
            "call",
            "--session",
            "--dest",
            "org.gnome.Mutter.IdleMonitor",
            "--object-path",
            "/org/gnome/Mutter/IdleMonitor/Core",
            "--method",
            "org.gnome.Mutter.IdleMonitor.GetIdletime",
        ],
        capture_output=True,
        text=True,
        timeout=2,
        check=False,
    )
    if out.returncode != 0:
        return None
    digits = "".join(ch for ch in out.stdout.split()[-1] if ch.isdigit())
    return int(digits) / 1000.0 if digits else None


class PolicyPause:
    """A pause switch for ``Indexer.run(pause=…)``: the user's button, or the policy's reason.

    Reads like a ``threading.Event`` (``is_set``, ``set``, ``clear``); the machine is probed at
    most every ``check_every`` seconds. :attr:`reason` says, in words, why indexing waits.
    """

    def __init__(
        self,
        policy: Policy | None = None,
        user: threading.Event | None = None,
        conditions: Conditions | None = None,
        *,
        check_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or Policy()
        self.user = user or threading.Event()
        self.conditions = conditions or Conditions()
        self.check_every = check_every
        self._clock = clock
        self._checked = -float("inf")
        self._reason: str | None = None
        self._lock = threading.Lock()

    def set(self) -> None:
        self.user.set()

    def clear(self) -> None:
        self.user.clear()

    def is_set(self) -> bool:
        return self.reason is not None

    @property
    def reason(self) -> str | None:
        if self.user.is_set():
            return "paused"
        with self._lock:
            now = self._clock()
            if now - self._checked >= self.check_every:
                self._checked = now
                self._reason = self._evaluate()
            return self._reason

    def _evaluate(self) -> str | None:
        p, c = self.policy, self.conditions
        if p.pause_on_battery and c.on_battery():
            return "paused on battery: indexing goes on when the computer is plugged in"
        if p.pause_when_busy:
            share = c.others_busy_share()
            if share is not None and share >= p.busy_share:
                return f"paused while other programs keep the processor busy ({share:.0%})"
        if p.only_when_idle:
            idle = c.user_idle_s()
            if idle is not None and idle < p.idle_after_s:
                return "waiting until the computer is idle (Settings: index while idle)"
        return None


def thread_niceness() -> int | None:
    """The calling thread's nice value where threads have their own (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except OSError:
        return None


def lower_priority() -> bool:
    """Run the calling thread below normal priority; threads it starts later inherit that.

    Linux: the thread's nice value (+10); macOS: the background band; Windows: background mode.
    Returns whether it worked.
    """
    try:
        if sys.platform == "win32":
            import ctypes

            windll = ctypes.windll  # type: ignore[attr-defined]
            thread = windll.kernel32.GetCurrentThread()
            return bool(windll.kernel32.SetThreadPriority(thread, 0x00010000))  # BACKGROUND_BEGIN
        if sys.platform == "darwin" and hasattr(os, "PRIO_DARWIN_THREAD"):
            os.setpriority(os.PRIO_DARWIN_THREAD, 0, os.PRIO_DARWIN_BG)
            return True
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, 10))
        return True
    except (OSError, AttributeError, ImportError) as exc:
        log.debug("could not lower the indexing priority: %s", exc)
        return False
