"""The first-run page: choose folders to watch, see whether the model is there, start."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.icon import app_icon
from app.qt import Signal
from app.views.model_status import describe
from app.widgets.panel import Panel


def suggested_folders() -> list[str]:
    out = []
    for location in (
        QStandardPaths.StandardLocation.PicturesLocation,
        QStandardPaths.StandardLocation.DocumentsLocation,
    ):
        path = QStandardPaths.writableLocation(location)
        if path and os.path.isdir(path) and path != os.path.expanduser("~"):
            out.append(path)
    return out


class WelcomePage(QScrollArea):
    start = Signal(list)  # folder paths
    choose_model = Signal()
    get_model = Signal()  # download it, or import a folder (the "Get the model" dialog)

    def __init__(self, suggested: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("welcome")
        self.setWidget(body)
        outer = QHBoxLayout(body)
        column = QVBoxLayout()
        column.setSpacing(14)
        outer.addStretch(1)
        outer.addLayout(column, 4)
        outer.addStretch(1)

        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(72, 72))
        title = QLabel("<h1>Welcome to Lanterna</h1>")
        title.setTextFormat(Qt.TextFormat.RichText)
        head.addWidget(logo)
        head.addWidget(title, 1)
        column.addStretch(1)
        column.addLayout(head)
        intro = QLabel(
            "Find your photos and documents by what they show: type “dog on the beach” or "
            "“rouge”, or drop a picture. Everything stays on this computer."
        )
        intro.setWordWrap(True)
        column.addWidget(intro)

        column.addWidget(self._heading("1. Choose the folders to search"))
        self._folders = QVBoxLayout()
        self._boxes: list[QCheckBox] = []
        column.addLayout(self._folders)
        add = QPushButton("Add a folder…")
        add.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addStretch(1)
        column.addLayout(row)

        column.addWidget(self._heading("2. The model"))
        self.model_box = Panel()
        self.model_box.setObjectName("modelBox")
        box = QVBoxLayout(self.model_box)
        box.setContentsMargins(12, 10, 12, 10)
        self.model_headline = QLabel()
        font = self.model_headline.font()
        font.setBold(True)
        self.model_headline.setFont(font)
        self.model_details = QLabel()
        self.model_details.setWordWrap(True)
        self.model_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.model_button = QPushButton("Choose a model folder…")
        self.model_button.clicked.connect(self.choose_model)
        self.get_model_button = QPushButton("Get the model…")
        self.get_model_button.setToolTip(
            "Download jina-clip-v2 (shows its licence and size first), or import a model folder"
        )
        self.get_model_button.clicked.connect(self.get_model)
        box.addWidget(self.model_headline)
        box.addWidget(self.model_details)
        mrow = QHBoxLayout()
        mrow.addWidget(self.get_model_button)
        mrow.addWidget(self.model_button)
        mrow.addStretch(1)
        box.addLayout(mrow)
        column.addWidget(self.model_box)

        self.start_button = QPushButton("Start searching")
        self.start_button.setDefault(True)
        self.start_button.setMinimumSize(160, 36)
        font = self.start_button.font()
        font.setBold(True)
        self.start_button.setFont(font)
        self.start_button.clicked.connect(self._start)
        note = QLabel("Indexing runs in the background; you can search straight away.")
        note.setEnabled(False)
        srow = QHBoxLayout()
        srow.addWidget(self.start_button)
        srow.addWidget(note, 1)
        column.addLayout(srow)
        column.addStretch(2)
        for path in suggested_folders() if suggested is None else suggested:
            self.add_path(path)
        self.show_model(None)
        self._update_start()

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = QLabel(f"<h3>{text}</h3>")
        label.setTextFormat(Qt.TextFormat.RichText)
        return label

    def add_path(self, path: str, checked: bool = True) -> None:
        if any(b.property("path") == path for b in self._boxes):
            return
        box = QCheckBox(f"{os.path.basename(path.rstrip(os.sep)) or path}   —   {path}")
        box.setProperty("path", path)
        box.setChecked(checked)
        box.toggled.connect(self._update_start)
        self._boxes.append(box)
        self._folders.addWidget(box)
        self._update_start()

    def chosen(self) -> list[str]:
        return [str(b.property("path")) for b in self._boxes if b.isChecked()]

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder to search")
        if path:
            self.add_path(path)

    def _update_start(self) -> None:
        self.start_button.setEnabled(bool(self.chosen()))

    def _start(self) -> None:
        folders = self.chosen()
        if folders:
            self.start.emit(folders)

    def show_model(self, status: dict[str, Any] | None) -> None:
        state, headline, details = describe(status)
        mark = {"ready": "●", "missing": "▲", "checking": "…"}[state]
        self.model_headline.setText(f"{mark} {headline}")
        self.model_details.setText(details)
        self.model_box.set_tint({"ready": "ok", "missing": "warning"}.get(state, "neutral"))
        self.model_button.setVisible(state != "checking")
        self.get_model_button.setVisible(state == "missing")
        self.model_button.setText(
            "Choose another model folder…" if state == "ready" else "Choose a model folder…"
        )
