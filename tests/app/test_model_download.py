"""The "Get the model" dialog over the real bridge and engine, against a fake Hub on 127.0.0.1.

The fake Hub serves a release made from the toy model (``onnx/model_int8.onnx`` and
``tokenizer.json``, as jinaai/jina-clip-v2 lays them out), so the download, the split, the
self-test and the install all run their real code.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QFileDialog

from app.model_setup import human_bytes
from app.views.main_window import RESULTS, WELCOME
from engine import model as model_folder
from onnx_models import release
from tests.model.fakehub import FakeHub, SlowHub
from tests.model.helpers import COMMIT, write_release


@pytest.fixture(scope="module")
def release_folder(toy_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(toy_model, tmp_path_factory.mktemp("release"), variant="int8")


@pytest.fixture(scope="module")
def hub_files(release_folder: Path) -> dict[str, bytes]:
    return {
        "onnx/model_int8.onnx": (release_folder / "onnx" / "model_int8.onnx").read_bytes(),
        "tokenizer.json": (release_folder / "tokenizer.json").read_bytes(),
        "README.md": b"---\nlicense: cc-by-nc-4.0\n---\n",
    }


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The fake Hub is on this machine: no offline switch, proxy or token may get between."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _resolves(hub: FakeHub) -> int:
    return sum(1 for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p)


def _open_dialog(qtbot: Any, window: Any) -> Any:
    window.get_model()
    dialog = window._model_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.state in ("ready", "unreachable"), timeout=15_000)
    return dialog


def _leftovers(tmp_path: Path, data_dir: Path) -> list[str]:
    """What a download may leave behind: the model folder, staging folders, fetched files."""
    found = [p.name for p in tmp_path.iterdir() if p.name.startswith((".model", "model"))]
    downloads = data_dir / "downloads"
    if downloads.exists():
        found += [str(p) for p in downloads.rglob("*")]
    return found


def test_download_asks_consent_then_installs_and_the_model_box_turns_ready(
    qtbot: Any,
    make_window: Any,
    tmp_path: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "model"
    with FakeHub(release.REPO_ID, COMMIT, hub_files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        window = make_window(model_dir=target)
        assert window.pages.currentIndex() == WELCOME
        welcome = window.welcome
        assert welcome.model_headline.text().startswith("▲")
        assert welcome.get_model_button.isVisible()

        welcome.get_model_button.click()
        dialog = window._model_dialog
        qtbot.waitUntil(lambda: dialog.state == "ready", timeout=15_000)
        total = len(hub_files["onnx/model_int8.onnx"]) + len(hub_files["tokenizer.json"])
        assert "int8" in dialog.variant_label.text()
        assert "the CPU was asked for" in dialog.variant_label.text()
        assert f"{human_bytes(total)}</b> in 2 files from 127.0.0.1:" in dialog.size_label.text()
        assert human_bytes(total) in dialog.consent.text()
        assert dialog.target_label.text() == str(target.absolute())
        licence = dialog.licence_label.text()
        assert release.LICENCE in licence and release.LICENCE_URL in licence
        assert "non-commercial" in licence
        assert dialog.licence_label.openExternalLinks()

        # Nothing is fetched before the user agrees.
        assert not dialog.consent.isChecked()
        assert not dialog.download_button.isEnabled()
        dialog.start_download()
        assert dialog.state == "ready" and _resolves(hub) == 0
        dialog.consent.click()
        assert dialog.download_button.isEnabled()
        dialog.consent.click()
        assert not dialog.download_button.isEnabled()
        dialog.consent.click()

        reports: list[tuple[int, int]] = []
        window.bridge.model_progress.connect(lambda d, t: reports.append((d, t)))
        dialog.download_button.click()
        assert dialog.state == "downloading" and dialog.progress.isVisible()
        assert dialog.cancel_button.isVisible() and not dialog.download_button.isEnabled()
        qtbot.waitUntil(lambda: dialog.state == "done", timeout=20_000)
        assert _resolves(hub) == 2, "the graph and the tokenizer; not the README"

    assert reports[-1] == (total, total)
    text = dialog.message.text()
    assert text.startswith(f"Installed {release.REPO_ID} (int8) in {target.absolute()}")
    assert "self-test passed on the CPU" in text and "uses it now" in text
    assert not dialog.rebuild_button.isVisible()
    assert dialog.close_button.text() == "Done"
    folder = model_folder.load(target)
    model_folder.verify(folder)
    assert folder.id == release.REPO_ID and folder.revision == COMMIT
    assert not (window.bridge.library().data_dir / "downloads").exists()

    qtbot.waitUntil(lambda: welcome.model_headline.text().startswith("●"), timeout=10_000)
    assert f"Ready: {release.REPO_ID}" in welcome.model_headline.text()
    assert welcome.model_box._tint == "ok"
    assert not welcome.get_model_button.isVisible()
    dialog.close_button.click()
    assert not dialog.isVisible()


def test_cancel_mid_download_leaves_nothing_behind(
    qtbot: Any,
    make_window: Any,
    tmp_path: Path,
    data_dir: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "model"
    with SlowHub(release.REPO_ID, COMMIT, hub_files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        window = make_window(model_dir=target)
        dialog = _open_dialog(qtbot, window)
        reports: list[int] = []
        window.bridge.model_progress.connect(lambda d, _t: reports.append(d))
        dialog.consent.click()
        dialog.download_button.click()
        # bytes, of how many, and the speed once there is a measure of it
        qtbot.waitUntil(lambda: "/s" in dialog.progress_text.text(), timeout=10_000)
        total = sum(len(data) for data in hub_files.values())
        assert f" of {total / 1e6:.2f} MB — " in dialog.progress_text.text()
        assert 0 < dialog.progress.value() < 1000
        dialog.cancel_button.click()
        assert dialog.progress_text.text() == "Cancelling…"
        assert not dialog.cancel_button.isEnabled()
        qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)

    assert dialog.message.text() == "Download cancelled; nothing was installed."
    assert max(reports) < sum(len(b) for b in hub_files.values()), "stopped part-way"
    assert not dialog.progress.isVisible()
    assert dialog.download_button.isEnabled(), "it can be started again"
    assert not target.exists()
    assert _leftovers(tmp_path, data_dir) == []
    assert window.welcome.model_headline.text().startswith("▲")


def test_closing_the_dialog_cancels_the_download(
    qtbot: Any,
    make_window: Any,
    tmp_path: Path,
    data_dir: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "model"
    with SlowHub(release.REPO_ID, COMMIT, hub_files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        window = make_window(model_dir=target)
        dialog = _open_dialog(qtbot, window)
        dialog.consent.click()
        dialog.download_button.click()
        qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
        dialog.reject()  # Esc, or the window's close button
        assert dialog.isVisible(), "it stays until the download has stopped"
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=10_000)
    assert not target.exists()
    assert _leftovers(tmp_path, data_dir) == []


def test_offline_is_one_sentence_and_a_folder_can_be_imported_instead(
    qtbot: Any,
    make_window: Any,
    indexed: Path,
    tmp_path: Path,
    release_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No network: the dialog says what to do in one sentence; importing a folder works, and an
    index made with another model is offered a rebuild."""
    port = 9  # the discard port: nothing listens there
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            port = _closed_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    target = tmp_path / "model"
    window = make_window(model_dir=target)
    assert window.pages.currentIndex() == RESULTS
    assert window.banner.kind == "model"

    dialog = _open_dialog(qtbot, window)
    assert dialog.state == "unreachable"
    sentence = dialog.message.text()
    assert sentence == (
        f"Cannot reach the Hub (127.0.0.1:{port}): download the model on a machine with "
        "internet access, copy its folder here and use "
        "“Import a model folder…”."
    )
    assert dialog.message_box.isVisible() and dialog.message_box._tint == "error"
    assert "int8" in dialog.variant_label.text()
    assert not dialog.download_button.isEnabled() and not dialog.consent.isEnabled()
    assert dialog.retry_button.isVisible() and dialog.import_button.isEnabled()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(release_folder))
    dialog.import_button.click()
    assert dialog.state == "importing"
    assert dialog.progress.maximum() == 0, "an import shows a busy bar, not a measure"
    assert not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.state == "done", timeout=20_000)

    # The index holds vectors of the toy model: the new model does not fit it.
    text = dialog.message.text()
    assert text.startswith(f"Installed {release.REPO_ID} (int8) in {target.absolute()}")
    assert "The index was made with another model" in text
    assert "lanterna index --reembed" in text, "the engine's hint"
    assert dialog.rebuild_button.isVisible()
    assert model_folder.load(target).id == release.REPO_ID
    qtbot.waitUntil(lambda: window.banner.kind == "mismatch", timeout=10_000)
    assert window.banner.action.text() == "Rebuild index"

    dialog.rebuild_button.click()
    assert not dialog.rebuild_button.isVisible()
    qtbot.waitUntil(
        lambda: (
            window._status.get("model_checked")
            and not window._status.get("index_mismatch")
            and window._status["files"]["indexed"] == 10
            and window._status.get("vectors", 0) > 0
        ),
        timeout=20_000,
    )
    assert window.banner.kind != "mismatch"


