"""Image queries: a dropped file, dropped image data, a pasted image; the chip; text + image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QWidget

from tests.app.helpers import colours, settle
from tests.images import picture, write


def drop(target: QWidget, mime: QMimeData) -> bool:
    pos = QPoint(target.width() // 2, target.height() // 2)
    action = Qt.DropAction.CopyAction
    buttons = Qt.MouseButton.LeftButton
    none = Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos, action, mime, buttons, none)  # QPoint: Qt 6.11 takes no QPointF
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(QPointF(pos), action, mime, buttons, none)
    QApplication.sendEvent(target, event)
    return event.isAccepted()


def qimage(colour: str, seed: int = 9) -> QImage:
    pic = picture(colour, seed, (200, 150))
    data = pic.tobytes()
    return QImage(data, pic.width, pic.height, pic.width * 3, QImage.Format.Format_RGB888).copy()


def test_dropping_an_image_file_runs_an_image_query(window: Any, tmp_path: Path) -> None:
    query = write(tmp_path / "elsewhere" / "query.png", "green", seed=5)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(query))])
    assert drop(window, mime)
    settle(window)
    assert window.chip.isVisible()
    assert "query.png" in window.chip.label.text()
    assert colours(window)[:2] == ["green", "green"]


def test_dropping_on_the_search_box_also_works(window: Any, tmp_path: Path) -> None:
    query = write(tmp_path / "q.jpg", "yellow", seed=3)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(query))])
    assert drop(window.search, mime)
    settle(window)
    assert window.search.text() == ""  # not pasted as text
    assert colours(window)[:2] == ["yellow", "yellow"]


def test_dropping_image_data_from_a_browser(window: Any) -> None:
    mime = QMimeData()
    mime.setImageData(qimage("blue"))
    mime.setUrls([QUrl("https://example.org/blue.png")])  # remote: never fetched
    assert drop(window, mime)
    settle(window)
    assert window.chip.isVisible() and window.chip.label.text() == "pasted image"
    assert colours(window)[:3] == ["blue", "blue", "blue"]


def test_pasting_an_image_runs_an_image_query(qtbot: Any, window: Any) -> None:
    QGuiApplication.clipboard().setImage(qimage("red"))
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    settle(window)
    assert window.chip.isVisible()
    assert window.search.text() == ""
    assert colours(window)[:3] == ["red", "red", "red"]
    qtbot.waitUntil(
        lambda: window.chip.thumb.pixmap() is not None and not window.chip.thumb.pixmap().isNull()
    )


def test_pasting_image_bytes_from_the_grid(qtbot: Any, window: Any) -> None:
    import io

    buf = io.BytesIO()
    picture("green", 4).save(buf, "PNG")
    mime = QMimeData()
    mime.setData("image/png", buf.getvalue())
    QGuiApplication.clipboard().setMimeData(mime)
    window.grid.setFocus()
    window.act_paste.trigger()
    settle(window)
    assert colours(window)[:2] == ["green", "green"]


def test_pasting_text_still_pastes_text(qtbot: Any, window: Any) -> None:
    QGuiApplication.clipboard().setText("rot")
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert window.search.text() == "rot"
    assert not window.chip.isVisible()


def test_text_and_image_combine_and_the_chip_can_be_removed(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    query = write(tmp_path / "q.png", "red", seed=7)
    window.set_image(str(query))
    settle(window)
    image_only = [e.path for e in window.model.entries]
    assert colours(window)[0] == "red"
    qtbot.keyClicks(window.search, "blue")
    settle(window)
    combined = colours(window)
    # Half red, half blue: both colours lead, nothing else does.
    assert set(combined[:6]) == {"red", "blue"}
    assert [e.path for e in window.model.entries] != image_only
    qtbot.mouseClick(window.chip.close_button, Qt.MouseButton.LeftButton)
    settle(window)
    assert not window.chip.isVisible()
    assert colours(window)[:3] == ["blue", "blue", "blue"]


def test_escape_removes_the_chip_once_the_text_is_empty(
    qtbot: Any, window: Any, tmp_path: Path
) -> None:
    window.set_image(str(write(tmp_path / "q.png", "red")))
    settle(window)
    window.search.setFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    settle(window)
    assert not window.chip.isVisible()
    assert all(e.score is None for e in window.model.entries)


def test_the_chip_sign_turns_the_image_against_the_query(window: Any, tmp_path: Path) -> None:
    query = write(tmp_path / "elsewhere" / "query.png", "green", seed=5)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(query))])
    assert drop(window, mime)
    settle(window)
    assert window.chip.sign_button.text() == "+"
    window.search.setText("vert")  # green by meaning, and the same image counted against it
    window.chip.sign_button.click()
    settle(window)
    assert window.chip.negative and window.chip.sign_button.text() == "−"
    assert "green" not in colours(window)  # less like this: the green photos are pushed out
    window.chip.sign_button.click()
    settle(window)
    assert colours(window)[:2] == ["green", "green"]
