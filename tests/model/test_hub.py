"""``lanterna model download`` against a fake Hub on 127.0.0.1: the real code path, no network."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from engine import model as model_folder
from engine.errors import ModelError
from onnx_models import release
from onnx_models.cli import _consent
from onnx_models.device import default_variant
from onnx_models.errors import ConsentRequired, DownloadError
from onnx_models.hub import download, download_dir, plan_download, resolve_revision
from tests.model.fakehub import FakeHub
from tests.model.helpers import COMMIT, make_combined, manifest


@pytest.fixture(scope="session")
def repo_files(toy_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The files of a fake jinaai/jina-clip-v2 repository (fp16 inline, fp32 with external data)."""
    combined = make_combined(toy_model)
    folder = tmp_path_factory.mktemp("repo")
    onnx.save(combined, str(folder / "model_fp16.onnx"))
    onnx.save(
        combined,
        str(folder / "model.onnx"),
        save_as_external_data=True,
        location="model.onnx_data",
    )
    return {
        "onnx/model_fp16.onnx": (folder / "model_fp16.onnx").read_bytes(),
        "onnx/model.onnx": (folder / "model.onnx").read_bytes(),
        "onnx/model.onnx_data": (folder / "model.onnx_data").read_bytes(),
        "tokenizer.json": (toy_model / "tokenizer.json").read_bytes(),
        "README.md": b"---\nlicense: cc-by-nc-4.0\n---\n",
    }


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake Hub is on this machine: a global offline switch or a proxy must not get between."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _cli(
    tmp_path: Path, *args: str, endpoint: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(tmp_path / "hf-home"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **(extra_env or {}),
    }
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if name not in (extra_env or {}):
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "engine", "--data-dir", str(tmp_path / "data"),
         "--model", str(tmp_path / "model"), "--device", "cpu", "model", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )  # fmt: skip


