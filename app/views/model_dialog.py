"""Get the model: download jina-clip-v2 (licence, size and consent first) or import a folder.

The dialog asks the bridge what suits this machine (the variant and why, the Hub's sizes), shows
the licence in plain words, and enables Download only once the user agrees. The download runs on
the bridge's model worker with a progress bar (bytes, speed, time left) and Cancel, which stops it
within a chunk and leaves nothing installed. "Import a model folder…" is the offline path. Once a
model is in place the bridge opens the library again on it; if the index was made with another
model, the dialog says so and offers to rebuild it.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.bridge import Bridge
from app.model_setup import ModelOffer, human_bytes, installed_text
from app.widgets.panel import Panel
from app.widgets.status import eta_text
from engine.errors import Cancelled, LanternaError, ModelMismatchError
from onnx_models import release

SPEED_WINDOW_S = 5.0
WIDTH = 660
ASKING, READY, UNREACHABLE, DOWNLOADING, INSTALLING, IMPORTING, CHECKING, DONE = (
    "asking",
    "ready",
    "unreachable",
    "downloading",
    "installing",
    "importing",
    "checking",
    "done",
)
BUSY = (DOWNLOADING, INSTALLING, IMPORTING, CHECKING)


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def licence_html() -> str:
    link = f'<a href="{release.LICENCE_URL}">{release.LICENCE}</a>'
    return (
        f"{link}: {html.escape(_first_upper(release.LICENCE_SUMMARY))}. "
        "The model runs on this computer only; nothing you search or index is sent anywhere."
    )


class ModelDialog(QDialog):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get the model")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(WIDTH)
        self.bridge = bridge
        self._state = ASKING
        self._offer: ModelOffer | None = None
        self._cancel: threading.Event | None = None
        self._close_when_idle = False
        self._installed: Any = None
        self._samples: deque[tuple[float, int]] = deque()
        self._build()
        bridge.model_progress.connect(self._progress)
        bridge.model_step.connect(self._step)
        self.finished.connect(self._forget_bridge)
        self._ask()

    def _forget_bridge(self) -> None:
        """Closed (never while busy): a later dialog is a new one; this one hears no more."""
        self.bridge.model_progress.disconnect(self._progress)
        self.bridge.model_step.disconnect(self._step)

    # -- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        name = release.REPO_ID.split("/")[-1]
        title = QLabel(f"<h2>{name}: the model Lanterna searches with</h2>")
        title.setTextFormat(Qt.TextFormat.RichText)
        intro = QLabel(
            "Lanterna understands pictures and words in many languages with the jina-clip-v2 "
            "model by Jina AI. It is downloaded once from the Hugging Face Hub, checked, and then "
            "runs on this computer."
        )
        intro.setWordWrap(True)

        self.variant_label = self._value()
        self.size_label = self._value()
        self.target_label = self._value()
        self.target_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.licence_label = self._value()
        self.licence_label.setTextFormat(Qt.TextFormat.RichText)
        self.licence_label.setOpenExternalLinks(True)
        self.licence_label.setText(licence_html())
        self._form = form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Variant", self.variant_label)
        form.addRow("Download", self.size_label)
        form.addRow("Installs into", self.target_label)
        form.addRow("Licence", self.licence_label)

        self.consent = QCheckBox()
        self.consent.toggled.connect(self._update)
        self._set_consent_text(None)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.progress.setAccessibleName("Download progress")
        self.progress_text = QLabel()
        self.progress_text.setWordWrap(True)

        self.message_box = Panel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner = QVBoxLayout(self.message_box)
        inner.setContentsMargins(10, 8, 10, 8)
        inner.addWidget(self.message)

        self.import_button = QPushButton("Import a model folder…")
        self.import_button.setToolTip(
            "Install a model folder, or the official ONNX files, from this computer (no network)"
        )
        self.import_button.clicked.connect(self.choose_import)
        self.retry_button = QPushButton("Try again")
        self.retry_button.clicked.connect(self._ask)
        self.rebuild_button = QPushButton("Rebuild the index")
        self.rebuild_button.setToolTip("Embed every file again with the new model")
        self.rebuild_button.clicked.connect(self._rebuild)
        self.download_button = QPushButton("Download")
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rebuild_button)
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)

        self._layout = layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.consent)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_text)
        layout.addWidget(self.message_box)
        layout.addStretch(1)
        layout.addLayout(buttons)

    @staticmethod
    def _value() -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        return label

    def _set_consent_text(self, total: int | None) -> None:
        size = human_bytes(total) if total is not None else "the files"
        self.consent.setText(
            f"I accept the {release.LICENCE} licence and agree to download {size} "
            "from the Hugging Face Hub"
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def busy(self) -> bool:
        return self._state in BUSY

    def _set_state(self, state: str) -> None:
        self._state = state
        self._update()
        if self._close_when_idle and not self.busy:
            self._close_when_idle = False
            super().reject()
        else:
            self._fit()

    def _fit(self) -> None:
        """Word-wrapped text needs the height it takes at this width: grow (never shrink) to it."""
        self._form.invalidate()  # its cached heights outlive the texts they were measured for
        layout = self._layout
        layout.invalidate()
        width = max(self.width(), WIDTH)
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else 0
        if height > self.height():
            self.resize(width, height)

    def _update(self) -> None:
        state = self._state
        plan = self._offer.plan if self._offer is not None else None
        self.consent.setEnabled(state == READY and plan is not None)
        self.download_button.setVisible(state != DONE)
        self.download_button.setEnabled(
            state == READY and plan is not None and self.consent.isChecked()
        )
        self.import_button.setVisible(state != DONE)
        self.import_button.setEnabled(state in (READY, UNREACHABLE))
        self.retry_button.setVisible(state == UNREACHABLE)
        downloading = state in (DOWNLOADING, INSTALLING) and self._cancel is not None
        self.cancel_button.setVisible(downloading)
        self.cancel_button.setEnabled(self._cancel is not None and not self._cancel.is_set())
        self.close_button.setEnabled(state not in (IMPORTING, CHECKING))
        self.close_button.setText("Done" if state == DONE else "Close")
        self.close_button.setDefault(state == DONE)
        self.progress.setVisible(state in BUSY)
        self.progress_text.setVisible(state in BUSY)
        if state != DONE:
            self.rebuild_button.setVisible(False)

    def say(self, text: str, tint: str = "neutral") -> None:
        """One sentence under the form: an error, a cancellation, or what was installed."""
        self.message.setText(text)
        self.message_box.set_tint(tint)
        self.message_box.setVisible(bool(text))

    # -- what to download --------------------------------------------------------------------

    def _ask(self) -> None:
        self._offer = None
        self.say("")
        self.variant_label.setText("Choosing the variant for this computer…")
        self.size_label.setText("Asking the Hugging Face Hub for the sizes…")
        self.target_label.setText("")
        self._set_state(ASKING)
        self.bridge.offer_model(self._offered)

    def _offered(self, offer: ModelOffer) -> None:
        self._offer = offer
        self.variant_label.setText(
            f"<b>{offer.variant}</b> — {html.escape(offer.note)}.<br>"
            f"Chosen because {html.escape(offer.why)}."
        )
        self.target_label.setText(str(offer.target))
        if offer.plan is None:
            self.size_label.setText("Not known yet: the Hub could not be asked.")
            self._set_consent_text(None)
            self.say(offer.error or "", "error")
            self._set_state(UNREACHABLE)
            return
        plan = offer.plan
        n = len(plan.files)
        self.size_label.setText(
            f"<b>{human_bytes(plan.total_bytes)}</b> in {n} file{'s' if n != 1 else ''} from "
            f"{html.escape(plan.host)} (revision {plan.revision[:12]}); splitting it into the "
            "two towers takes about as much space again for a while."
        )
        self.size_label.setToolTip(
            "\n".join(f"{f.path}  {human_bytes(f.size)}" for f in plan.files)
        )
        self._set_consent_text(plan.total_bytes)
        self._set_state(READY)

    # -- downloading -------------------------------------------------------------------------

    def start_download(self) -> None:
        if self._state != READY or self._offer is None or self._offer.plan is None:
            return
        if not self.consent.isChecked():
            return
        self._cancel = threading.Event()
        self._samples.clear()
        self.say("")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress_text.setText("Starting the download…")
        self._set_state(DOWNLOADING)
        self.bridge.download_model(self._offer.plan, self._cancel, self._done, self._failed)

    def cancel(self) -> None:
        if self._cancel is not None and self.busy:
            self._cancel.set()
            self.progress_text.setText("Cancelling…")
            self._update()

    def _progress(self, done: int, total: int) -> None:
        if self._state != DOWNLOADING or self._cancel is None or self._cancel.is_set():
            return
        now = time.monotonic()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        self.progress.setValue(int(1000 * done / total) if total else 0)
        text = f"{human_bytes(done)} of {human_bytes(total)}"
        first_t, first_done = self._samples[0]
        if now - first_t >= 0.5 and done > first_done:
            speed = (done - first_done) / (now - first_t)
            text += f" — {human_bytes(speed)}/s, {eta_text((total - done) / speed)}"
        self.progress_text.setText(text)
        if total and done >= total:
            self._set_state(INSTALLING)
            self.progress.setRange(0, 0)  # splitting and checking: no measure of how far
            self.progress_text.setText("Checking the files and splitting the model…")

    def _step(self, text: str) -> None:
        if self._state in (INSTALLING, IMPORTING) and not (
            self._cancel is not None and self._cancel.is_set()
        ):
            self.progress_text.setText(_first_upper(text))

    def _failed(self, exc: LanternaError) -> None:
        self._cancel = None
        if isinstance(exc, Cancelled):
            self.say("Download cancelled; nothing was installed.")
        else:
            self.say(exc.detail, "error")
        self._set_state(READY if self._offer is not None and self._offer.plan else UNREACHABLE)

    # -- importing ---------------------------------------------------------------------------

    def choose_import(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose a model folder, or a folder with the official ONNX files"
        )
        if path:
            self.import_folder(path)

    def import_folder(self, path: str) -> None:
        if self.busy:
            return
        self._cancel = None
        self.say("")
        self.progress.setRange(0, 0)
        self.progress_text.setText(f"Importing {path}…")
        self._set_state(IMPORTING)
        self.bridge.import_model(path, self._done, self._import_failed)

    def _import_failed(self, exc: LanternaError) -> None:
        self.say(exc.detail, "error")
        self._set_state(READY if self._offer is not None and self._offer.plan else UNREACHABLE)

    # -- afterwards --------------------------------------------------------------------------

    def _done(self, installed: Any) -> None:
        self._cancel = None
        self._installed = installed
        self.progress.setRange(0, 0)
        self.progress_text.setText("Loading the new model…")
        self.say(installed_text(installed), "ok")
        self._set_state(CHECKING)
        self.bridge.model_installed(self._checked)

    def _checked(self, error: LanternaError | None) -> None:
        done = installed_text(self._installed) if self._installed is not None else ""
        if error is None:
            self.say(f"{done} Lanterna uses it now.", "ok")
        elif isinstance(error, ModelMismatchError):
            hint = f" ({error.hint})" if error.hint else ""
            self.say(
                f"{done} The index was made with another model: {error.detail}{hint}. "
                "Rebuild the index to search with the new one.",
                "warning",
            )
        else:
            self.say(f"{done} But it cannot be used: {error.one_line()}", "error")
        self._set_state(DONE)
        if isinstance(error, ModelMismatchError):
            self.rebuild_button.setVisible(True)

    def _rebuild(self) -> None:
        self.bridge.rebuild()
        self.rebuild_button.setVisible(False)
        self.say(
            "Rebuilding the index: every file is embedded again with the new model, in the "
            "background. Search keeps working with the files already done.",
            "ok",
        )

    # -- closing -----------------------------------------------------------------------------

    def reject(self) -> None:
        """Closing while downloading cancels the download first; an import cannot be left."""
        if self._state in (DOWNLOADING, INSTALLING):
            self._close_when_idle = True
            self.cancel()
            return
        if self.busy:
            return
        super().reject()
