"""Folders & settings: watched folders, exclude patterns, model and device, the index, looks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import Bridge
from app.theme import DARK, LIGHT, SYSTEM
from app.views.model_dialog import ModelDialog
from app.views.model_status import describe, provider_text
from app.widgets.preview import human_size
from engine.schedule import Policy

DEVICES = (("Automatic (GPU when usable)", "auto"), ("GPU (CUDA)", "cuda"), ("CPU", "cpu"))
THEMES = (("Follow the system", SYSTEM), ("Light", LIGHT), ("Dark", DARK))


@dataclass
class Choices:
    excludes: list[str]
    include_hidden: bool
    model_dir: str
    device: str
    theme: str
    tray: bool
    ocr: bool
    policy: Policy = field(default_factory=Policy)


class SettingsDialog(QDialog):
    def __init__(
        self,
        bridge: Bridge,
        status: dict[str, Any] | None,
        *,
        device: str,
        theme: str,
        tray: bool,
        policy: Policy | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._policy = policy or Policy()
        self.setWindowTitle("Folders & settings")
        self.setMinimumSize(640, 460)
        self.bridge = bridge
        self._status = status or {}
        self._model_dialog: ModelDialog | None = None
        self._ocr_shown = False
        tabs = QTabWidget()
        tabs.addTab(self._folders_tab(), "Folders")
        tabs.addTab(self._model_tab(device), "Model && device")
        tabs.addTab(self._index_tab(), "Index")
        tabs.addTab(self._general_tab(theme, tray), "General")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self.show_status(self._status)
        bridge.status_changed.connect(self.show_status)
        bridge.call(lambda lib: lib.rules(), self._show_rules, lambda _exc: None)

    # -- tabs --------------------------------------------------------------------------------

    def _folders_tab(self) -> QWidget:
        page = QWidget()
        self.folder_list = QListWidget()
        self.folder_list.setAccessibleName("Watched folders")
        add = QPushButton("Add…")
        add.clicked.connect(self._add_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_folder)
        self.folder_list.currentRowChanged.connect(
            lambda row: self.remove_button.setEnabled(row >= 0)
        )
        self.remove_button.setEnabled(False)
        buttons = QVBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.folder_list, 1)
        row.addLayout(buttons)
        self.excludes = QPlainTextEdit()
        self.excludes.setPlaceholderText("one pattern a line, e.g. node_modules or *.tmp")
        self.excludes.setMaximumHeight(110)
        self.include_hidden = QCheckBox("Include hidden files and folders")
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("Lanterna searches these folders and keeps up with changes:"))
        layout.addLayout(row, 1)
        layout.addWidget(QLabel("Skip files and folders matching:"))
        layout.addWidget(self.excludes)
        layout.addWidget(self.include_hidden)
        return page

    def _model_tab(self, device: str) -> QWidget:
        page = QWidget()
        self.model_dir = QLineEdit(str(self._status.get("model_dir", "")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        self.get_model_button = QPushButton("Get the model…")
        self.get_model_button.setToolTip(
            "Download jina-clip-v2 into this folder (licence and size first), or import one"
        )
        self.get_model_button.clicked.connect(self.get_model)
        mrow = QHBoxLayout()
        mrow.addWidget(self.model_dir, 1)
        mrow.addWidget(browse)
        mrow.addWidget(self.get_model_button)
        self.model_state = QLabel()
        self.model_state.setWordWrap(True)
        self.model_state.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device = QComboBox()
        for label, value in DEVICES:
            self.device.addItem(label, value)
        self.device.setCurrentIndex(max(self.device.findData(device), 0))
        self.in_use = QLabel()
        form = QFormLayout(page)
        form.addRow("Model folder", mrow)
        form.addRow("", self.model_state)
        form.addRow("Compute device", self.device)
        form.addRow("In use now", self.in_use)
        return page

    def _index_tab(self) -> QWidget:
        page = QWidget()
        self.index_path = QLabel()
        self.index_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.index_path.setWordWrap(True)
        self.index_size = QLabel()
        self.index_counts = QLabel()
        self.ocr = QCheckBox("Read text in photos and scans (OCR)")
        self.ocr.setToolTip(
            "Find receipts, screenshots and scanned pages by the words on them. Turning it off "
            "forgets the text read so far; the pictures stay findable by how they look."
        )
        self.ocr_counts = QLabel()
        self.ocr_counts.setWordWrap(True)
        rebuild = QPushButton("Rebuild index…")
        rebuild.setToolTip("Embed every file again with the current model")
        rebuild.clicked.connect(self._rebuild)
        form = QFormLayout(page)
        form.addRow("Location", self.index_path)
        form.addRow("Size", self.index_size)
        form.addRow("Contents", self.index_counts)
        form.addRow("Text in pictures", self.ocr)
        form.addRow("", self.ocr_counts)
        form.addRow("", rebuild)
        return page

    def _general_tab(self, theme: str, tray: bool) -> QWidget:
        page = QWidget()
        self.theme = QComboBox()
        for label, value in THEMES:
            self.theme.addItem(label, value)
        self.theme.setCurrentIndex(max(self.theme.findData(theme), 0))
        self.tray = QCheckBox("Keep watching folders from the tray when the window is closed")
        self.tray.setChecked(tray)
        if not QSystemTrayIcon.isSystemTrayAvailable():
            self.tray.setEnabled(False)
            self.tray.setToolTip("This desktop has no system tray")
        form = QFormLayout(page)
        form.addRow("Appearance", self.theme)
        form.addRow("", self.tray)
        p = self._policy
        self.on_battery = QCheckBox("Pause indexing on battery")
        self.on_battery.setChecked(p.pause_on_battery)
        self.when_busy = QCheckBox("Pause indexing while other programs keep the processor busy")
        self.when_busy.setChecked(p.pause_when_busy)
        self.idle_only = QCheckBox("Index while idle: only when the keyboard and mouse rest")
        self.idle_only.setChecked(p.only_when_idle)
        self.idle_only.setToolTip(
            "On a computer without a graphics card, indexing photos takes seconds each: this "
            "keeps it out of your way (it waits two minutes after your last input)"
        )
        form.addRow("Indexing", self.on_battery)
        form.addRow("", self.when_busy)
        form.addRow("", self.idle_only)
        return page

    # -- state -------------------------------------------------------------------------------

    def show_status(self, status: dict[str, Any]) -> None:
        self._status = status or {}
        self.folder_list.clear()
        for f in self._status.get("folders", []):
            item = QListWidgetItem(f["path"])
            item.setData(Qt.ItemDataRole.UserRole, f["path"])
            if f.get("status") not in (None, "ok"):
                item.setText(f"{f['path']}   ({f.get('error') or f['status']})")
            self.folder_list.addItem(item)
        state, headline, details = describe(self._status)
        self.model_state.setText(headline if state != "missing" else f"{headline}.\n{details}")
        self.in_use.setText(provider_text(self._status.get("provider")))
        self.index_path.setText(str(self._status.get("index", "")))
        self.index_size.setText(human_size(self._status.get("db_bytes")))
        files = self._status.get("files", {})
        self.index_counts.setText(
            f"{files.get('indexed', 0)} files indexed, {files.get('pending', 0)} waiting, "
            f"{files.get('error', 0)} with errors; {self._status.get('items', 0)} items"
        )
        ocr = self._status.get("ocr") or {}
        if not self._ocr_shown and ocr:
            self.ocr.setChecked(bool(ocr.get("enabled", True)))
            self._ocr_shown = True
        if ocr.get("unavailable"):
            self.ocr_counts.setText(str(ocr["unavailable"]))
        elif ocr.get("enabled"):
            self.ocr_counts.setText(
                f"{ocr.get('images_with_text', 0)} images with text, "
                f"{ocr.get('document_pages_with_text', 0)} scanned pages read, "
                f"{ocr.get('pending', 0)} files waiting"
            )
        else:
            self.ocr_counts.setText("")

    def _show_rules(self, rules: Any) -> None:
        self.excludes.setPlainText("\n".join(rules.excludes))
        self.include_hidden.setChecked(bool(rules.include_hidden))

    def _add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to search")
        if path:
            self.bridge.add_folders([path])

    def _remove_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is None:
            return
        path = str(item.data(Qt.ItemDataRole.UserRole))
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Stop searching {path}?\nIts files stay on disk; only the index forgets them.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.bridge.remove_folders([path])

    def _browse_model(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose the model folder", self.model_dir.text()
        )
        if path:
            self.model_dir.setText(path)

    def get_model(self) -> None:
        dialog = self._model_dialog
        if dialog is None or not (dialog.isVisible() or dialog.busy):
            dialog = self._model_dialog = ModelDialog(self.bridge, self)
        dialog.open()

    def _rebuild(self) -> None:
        answer = QMessageBox.question(
            self,
            "Rebuild index",
            "Embed every file again with the current model? Search keeps working with the files "
            "already done while the rest is indexed.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.bridge.rebuild()

    def choices(self) -> Choices:
        excludes = [
            line.strip() for line in self.excludes.toPlainText().splitlines() if line.strip()
        ]
        return Choices(
            excludes=excludes,
            include_hidden=self.include_hidden.isChecked(),
            model_dir=os.path.expanduser(self.model_dir.text().strip()),
            device=str(self.device.currentData()),
            theme=str(self.theme.currentData()),
            tray=self.tray.isChecked() and self.tray.isEnabled(),
            ocr=self.ocr.isChecked(),
            policy=Policy(
                pause_on_battery=self.on_battery.isChecked(),
                pause_when_busy=self.when_busy.isChecked(),
                only_when_idle=self.idle_only.isChecked(),
            ),
        )