def test_download_end_to_end(tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    files = {k: v for k, v in repo_files.items() if not k.startswith("onnx/model.")}
    with FakeHub(release.REPO_ID, COMMIT, files) as hub:
        proc = _cli(
            tmp_path, "download", "--variant", "fp16", "--revision", COMMIT, "--yes",
            endpoint=hub.endpoint,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert hub.count("GET", f"/{release.REPO_ID}/resolve/{COMMIT}/README.md") == 0
    assert "Licence: CC-BY-NC-4.0" in proc.stderr
    assert "onnx/model_fp16.onnx" in proc.stderr and "MB" in proc.stderr
    model_dir = tmp_path / "model"
    assert f"installed jinaai/jina-clip-v2 {COMMIT} (fp16) in {model_dir}" in proc.stdout
    data = manifest(model_dir)
    assert data["revision"] == COMMIT and data["variant"] == "fp16"
    model_folder.verify(model_folder.load(model_dir))
    assert not (tmp_path / "data" / "downloads").exists(), "the combined download is deleted"


def test_a_cut_transfer_is_resumed(
    tmp_path: Path, repo_files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    # huggingface_hub hands over data in chunks of this size; the toy files are smaller than one
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    with FakeHub(release.REPO_ID, COMMIT, repo_files, interrupt={"onnx/model_fp16.onnx"}) as hub:
        plan = plan_download("fp16", COMMIT, hub_endpoint=hub.endpoint)
        installed, _ = download(
            plan, data_dir=tmp_path / "data", model_dir=tmp_path / "model", device="cpu"
        )
        assert hub.ranges(), "the rest of the cut transfer was asked for with a range request"
    assert installed.variant == "fp16"
    model_folder.verify(model_folder.load(tmp_path / "model"))


def test_download_fp32_keep(tmp_path: Path, repo_files: dict[str, bytes]) -> None:
    with FakeHub(release.REPO_ID, COMMIT, repo_files) as hub:
        plan = plan_download("fp32", COMMIT, hub_endpoint=hub.endpoint)
        assert [f.path for f in plan.files] == [
            "onnx/model.onnx",
            "onnx/model.onnx_data",
            "tokenizer.json",
        ]
        assert plan.total_bytes == sum(len(repo_files[f.path]) for f in plan.files)
        assert all(f.sha256 for f in plan.files)
        text = plan.describe()
        assert "variant fp32" in text and release.LICENCE_SUMMARY in text
        installed, kept = download(
            plan, data_dir=tmp_path / "data", model_dir=tmp_path / "model", keep=True, device="cpu"
        )
    assert installed.variant == "fp32" and installed.revision == COMMIT
    assert kept == download_dir(tmp_path / "data", plan)
    assert (kept / "onnx" / "model.onnx_data").read_bytes() == repo_files["onnx/model.onnx_data"]
    assert installed.self_test is not None and installed.self_test.passed
    # a second run finds the kept files complete and fetches nothing again
    with FakeHub(release.REPO_ID, COMMIT, repo_files) as hub:
        plan = plan_download("fp32", COMMIT, hub_endpoint=hub.endpoint)
        download(plan, data_dir=tmp_path / "data", model_dir=tmp_path / "model", device="cpu")
        assert hub.count("GET") == 0
    assert not kept.exists()


@pytest.mark.parametrize("lfs_from", [1024, 10**9], ids=["lfs-sha256", "git-blob-id"])
def test_download_detects_damage_in_transit(
    tmp_path: Path, repo_files: dict[str, bytes], lfs_from: int
) -> None:
    with FakeHub(
        release.REPO_ID, COMMIT, repo_files, tamper={"tokenizer.json"}, lfs_from=lfs_from
    ) as hub:
        plan = plan_download("fp16", COMMIT, hub_endpoint=hub.endpoint)
        with pytest.raises(DownloadError, match=r"tokenizer\.json arrived damaged"):
            download(plan, data_dir=tmp_path / "data", model_dir=tmp_path / "model")
    assert not (download_dir(tmp_path / "data", plan) / "tokenizer.json").exists()
    assert not (tmp_path / "model").exists()


def test_no_network_is_one_sentence_saying_what_to_do(tmp_path: Path) -> None:
    advice = (
        "so download the model on a machine with internet access (see docs/model.md, "
        "“Offline”), copy the folder here and run `lanterna model import DIR`"
    )
    port = _closed_port()
    proc = _cli(tmp_path, "download", "--revision", COMMIT, "--yes",
                endpoint=f"http://127.0.0.1:{port}")  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"lanterna: Download failed: 127.0.0.1:{port} cannot be reached, {advice}"
    ]
    proc = _cli(tmp_path, "download", "--revision", COMMIT, "--yes",
                endpoint=f"http://127.0.0.1:{port}", extra_env={"HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"lanterna: Download failed: downloads are switched off (HF_HUB_OFFLINE is set), {advice}"
    ]


def test_consent_is_refused_without_yes_when_there_is_no_terminal(
    tmp_path: Path, repo_files: dict[str, bytes]
) -> None:
    with FakeHub(release.REPO_ID, COMMIT, repo_files) as hub:
        proc = _cli(tmp_path, "download", "--variant", "int8", "--revision", COMMIT,
                    endpoint=hub.endpoint)  # fmt: skip
        assert proc.returncode == 1
        assert "has no onnx/model_int8.onnx" in proc.stderr  # not in this repo
        proc = _cli(tmp_path, "download", "--variant", "fp16", "--revision", COMMIT,
                    endpoint=hub.endpoint)  # fmt: skip
        assert hub.count("GET") == 0, "nothing is downloaded before consent"
    assert proc.returncode == 1
    assert "Licence: CC-BY-NC-4.0" in proc.stderr
    assert proc.stderr.strip().splitlines()[-2:] == [
        "lanterna: Consent needed: the licence and the download need your agreement and there "
        "is no terminal to ask",
        "hint: run it again with --yes to agree",
    ]
    assert not (tmp_path / "data" / "downloads").exists()
    assert not (tmp_path / "model").exists()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_consent_prompt_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal("y\n"))
    _consent(False)
    monkeypatch.setattr(sys, "stdin", _Terminal("\n"))
    with pytest.raises(ConsentRequired, match="licence was not accepted"):
        _consent(False)
    _consent(True)


def test_revisions_are_pinned_to_commits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo_files: dict[str, bytes]
) -> None:
    monkeypatch.setattr(release, "TESTED_REVISION", None)
    with FakeHub(release.REPO_ID, COMMIT, repo_files) as hub:
        # no tested revision named: the release branch, pinned to the commit it is at now
        assert resolve_revision(None, hub_endpoint=hub.endpoint) == COMMIT
    with pytest.raises(ModelError, match="full commit id"):
        resolve_revision("main")
    assert resolve_revision(COMMIT.upper()) == COMMIT
    monkeypatch.setattr(release, "TESTED_REVISION", COMMIT)
    assert resolve_revision(None) == COMMIT
    with (
        FakeHub(release.REPO_ID, COMMIT, repo_files) as hub,
        pytest.raises(DownloadError, match="has no revision"),
    ):
        plan_download("fp16", "f" * 40, hub_endpoint=hub.endpoint)


def test_default_variant_follows_the_device() -> None:
    assert default_variant("cpu")[0] == "int8"
    assert default_variant("cuda")[0] == "fp16"
    variant, why = default_variant("auto")  # no usable GPU on this machine
    assert variant in ("int8", "fp16") and why
