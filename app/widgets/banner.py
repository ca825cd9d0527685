"""A dismissable message across the window, with one optional action (e.g. "Choose model")."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from app.widgets.panel import Panel


class Banner(Panel):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("warning", parent)
        self.setObjectName("banner")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.action = QPushButton()
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.addWidget(self.text, 1)
        row.addWidget(self.action)
        row.addWidget(self.close_button)
        self.kind = ""
        self._slot: Callable[[], None] | None = None
        self.action.clicked.connect(self._act)
        self.setVisible(False)

    def say(
        self, kind: str, text: str, action: str = "", slot: Callable[[], None] | None = None
    ) -> None:
        """``kind`` "model" is a warning that goes when the model is back; others are errors."""
        self.kind = kind
        self.text.setText(text)
        self._slot = slot
        self.action.setVisible(bool(action))
        self.action.setText(action)
        self.set_tint("warning" if kind == "model" else "error")
        self.setVisible(True)

    def dismiss(self) -> None:
        self.kind = ""
        self.setVisible(False)

    def _act(self) -> None:
        if self._slot is not None:
            self._slot()
