"""Indexing status in the status bar: counts, a progress bar with ETA, pause, errors.

The time left comes from the rate measured over the last minutes (:class:`engine.schedule.
RateMeter`), shown as "about 9 hours left at 1.4 files/s"; files are indexed newest first, and
a pause the engine's policy chose (on battery, a busy machine, "index while idle") is shown
with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QToolButton, QWidget

from app.qt import Signal
from engine.schedule import RateMeter, describe_eta

NEWEST_FIRST_TIP = (
    "The newest files are indexed first, so recent photos can be found within minutes. "
    "File names can be searched already."
)

WORDS_FIRST_TIP = (
    "Documents' words go into the search first, so a word inside a document can be found "
    "within a minute; their pictures and meaning follow with the photos."
)


def eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return "less than a minute left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


def count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}".replace(",", "\u2009")


class IndexStatus(QWidget):
    pause_toggled = Signal(bool)
    errors_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = QLabel("Opening the index…")
        self.bar = QProgressBar()
        self.bar.setFixedWidth(220)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%v / %m")
        self.bar.setAccessibleName("Indexing progress")
        self.eta = QLabel()
        self.pause = QToolButton()
        self.pause.setCheckable(True)
        self.pause.setText("Pause")
        self.pause.setToolTip("Pause or resume indexing")
        self.pause.toggled.connect(self._paused)
        self.errors = QToolButton()
        self.errors.setAutoRaise(True)
        self.errors.setToolTip("Files that could not be read, and why")
        self.errors.clicked.connect(self.errors_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.addWidget(self.counts)
        layout.addStretch(1)
        layout.addWidget(self.errors)
        layout.addWidget(self.eta)
        layout.addWidget(self.bar)
        layout.addWidget(self.pause)
        self._indexing = False
        self._stage = "index"
        self._files = 0
        self._set_indexing(False)
        self.errors.setVisible(False)
        self.meter = RateMeter()
        self._reason: str | None = None
        self._remaining = 0
        self._reasons: Callable[[], str | None] | None = None
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll_reason)
        self.bar.setToolTip(NEWEST_FIRST_TIP)

    def watch_pause_reason(self, source: Callable[[], str | None], every_ms: int = 2000) -> None:
        """Ask ``source`` now and then why indexing waits (``None``: it does not)."""
        self._reasons = source
        self._timer.start(every_ms)
        self._poll_reason()

    def _poll_reason(self) -> None:
        if self._reasons is not None:
            self.set_pause_reason(self._reasons())

    def set_pause_reason(self, reason: str | None) -> None:
        """A pause chosen by the policy (the button's own pause reads "paused")."""
        if reason == self._reason:
            return
        self._reason = reason
        if reason is None:
            self.meter.resume()
        else:
            self.meter.pause()  # waiting is not work: the rate stays honest
        if self._indexing or reason:
            self.eta.setVisible(True)
            self.eta.setText(self._eta_text())

    def _eta_text(self) -> str:
        if self.pause.isChecked():
            return "paused"
        if self._reason:
            return self._reason
        if self.meter.rate() is None:
            return "estimating the time left…"
        return describe_eta(self.meter.eta(self._remaining), self.meter.rate(), "files")

    @property
    def indexing(self) -> bool:
        return self._indexing

    def _set_indexing(self, on: bool) -> None:
        self._indexing = on
        self.bar.setVisible(on)
        self.eta.setVisible(on)
        self.pause.setVisible(on or self.pause.isChecked())

    def _paused(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)
        if paused:
            self.eta.setText("paused")
        if self._indexing:
            self.show_progress(self.bar.value(), self.bar.maximum(), 0, None, self._stage)

    def _progress_text(self, done: int, total: int, stage: str) -> str:
        if stage == "calibrate":  # once per model, before its first photos
            return f"Preparing search for this model… {done} of {total}"
        of = f"{count(done, 'file')} of {total:,}".replace(",", "\u2009")
        reading = stage in ("text", "words")
        if self.pause.isChecked():
            return f"Paused: {of} {'read' if reading else 'indexed'}"
        if stage == "words":
            return f"Reading the words of documents… {of}, newest first"
        if reading:
            return f"Reading text in pictures… {of}"
        return f"Indexing… {of}, newest first"

    def show_progress(
        self, done: int, total: int, errors: int, eta: float | None, stage: str = "index"
    ) -> None:
        """``eta`` (the run's average) is kept for callers; the rate meter's figure is shown."""
        finished = done >= total
        self._stage = stage
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))
        if stage == "calibrate":  # not files: no rate, no time left from it
            self._set_indexing(True)
            self.counts.setText(self._progress_text(done, total, stage))
            self.counts.setToolTip("")
            self.eta.setText("")
            return
        self.meter.update(done)
        self._remaining = max(0, total - done)
        if not finished:
            self._set_indexing(True)
            self.counts.setText(self._progress_text(done, total, stage))
            self.counts.setToolTip(
                {"words": WORDS_FIRST_TIP, "text": ""}.get(stage, NEWEST_FIRST_TIP)
            )
            self.eta.setText(self._eta_text())
        else:
            self._set_indexing(False)
            self.meter.reset()

    def show_status(self, status: dict[str, Any]) -> None:
        files = status.get("files", {})
        indexed = int(files.get("indexed", 0))
        pending = int(files.get("pending", 0))
        errors = int(files.get("error", 0))
        self._files = indexed
        if not self._indexing:
            parts = [count(indexed, "file") + " indexed"]
            if pending and not status.get("model_error"):
                parts.append(f"{pending:,} waiting".replace(",", "\u2009"))
            folders = len(status.get("folders", []))
            parts.append(count(folders, "folder"))
            self.counts.setText(" · ".join(parts))
        self.errors.setVisible(errors > 0)
        self.errors.setText(f"⚠ {count(errors, 'error')}")
