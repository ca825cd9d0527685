"""Fixtures for the desktop app: a real window over the real engine with the toy model.

Qt warnings fail a test (as in qutebrowser), except a few the offscreen platform prints by
design. QSettings is redirected into the test's temporary folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QObject, QSettings, QUrl, Slot
from PySide6.QtGui import QDesktopServices

import app.qt  # noqa: F401  (the emit guard, before any signal is emitted)
from tests.app.helpers import settle
from tests.images import write

# Messages the offscreen platform prints by design, not bugs of ours.
QT_NOISE = (
    r"This plugin does not support propagateSizeHints\(\)",
    r"This plugin does not support raise\(\)",
    r"This plugin does not support grabbing the keyboard",
    r"QFont::setPointSizeF: Point size <= 0",
)

# colour -> how many pictures of it the standard test library holds
LIBRARY = {"red": 3, "blue": 3, "green": 2, "yellow": 2}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*QT_NOISE))


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings")
    )
    return QSettings(str(tmp_path / "qsettings" / "lanterna.ini"), QSettings.Format.IniFormat)


class UrlRecorder(QObject):
    """Stands in for the desktop: records what would have been opened."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def handle(self, url: QUrl) -> None:
        self.urls.append(url)

    @property
    def paths(self) -> list[str]:
        return [u.toLocalFile() for u in self.urls]


@pytest.fixture
def opened_urls() -> Iterator[UrlRecorder]:
    recorder = UrlRecorder()
    QDesktopServices.setUrlHandler("file", recorder, "handle")
    yield recorder
    QDesktopServices.unsetUrlHandler("file")


@pytest.fixture
def picture_library(photos: Path) -> dict[str, list[Path]]:
    """A folder of real pictures, a few of each colour."""
    made: dict[str, list[Path]] = {}
    for colour, n in LIBRARY.items():
        for i in range(n):
            made.setdefault(colour, []).append(
                write(photos / f"{colour}-{i}.jpg", colour, seed=i, size=(160, 120))
            )
    return made


@pytest.fixture
def indexed(data_dir: Path, toy_model: Path, photos: Path, picture_library: Any) -> Path:
    """The picture library, indexed with the engine before the window opens."""
    from engine.library import Library

    with Library(data_dir, toy_model, device="cpu") as lib:
        lib.add_folders([photos])
        report = lib.index()
        assert report.run.errors == 0
    return data_dir


WindowFactory = Callable[..., Any]


@pytest.fixture
def make_window(
    qtbot: Any, tmp_path: Path, data_dir: Path, toy_model: Path, qsettings: QSettings
) -> Iterator[WindowFactory]:
    from app.bridge import Bridge
    from app.thumbnails import ThumbnailCache
    from app.views.main_window import MainWindow

    windows: list[Any] = []

    def make(
        model_dir: Path | None = toy_model, wait_open: bool = True, wait_model: bool = True
    ) -> Any:
        bridge = Bridge(data_dir, model_dir, device="cpu", quiet=0.2)
        thumbs = ThumbnailCache(tmp_path / "thumbs")
        window = MainWindow(bridge, thumbs, settings=qsettings, suggested_folders=[])
        qtbot.addWidget(window)
        windows.append(window)
        window.show()
        if wait_open:
            with qtbot.waitSignal(bridge.opened, timeout=10_000):
                bridge.start()
            if wait_model:
                qtbot.waitUntil(lambda: bool(window._status and window._status["model_checked"]))
        else:
            bridge.start()
        return window

    yield make
    for window in windows:
        window.shutdown()


@pytest.fixture
def window(make_window: WindowFactory, indexed: Path) -> Any:
    w = make_window()
    settle(w)
    return w