def test_settings_open_the_dialog_too(
    qtbot: Any, window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.views.settings import SettingsDialog

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    settings = SettingsDialog(
        window.bridge, window._status, device="cpu", theme="system", tray=False, parent=window
    )
    qtbot.addWidget(settings)
    settings.show()
    settings.get_model_button.click()
    dialog = settings._model_dialog
    assert dialog is not None and dialog.isVisible() and dialog.parent() is settings
    qtbot.waitUntil(lambda: dialog.state == "unreachable", timeout=15_000)
    assert dialog.target_label.text() == str(Path(window._status["model_dir"]).absolute())
    dialog.close_button.click()
    assert not dialog.isVisible()
    assert window.act_get_model.text() == "&Get the model…"


def test_quitting_mid_download_stops_it(
    qtbot: Any,
    make_window: Any,
    tmp_path: Path,
    data_dir: Path,
    hub_files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "model"
    with SlowHub(release.REPO_ID, COMMIT, hub_files) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        window = make_window(model_dir=target)
        dialog = _open_dialog(qtbot, window)
        dialog.consent.click()
        dialog.download_button.click()
        qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=10_000)
        started = time.monotonic()
        window.quit()
        print(f"\nthe download stopped {time.monotonic() - started:.2f} s after quitting")
        assert window.bridge._model_tasks.pool.activeThreadCount() == 0, "it runs on after quit"
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=5_000)
    assert not target.exists()
    assert _leftovers(tmp_path, data_dir) == []
