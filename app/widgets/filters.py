"""Filters under the search box: kind, folder and a date range."""

from __future__ import annotations

import os
from datetime import datetime, time

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QComboBox, QDateEdit, QHBoxLayout, QLabel, QToolButton, QWidget

from app.qt import Signal

KINDS = (("All kinds", None), ("Photos", "image"), ("Documents", "document"))


class _DateEdit(QDateEdit):
    """A date that may be "any": the minimum date stands for no limit (a Qt idiom)."""

    NONE = QDate(1900, 1, 1)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCalendarPopup(True)
        self.setMinimumDate(self.NONE)
        self.setSpecialValueText("any date")
        self.setDisplayFormat("yyyy-MM-dd")
        self.setDate(self.NONE)

    def value(self) -> QDate | None:
        date = self.date()
        return None if date == self.NONE else date

    def reset(self) -> None:
        self.setDate(self.NONE)


class FilterBar(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox()
        for label, value in KINDS:
            self.kind.addItem(label, value)
        self.kind.setAccessibleName("Kind")
        self.folder = QComboBox()
        self.folder.setAccessibleName("Folder")
        self.folder.setMinimumContentsLength(16)
        self.folder.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.set_folders([])
        self.date_from = _DateEdit()
        self.date_from.setAccessibleName("From date")
        self.date_to = _DateEdit()
        self.date_to.setAccessibleName("To date")
        self.reset_button = QToolButton()
        self.reset_button.setText("Reset")
        self.reset_button.setToolTip("Clear all filters")
        self.reset_button.setAutoRaise(True)
        self.reset_button.clicked.connect(self.reset)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(QLabel("in"))
        layout.addWidget(self.folder)
        layout.addSpacing(8)
        layout.addWidget(QLabel("taken from"))
        layout.addWidget(self.date_from)
        layout.addWidget(QLabel("to"))
        layout.addWidget(self.date_to)
        layout.addWidget(self.reset_button)
        layout.addStretch(1)
        self.count = QLabel()
        self.count.setAccessibleName("Number of results")
        # As wide as its longest text from the start: the window's minimum width must not
        # change when the first results arrive.
        self.count.setMinimumWidth(
            self.count.fontMetrics().horizontalAdvance("10 000 recent files")
        )
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.count)

        self.kind.currentIndexChanged.connect(self.changed)
        self.folder.currentIndexChanged.connect(self.changed)
        self.date_from.dateChanged.connect(self.changed)
        self.date_to.dateChanged.connect(self.changed)

    def set_folders(self, folders: list[str]) -> None:
        current = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        self.folder.addItem("all folders", None)
        for path in folders:
            self.folder.addItem(os.path.basename(path.rstrip(os.sep)) or path, path)
            self.folder.setItemData(self.folder.count() - 1, path, 3)  # ToolTipRole
        found = self.folder.findData(current)
        self.folder.setCurrentIndex(max(found, 0))
        self.folder.blockSignals(False)
        if found < 0 and current is not None:
            self.changed.emit()

    def reset(self) -> None:
        for w in (self.kind, self.folder):
            w.blockSignals(True)
            w.setCurrentIndex(0)
            w.blockSignals(False)
        for d in (self.date_from, self.date_to):
            d.blockSignals(True)
            d.reset()
            d.blockSignals(False)
        self.changed.emit()

    @property
    def active(self) -> bool:
        return any(
            (
                self.kind.currentIndex() > 0,
                self.folder.currentIndex() > 0,
                self.date_from.value() is not None,
                self.date_to.value() is not None,
            )
        )

    def values(self) -> dict[str, object]:
        start = self.date_from.value()
        end = self.date_to.value()
        return {
            "kind": self.kind.currentData(),
            "folder": self.folder.currentData(),
            "date_from": _timestamp(start, time.min) if start else None,
            "date_to": _timestamp(end, time.max) if end else None,
        }


def _timestamp(date: QDate, at: time) -> float:
    return datetime.combine(date.toPython(), at).timestamp()  # type: ignore[arg-type]
