"""The main window: search box, filters, results grid, preview, status bar.

It reacts to the bridge's signals and asks the bridge for everything the engine does; it never
calls the engine itself.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from PySide6.QtCore import QByteArray, QModelIndex, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app import tray
from app.bridge import MAX_RESULTS, Bridge, FileInfo, SearchRequest
from app.icon import app_icon
from app.models.results import Entry, ResultsModel
from app.tasks import Tasks
from app.theme import SYSTEM, ThemeFollower
from app.thumbnails import ThumbnailCache
from app.views.errors import ErrorsDialog, window_hint
from app.views.model_dialog import ModelDialog
from app.views.result_actions import ResultActions
from app.views.settings import SettingsDialog
from app.views.welcome import WelcomePage
from app.widgets import drops
from app.widgets.banner import Banner
from app.widgets.filters import FilterBar
from app.widgets.grid import ResultsView
from app.widgets.preview import PreviewPane
from app.widgets.search_field import QueryChip, SearchField
from app.widgets.status import IndexStatus
from engine.errors import LanternaError, ModelError, ModelMismatchError
from engine.schedule import Policy

log = logging.getLogger(__name__)

DEBOUNCE_MS = 150
MINIMUM_SIZE = QSize(800, 540)  # the filters in one row, two columns of results, the preview
LIVE_REFRESH_S = 2.0  # while indexing, re-run the current query this often at most
WELCOME, RESULTS = 0, 1
GRID, MESSAGE = 0, 1
MODEL_KEYS = (
    "model_checked",
    "model",
    "provider",
    "provider_note",
    "model_error",
    "index_mismatch",
)


class MainWindow(QMainWindow):
    def __init__(
        self,
        bridge: Bridge,
        thumbnails: ThumbnailCache,
        *,
        settings: QSettings | None = None,
        theme: ThemeFollower | None = None,
        suggested_folders: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.thumbnails = thumbnails
        self.settings = settings or QSettings()
        self.theme = theme
        self.setWindowTitle("Lanterna")
        self.setWindowIcon(app_icon())
        self._tasks = Tasks(threads=1)
        self._status: dict[str, Any] | None = None
        self._request = SearchRequest()
        self._shown: SearchRequest | None = None
        self._searching = False
        self._open_when_ready = False
        self._image: str | bytes | None = None
        self._image_indexed = False
        self._last_live = 0.0
        self._quitting = False
        self._tray: QSystemTrayIcon | None = None
        self._errors_dialog: ErrorsDialog | None = None
        self._model_dialog: ModelDialog | None = None

        self._build(suggested_folders)
        self.setMinimumSize(MINIMUM_SIZE.expandedTo(self.minimumSizeHint()))
        self._build_menus()
        self._connect()
        self._restore_geometry()
        self._set_up_tray()

    # -- building ----------------------------------------------------------------------------

    def _build(self, suggested_folders: list[str] | None) -> None:
        self.search = SearchField()
        self.chip = QueryChip(self.thumbnails, self._tasks)
        self.settings_button = QToolButton()
        self.settings_button.setText("Folders && settings")
        self.settings_button.setToolTip("Watched folders, model, device, index (Ctrl+,)")
        self.settings_button.setAutoRaise(True)
        self.show_weak = QCheckBox("Weaker matches too")
        self.show_weak.setToolTip(
            "Also show what matches only weakly, after the good matches (the cut-off hides it)"
        )
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.chip)
        top.addWidget(self.show_weak)
        top.addWidget(self.settings_button)
        self.filters = FilterBar()

        self.banner = Banner()

        self.model = ResultsModel(self.thumbnails)
        self.grid = ResultsView()
        self.grid.setModel(self.model)
        self.message = QLabel()
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setObjectName("emptyState")
        self.message.setMargin(40)
        self.show_nearest = QPushButton("Show the nearest anyway")
        self.show_nearest.setVisible(False)
        self.show_nearest.clicked.connect(lambda: self.show_weak.setChecked(True))
        message_page = QWidget()
        message_layout = QVBoxLayout(message_page)
        message_layout.addStretch(1)
        message_layout.addWidget(self.message)
        message_layout.addWidget(self.show_nearest, 0, Qt.AlignmentFlag.AlignHCenter)
        message_layout.addStretch(1)
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.grid)
        self.results_stack.addWidget(message_page)
        self.preview = PreviewPane(self.thumbnails)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.results_stack)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 320])

        self.welcome = WelcomePage(suggested_folders)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.splitter)
        self.pages.setCurrentIndex(RESULTS)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(10, 10, 10, 0)
        layout.addLayout(top)
        layout.addWidget(self.filters)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        self.index_status = IndexStatus()
        # Permanent, but not stretched: a passing message ("Path copied") needs room on its left.
        self.statusBar().addPermanentWidget(self.index_status)
        self.setAcceptDrops(True)
        self.setTabOrder(self.search, self.filters.kind)
        self.setTabOrder(self.filters.reset_button, self.grid)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._show_message("Opening the index…")

    def _action(
        self, text: str, slot: Any, *shortcuts: QKeySequence | QKeySequence.StandardKey | str
    ) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        a = self._action
        self.actions_ = ResultActions(self, self.grid, self._tasks, self.statusBar().showMessage)
        self.actions_.find_similar.connect(self.find_similar)
        self.act_paste = a("&Paste image", self.paste_image, QKeySequence.StandardKey.Paste)
        self.act_find = a("&Find", self.focus_search, "Ctrl+F", "Ctrl+L")
        self.act_settings = a("Folders && &settings…", self.open_settings, "Ctrl+,")
        self.act_add_folder = a("&Add folder…", self.browse_folder, "Ctrl+O")
        self.act_get_model = a("&Get the model…", self.get_model)
        self.act_quit = a("&Quit", self.quit, QKeySequence.StandardKey.Quit)
        self.act_errors = a("Indexing &errors…", self.show_errors)
        self.act_preview = QAction("&Preview pane", self, checkable=True, checked=True)
        self.act_preview.setShortcut(QKeySequence("F3"))
        self.act_preview.toggled.connect(self.preview.setVisible)

        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_add_folder, self.act_get_model, self.act_settings])
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_find, self.act_paste])
        edit.addSeparator()
        edit.addActions(self.actions_.all)
        view = bar.addMenu("&View")
        view.addActions([self.act_preview, self.act_errors])

    def _connect(self) -> None:
        b = self.bridge
        b.opened.connect(self._opened)
        b.status_changed.connect(self._status_changed)
        b.progress.connect(self._progress)
        b.indexed.connect(self._indexed)
        b.files_changed.connect(self._files_changed)
        b.search_done.connect(self._results)
        b.search_failed.connect(self._search_failed)
        b.failed.connect(self._failed)
        b.watch_failed.connect(self._watch_failed)

        self.search.textEdited.connect(lambda _t: self._debounce.start())
        self.search.returnPressed.connect(self.open_top)
        self.search.escape.connect(self.escape)
        self.search.down.connect(self._enter_grid)
        self.search.image_given.connect(lambda img: self.set_image(img))
        self._debounce.timeout.connect(self.run_search)
        self.chip.removed.connect(self.clear_image)
        self.chip.sign_changed.connect(lambda _negative: self.run_search())
        self.filters.changed.connect(self.run_search)
        self.show_weak.toggled.connect(lambda _on: self.run_search())
        self.settings_button.clicked.connect(self.open_settings)
        self.grid.activated_entry.connect(self.actions_.open_entry)
        self.grid.leave_top.connect(self.focus_search)
        self.grid.selectionModel().currentChanged.connect(self._current_changed)
        self.model.modelReset.connect(self.actions_.update)
        self.model.more_wanted.connect(self._more)
        self.preview.info_wanted.connect(self._fetch_info)
        self.welcome.start.connect(self._welcome_start)
        self.welcome.choose_model.connect(self.choose_model)
        self.welcome.get_model.connect(self.get_model)
        self.index_status.pause_toggled.connect(self.bridge.set_paused)
        self.index_status.errors_clicked.connect(self.show_errors)
        self.index_status.watch_pause_reason(self.bridge.pause_reason)
        self.bridge.set_policy(self._policy())
        self.actions_.update()

    # -- the engine's news -------------------------------------------------------------------

    def _merge(self, status: dict[str, Any]) -> dict[str, Any]:
        """A status that did not look at the model keeps what the last one that did said."""
        old = self._status or {}
        if not status.get("model_checked") and old.get("model_checked"):
            status = {**status, **{k: old.get(k) for k in MODEL_KEYS}}
        self._status = status
        return status

    def _opened(self, status: dict[str, Any]) -> None:
        status = self._merge(status)
        first_run = not status.get("folders")
        self.pages.setCurrentIndex(WELCOME if first_run else RESULTS)
        self.filters.setVisible(not first_run)
        self.filters.set_folders([f["path"] for f in status.get("folders", [])])
        self.index_status.show_status(status)
        if not first_run:
            self.run_search()
        self.search.setFocus()

    def _status_changed(self, status: dict[str, Any]) -> None:
        status = self._merge(status)
        self.welcome.show_model(status)
        self.index_status.show_status(status)
        self.filters.set_folders([f["path"] for f in status.get("folders", [])])
        if self._errors_dialog is not None:
            self._errors_dialog.show_status(status)
        self._update_model_banner()

    def _update_model_banner(self) -> None:
        """The welcome page explains a missing model itself; elsewhere a banner does. A model
        the index was not made with gets a banner that offers to rebuild the index."""
        status = self._status or {}
        error = status.get("model_error")
        mismatch = status.get("index_mismatch")
        if error and self.pages.currentIndex() == RESULTS:
            self.banner.say(
                "model",
                f"<b>The model is missing.</b> {html.escape(error)}<br>"
                "Download it or import a folder with <i>File › Get the model…</i>",
                "Choose model folder…",
                self.choose_model,
            )
        elif mismatch and not error:
            hint = window_hint(mismatch.get("hint") or "")
            self.banner.say(
                "mismatch",
                "<b>The index was made with another model.</b> "
                f"{html.escape(str(mismatch.get('detail') or ''))}"
                + (f" ({html.escape(hint)})" if hint else ""),
                "Rebuild index",
                self.rebuild_index,
            )
        elif self.banner.kind in ("model", "mismatch"):
            self.banner.dismiss()
            if not error and self.pages.currentIndex() == RESULTS:
                self.run_search()

    def _progress(self, p: Any) -> None:
        self.index_status.show_progress(
            p.done, p.total, p.errors, p.eta, getattr(p, "stage", "index")
        )
        if p.done < p.total:
            self._live_refresh()

    def _indexed(self, _run: Any) -> None:
        """A run ended (or the first scan found nothing to do): counts, errors, results."""
        self.bridge.refresh_status()  # the model is loaded by now: cheap, and clears errors
        self._live_refresh(force=True)

    def _files_changed(self, _changes: Any) -> None:
        self.bridge.refresh_status(load_model=False)
        self._live_refresh(force=True)

    def _live_refresh(self, force: bool = False) -> None:
        """Results appear as indexing proceeds: re-run the current query now and then."""
        now = time.monotonic()
        busy = self._debounce.isActive() or self._searching
        if self.pages.currentIndex() != RESULTS or (busy and not force):
            return
        if force or now - self._last_live >= LIVE_REFRESH_S:
            self._last_live = now
            self.run_search(keep_k=True)

    def _watch_failed(self, exc: LanternaError) -> None:
        self.bridge.refresh_status()  # a missing model or a mismatch shows there
        if not isinstance(exc, (ModelError, ModelMismatchError)):
            self._failed(exc)

    def _failed(self, exc: LanternaError) -> None:
        hint = window_hint(exc.hint)
        text = f"<b>{html.escape(exc.title)}:</b> {html.escape(exc.detail)}"
        if hint:
            text += f"<br>{html.escape(hint)}"
        self.banner.say("error", text)
        if not self.bridge.is_open:
            self._show_message(f"{exc.title}\n\n{exc.detail}\n{hint}".strip())
            self.index_status.counts.setText("The index could not be opened")

    # -- searching ---------------------------------------------------------------------------

    def current_request(self, k: int | None = None) -> SearchRequest:
        values = self.filters.values()
        return SearchRequest(
            text=self.search.text(),
            image=self._image,
            image_indexed=self._image_indexed,
            image_negative=self._image is not None and self.chip.negative,
            kind=values["kind"],  # type: ignore[arg-type]
            folder=values["folder"],  # type: ignore[arg-type]
            date_from=values["date_from"],  # type: ignore[arg-type]
            date_to=values["date_to"],  # type: ignore[arg-type]
            k=k or SearchRequest.k,
            show_all=self.show_weak.isChecked(),
        )

    def run_search(self, keep_k: bool = False) -> None:
        self._debounce.stop()
        req = self.current_request()
        if keep_k and req.k < self._request.k and req.same_query(self._request):
            req = self.current_request(self._request.k)
        self._request = req
        self._searching = True
        self.bridge.search(req)

    def _more(self) -> None:
        if self._request.k < MAX_RESULTS and not self._searching:
            self._request = self._request.more()
            self._searching = True
            self.bridge.search(self._request)

    def _results(self, req: SearchRequest, entries: list[Entry]) -> None:
        self._searching = False
        current = self.grid.current_entry()
        shown, self._shown = self._shown, req
        scrolled = self.grid.verticalScrollBar().value()
        self.thumbnails.forget()
        self.model.set_entries(entries, may_have_more=len(entries) >= req.k and req.k < MAX_RESULTS)
        self.filters.count.setText(_count_text(req, entries))
        if not entries:
            self._show_message(self._empty_text(req))
            self.show_nearest.setVisible(not req.empty and not req.show_all)
        else:
            self.results_stack.setCurrentIndex(GRID)
            # A refresh of the same query (indexing went on, "load more") keeps the user's place;
            # a new query starts at its best result.
            same = shown is not None and req.same_query(shown)
            row = self.model.row_of(current.path) if current is not None and same else None
            index = self.model.index(row or 0)
            self.grid.setCurrentIndex(index)
            if same and row is not None:
                self.grid.verticalScrollBar().setValue(scrolled)
                self.grid.scrollTo(index)  # the place kept stays in sight
            else:
                self.grid.scrollToTop()
        # A reset model changes the current item without a signal: the preview follows here.
        self.preview.show_entry(self.grid.current_entry())
        if self._open_when_ready:
            self._open_when_ready = False
            if entries:
                self.actions_.open_entry(entries[0])
        self.actions_.update()

    def _empty_text(self, req: SearchRequest) -> str:
        status = self._status or {}
        indexing = self.index_status.indexing
        if not req.empty:
            extra = " (some files are still being indexed)" if indexing else ""
            hint = "Try other words, or reset the filters." if self.filters.active else ""
            return f"No good matches{extra}.\n{hint}"
        if status.get("model_error"):
            return "Nothing can be indexed until the model is there (see above)."
        if indexing or status.get("files", {}).get("pending"):
            return "Indexing… your most recent files will appear here."
        if self.filters.active:
            return "No recent files match the filters."
        return "Nothing is indexed yet. Add folders in Folders & settings (Ctrl+,)."

    def _search_failed(self, req: SearchRequest, exc: LanternaError) -> None:
        self._searching = False
        self._open_when_ready = False
        self.model.clear()
        self.preview.show_entry(None)
        if isinstance(exc, ModelError):
            self._show_message(
                "Searching needs the model, and it is missing.\n\n"
                f"{exc.detail}\n\nGet the model with File › Get the model…, or choose a model "
                "folder in Folders & settings."
            )
            self.bridge.refresh_status()
        else:
            self._show_message(f"{exc.title}\n\n{exc.detail}\n{window_hint(exc.hint)}".strip())
        self.actions_.update()

    def _show_message(self, text: str) -> None:
        self.show_nearest.setVisible(False)
        self.message.setText(text)
        self.results_stack.setCurrentIndex(MESSAGE)

    def open_top(self) -> None:
        if self._debounce.isActive() or self._searching:
            self._open_when_ready = True
            if self._debounce.isActive():
                self.run_search()
            return
        entry = self.model.entry(0)
        if entry is not None:
            self.actions_.open_entry(entry)

    def escape(self) -> None:
        if self.search.text():
            self.search.clear()
            self.run_search()
        elif self._image is not None:
            self.clear_image()
        elif self.filters.active:
            self.filters.reset()

    # -- image queries -----------------------------------------------------------------------

    def set_image(self, image: str | bytes, indexed: bool = False) -> None:
        self._image = image
        self._image_indexed = indexed
        self.chip.show_image(image, similar=indexed)
        if self.pages.currentIndex() != RESULTS:
            self.pages.setCurrentIndex(RESULTS)
            self.filters.setVisible(True)
            self._update_model_banner()
        self.run_search()

    def find_similar(self, entry: Entry) -> None:
        """Pictures like this result: it replaces the query (a text typed before would
        otherwise lead, and the picture come second)."""
        self.search.clear()
        self.set_image(entry.path, indexed=True)

    def clear_image(self) -> None:
        self._image = None
        self._image_indexed = False
        self.chip.clear()
        self.run_search()
        self.search.setFocus()

    def paste_image(self) -> None:
        image = drops.pasted_image(QGuiApplication.clipboard().mimeData())
        if image is not None:
            self.set_image(image)
        else:
            self.statusBar().showMessage("There is no image on the clipboard", 4000)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.source() is not self.grid and drops.has_image(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.source() is not self.grid and drops.has_image(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        image = drops.image_query(event.mimeData())
        if image is not None and event.source() is not self.grid:
            event.acceptProposedAction()
            self.set_image(image)

    # -- the current result ------------------------------------------------------------------

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.preview.show_entry(self.model.entry(current.row()))
        self.actions_.update()

    def _fetch_info(self, path: str) -> None:
        self.bridge.file_info(path, self._got_info)

    def _got_info(self, info: FileInfo) -> None:
        self.preview.show_info(info)

    # -- focus -------------------------------------------------------------------------------

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _enter_grid(self) -> None:
        if self.model.rowCount() == 0:
            return
        self.grid.setFocus(Qt.FocusReason.TabFocusReason)
        if not self.grid.currentIndex().isValid():
            self.grid.setCurrentIndex(self.model.index(0))

    # -- folders and settings ----------------------------------------------------------------

    def _welcome_start(self, folders: list[str]) -> None:
        self.pages.setCurrentIndex(RESULTS)
        self.filters.setVisible(True)
        self._update_model_banner()
        self._show_message("Indexing… your most recent files will appear here.")
        self.bridge.add_folders(folders, lambda _added: self.run_search())
        self.search.setFocus()

    def browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to search")
        if path:
            self._welcome_start([path])

    def choose_model(self) -> None:
        start = str((self._status or {}).get("model_dir", ""))
        path = QFileDialog.getExistingDirectory(self, "Choose the model folder", start)
        if path:
            self.set_model_dir(path)

    def get_model(self) -> None:
        """The "Get the model" dialog: download (licence, size, consent) or import a folder."""
        dialog = self._model_dialog
        if dialog is None or not (dialog.isVisible() or dialog.busy):
            dialog = self._model_dialog = ModelDialog(self.bridge, self)
        dialog.open()
        dialog.raise_()

    def rebuild_index(self) -> None:
        self.banner.dismiss()
        self.bridge.rebuild()
        self.statusBar().showMessage("Rebuilding the index with the current model…", 6000)

    def set_model_dir(self, path: str) -> None:
        """Use this model folder, for this data folder (the command line on it agrees)."""
        self.banner.setVisible(False)
        self.welcome.show_model(None)
        self.bridge.choose_model(path)

    def open_settings(self) -> None:
        dialog = SettingsDialog(
            self.bridge,
            self._status,
            device=self.bridge.device,
            theme=str(self.settings.value("theme", SYSTEM)),
            tray=self._tray_wanted(),
            policy=self._policy(),
            parent=self,
        )
        self.bridge.refresh_status()
        if dialog.exec():
            self._apply(dialog)
        self.bridge.status_changed.disconnect(dialog.show_status)

    def _apply(self, dialog: SettingsDialog) -> None:
        c = dialog.choices()
        self.bridge.set_rules(c.excludes, c.include_hidden)
        if c.ocr != bool(((self._status or {}).get("ocr") or {}).get("enabled", True)):
            self.bridge.set_ocr(c.ocr)
        self.settings.setValue("theme", c.theme)
        self.settings.setValue("device", c.device)
        self.settings.setValue("tray", c.tray)
        self.settings.setValue("indexing/on_battery", c.policy.pause_on_battery)
        self.settings.setValue("indexing/when_busy", c.policy.pause_when_busy)
        self.settings.setValue("indexing/idle_only", c.policy.only_when_idle)
        self.bridge.set_policy(c.policy)
        if self.theme is not None:
            self.theme.set_mode(c.theme)
        current_model = str((self._status or {}).get("model_dir", ""))
        if (c.model_dir and c.model_dir != current_model) or c.device != self.bridge.device:
            self.bridge.device = c.device
            if c.model_dir and c.model_dir != current_model:
                self.bridge.choose_model(c.model_dir)
            else:
                self.bridge.reopen(c.model_dir or None, c.device)
        self._set_up_tray()

    def show_errors(self) -> None:
        if self._errors_dialog is None:
            self._errors_dialog = ErrorsDialog(self)
            self._errors_dialog.retry.connect(self.bridge.retry_errors)
        self._errors_dialog.show_status(self._status or {})
        self.bridge.refresh_status(load_model=False)
        self._errors_dialog.show()
        self._errors_dialog.raise_()

    # -- tray, geometry, quitting ------------------------------------------------------------

    def _flag(self, key: str, default: bool) -> bool:
        return str(self.settings.value(key, str(default))).lower() == "true"

    def _policy(self) -> Policy:
        return Policy(
            pause_on_battery=self._flag("indexing/on_battery", True),
            pause_when_busy=self._flag("indexing/when_busy", True),
            only_when_idle=self._flag("indexing/idle_only", False),
        )

    def _tray_wanted(self) -> bool:
        return str(self.settings.value("tray", "false")).lower() == "true"

    def _set_up_tray(self) -> None:
        wanted = self._tray_wanted() and tray.available()
        if not wanted and self._tray is not None:
            self._tray.hide()
            self._tray = None
        elif wanted and self._tray is None:
            self._tray = tray.make_tray(self, self.act_quit)

    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1240, 800)
        splitter = self.settings.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)

    def _save_geometry(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.sync()

    def quit(self) -> None:
        self._quitting = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_geometry()
        if self._tray is not None and not self._quitting:
            event.ignore()  # the tray keeps watching; Quit in its menu ends it
            self.hide()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        self._debounce.stop()
        self.bridge.shutdown()
        self.thumbnails.close(5000)
        self._tasks.wait(5000)
        if self._tray is not None:
            self._tray.hide()


def _count_text(req: SearchRequest, entries: list[Entry]) -> str:
    n = len(entries)
    if req.empty:
        return f"{n} recent file{'s' if n != 1 else ''}" if n else ""
    more = "+" if n >= req.k and req.k < MAX_RESULTS else ""
    weak = sum(1 for e in entries if e.weak)
    if weak:
        good = n - weak
        return f"{good} good, then {weak}{more} weaker"
    if any(e.words_only for e in entries):  # no model yet: what holds the words, no more
        return f"{n}{more} holding these words (by meaning once the model is there)"
    return f"{n}{more} result{'s' if n != 1 else ''}"
