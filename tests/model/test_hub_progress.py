"""``download(progress=, cancel=)``: what the GUI's model dialog needs, against the fake Hub."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine import model as model_folder
from engine.errors import Cancelled
from onnx_models import release
from onnx_models.hub import download, download_dir, plan_download
from tests.model.fakehub import FakeHub
from tests.model.helpers import COMMIT, write_release


@pytest.fixture(scope="module")
def int8_files(toy_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = write_release(toy_model, tmp_path_factory.mktemp("release"), variant="int8")
    return {
        "onnx/model_int8.onnx": (folder / "onnx" / "model_int8.onnx").read_bytes(),
        "tokenizer.json": (folder / "tokenizer.json").read_bytes(),
    }


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # many updates per file
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _leftovers(tmp_path: Path) -> list[str]:
    """Anything a download may leave: the model folder, staging folders, fetched files."""
    found = [p.name for p in tmp_path.iterdir() if p.name.startswith((".model", "model"))]
    found += [str(p) for p in (tmp_path / "data").rglob("*") if p.is_file()]
    return found


def test_progress_counts_every_byte(tmp_path: Path, int8_files: dict[str, bytes]) -> None:
    seen: list[tuple[int, int]] = []
    with FakeHub(release.REPO_ID, COMMIT, int8_files) as hub:
        plan = plan_download("int8", COMMIT, hub_endpoint=hub.endpoint)
        installed, kept = download(
            plan,
            data_dir=tmp_path / "data",
            model_dir=tmp_path / "model",
            device="cpu",
            progress=lambda done, total: seen.append((done, total)),
            cancel=threading.Event(),
        )
    total = sum(len(b) for b in int8_files.values())
    assert {t for _, t in seen} == {total}
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    done = [d for d, _ in seen]
    assert done == sorted(done), "progress never goes back"
    assert len(seen) > 10, "the big file reports as it arrives, not only when it is complete"
    assert installed.variant == "int8" and kept is None
    model_folder.verify(model_folder.load(tmp_path / "model"))


def test_cancel_mid_transfer_leaves_nothing(tmp_path: Path, int8_files: dict[str, bytes]) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)
        if 0 < done < total // 2:
            cancel.set()  # what the dialog's Cancel does, from another thread

    with FakeHub(release.REPO_ID, COMMIT, int8_files) as hub:
        plan = plan_download("int8", COMMIT, hub_endpoint=hub.endpoint)
        with pytest.raises(Cancelled, match="nothing was installed"):
            download(
                plan,
                data_dir=tmp_path / "data",
                model_dir=tmp_path / "model",
                device="cpu",
                progress=progress,
                cancel=cancel,
            )
    assert max(seen) < plan.total_bytes, "the transfer stopped part-way"
    assert not download_dir(tmp_path / "data", plan).exists()
    assert _leftovers(tmp_path) == []


def test_cancel_after_the_transfer_stops_before_installing(
    tmp_path: Path, int8_files: dict[str, bytes]
) -> None:
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        if done == total:
            cancel.set()  # too late to stop the transfer; the split and install are skipped

    with FakeHub(release.REPO_ID, COMMIT, int8_files) as hub:
        plan = plan_download("int8", COMMIT, hub_endpoint=hub.endpoint)
        with pytest.raises(Cancelled):
            download(
                plan,
                data_dir=tmp_path / "data",
                model_dir=tmp_path / "model",
                keep=True,
                device="cpu",
                progress=progress,
                cancel=cancel,
            )
    assert _leftovers(tmp_path) == []


def test_cancel_keeps_the_model_already_there(
    tmp_path: Path, int8_files: dict[str, bytes], other_toy_model: Path
) -> None:
    import shutil

    target = tmp_path / "model"
    shutil.copytree(other_toy_model, target)
    cancel = threading.Event()
    with FakeHub(release.REPO_ID, COMMIT, int8_files) as hub:
        plan = plan_download("int8", COMMIT, hub_endpoint=hub.endpoint)
        with pytest.raises(Cancelled):
            download(
                plan,
                data_dir=tmp_path / "data",
                model_dir=target,
                device="cpu",
                progress=lambda done, _total: done and cancel.set(),
                cancel=cancel,
            )
    assert model_folder.load(target).id == "lanterna/other-toy"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "data") == ["model"]


def test_progress_comes_in_small_pieces_whatever_the_hub_client_uses(
    tmp_path: Path, int8_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10 * 1024 * 1024)  # its default
    seen: list[int] = []
    with FakeHub(release.REPO_ID, COMMIT, int8_files) as hub:
        plan = plan_download("int8", COMMIT, hub_endpoint=hub.endpoint)
        download(
            plan,
            data_dir=tmp_path / "data",
            model_dir=tmp_path / "model",
            device="cpu",
            progress=lambda done, _total: seen.append(done),
        )
    big = len(int8_files["onnx/model_int8.onnx"])
    assert len({d for d in seen if 0 < d < big}) >= big // (1 << 20), "about one report a MiB"
    assert constants.DOWNLOAD_CHUNK_SIZE == 10 * 1024 * 1024, "the client's setting is restored"
