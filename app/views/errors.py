"""Files that could not be indexed, and why, with a "retry"."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.qt import Signal


def window_hint(hint: str) -> str:
    """An engine hint as the window may show it: a hint written for the command line (it names
    a command, an option or a file of the docs) is left out, as the window offers its own way."""
    if not hint or "`" in hint or "--" in hint or "docs/" in hint:
        return ""
    return hint


class ErrorsDialog(QDialog):
    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be indexed")
        self.resize(720, 380)
        self.summary = QLabel()
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Problem"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.retry_button = buttons.addButton("Retry all", QDialogButtonBox.ButtonRole.ActionRole)
        self.retry_button.setToolTip("Try these files again (after fixing or replacing them)")
        self.retry_button.clicked.connect(self._retry)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)

    def show_status(self, status: dict[str, Any]) -> None:
        errors = status.get("errors", [])
        total = int(status.get("files", {}).get("error", len(errors)))
        self.tree.clear()
        for e in errors:
            item = QTreeWidgetItem([e["path"], e.get("error") or "unknown problem"])
            item.setToolTip(0, e["path"])
            item.setToolTip(1, e.get("error") or "")
            self.tree.addTopLevelItem(item)
        shown = f" (the first {len(errors)} are listed)" if total > len(errors) else ""
        self.summary.setText(
            f"{total} file{'s' if total != 1 else ''} could not be indexed{shown}. "
            "The rest of the library is not affected."
            if total
            else "No errors: every file was indexed."
        )
        self.retry_button.setEnabled(total > 0)

    def _retry(self) -> None:
        self.retry.emit()
        self.accept()
