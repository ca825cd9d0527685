"""What can be done with the current result(s): open, reveal, copy path or image, find similar.

The actions live on the window (so their shortcuts work anywhere in it), show in the Edit menu
and in the grid's context menu, and are enabled only when there is something to act on.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from app import desktop
from app.models.results import Entry
from app.qt import Signal
from app.tasks import Tasks
from app.widgets.grid import ResultsView

MAX_OPEN = 10  # a stray Ctrl+A then Enter must not open a thousand apps


class ResultActions(QObject):
    find_similar = Signal(object)  # Entry

    def __init__(
        self,
        owner: QWidget,
        grid: ResultsView,
        tasks: Tasks,
        say: Callable[[str, int], None],
    ) -> None:
        super().__init__(owner)
        self.grid = grid
        self._tasks = tasks
        self._say = say
        self.menu: QMenu | None = None

        def action(text: str, slot: Callable[[], None], shortcut: str = "") -> QAction:
            act = QAction(text, owner)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            act.triggered.connect(slot)
            owner.addAction(act)
            return act

        self.act_open = action("&Open", self.open)
        self.act_reveal = action("&Reveal in folder", self.reveal, "Ctrl+Shift+R")
        self.act_copy_path = action("Copy &path", self.copy_path, "Ctrl+Shift+C")
        self.act_copy_image = action("Copy &image", self.copy_image)
        self.act_similar = action("Find &similar", self.similar, "Ctrl+Shift+S")
        # Ctrl+C copies the image only in the grid: in the search box it copies text.
        grid.addAction(self.act_copy_image)
        self.act_copy_image.setShortcut(QKeySequence.StandardKey.Copy)
        self.act_copy_image.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        grid.customContextMenuRequested.connect(self._context_menu)
        self.update()

    @property
    def all(self) -> list[QAction]:
        return [
            self.act_open,
            self.act_reveal,
            self.act_copy_path,
            self.act_copy_image,
            self.act_similar,
        ]

    def update(self) -> None:
        entry = self.grid.current_entry()
        for act in (self.act_open, self.act_reveal, self.act_copy_path, self.act_similar):
            act.setEnabled(entry is not None)
        self.act_copy_image.setEnabled(entry is not None and entry.kind == "image")

    def _targets(self) -> list[Entry]:
        chosen = self.grid.selected_entries()
        current = self.grid.current_entry()
        return chosen or ([current] if current is not None else [])

    def open(self) -> None:
        for entry in self._targets()[:MAX_OPEN]:
            self.open_entry(entry)

    def open_entry(self, entry: Entry) -> None:
        """Open one result, and say so when nothing on this system can."""
        if not desktop.open_file(entry.path):
            self._say(desktop.cannot_open(entry.path), 8000)

    def reveal(self) -> None:
        entry = self.grid.current_entry()
        if entry is not None:
            desktop.reveal(entry.path)

    def copy_path(self) -> None:
        targets = self._targets()
        if targets:
            desktop.copy_paths([e.path for e in targets])
            self._say("Path copied" if len(targets) == 1 else "Paths copied", 3000)

    def copy_image(self) -> None:
        entry = self.grid.current_entry()
        if entry is None:
            return
        path = entry.path

        def done(image: QImage | None) -> None:
            if image is None:
                self._say("This file cannot be copied as an image", 4000)
            else:
                desktop.copy_image(path, image)
                self._say("Image copied", 3000)

        # A full-size decode takes long enough to stall the window: done on a worker.
        self._tasks.submit(lambda: desktop.load_image(path), done)

    def similar(self) -> None:
        entry = self.grid.current_entry()
        if entry is not None:
            self.find_similar.emit(entry)

    def _context_menu(self, pos: QPoint) -> None:
        index = self.grid.indexAt(pos)
        if not index.isValid():
            return
        if not self.grid.selectionModel().isSelected(index):
            self.grid.setCurrentIndex(index)
        menu = QMenu(self.grid)
        menu.addActions([self.act_open, self.act_reveal])
        menu.addSeparator()
        menu.addActions([self.act_copy_path, self.act_copy_image])
        menu.addSeparator()
        menu.addAction(self.act_similar)
        menu.popup(self.grid.viewport().mapToGlobal(pos))
        self.menu = menu  # outlives this call while it is shown
