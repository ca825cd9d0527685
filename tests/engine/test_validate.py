"""The validation layer's parts: names shown safely, exact JSON, manifests, graph headers, links."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import onnx
import pytest

from engine import graph, paths, validate
from engine import model as model_folder
from engine.errors import ModelError, UsageError
from tests.images import write


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("plain.jpg", "plain.jpg"),
        ("clear\x1b[2Jscreen.png", "clear\\x1b[2Jscreen.png"),
        ("tab\tand\nnewline", "tab\\tand\\nnewline"),
        ("bell\x07 del\x7f c1\x9b", "bell\\x07 del\\x7f c1\\x9b"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        (os.fsdecode(b"caf\xe9.png"), "caf\\xe9.png"),
        ("café 猫 🐈‍⬛.png", "café 猫 🐈‍⬛.png"),  # ordinary text, a ZWJ emoji included
    ],
)
def test_display_escapes_what_a_terminal_would_obey(name: str, shown: str) -> None:
    assert paths.display(name) == shown
    assert paths.display(os.fsencode(name)) == shown


def test_json_text_round_trips_every_name() -> None:
    names = [os.fsdecode(b"caf\xe9.png"), "clear\x1b[2J", "ok.jpg", "猫\u202e"]
    text = paths.json_text([{"path": n} for n in names])
    text.encode("utf-8")  # printable on a UTF-8 stdout: no lone surrogate left
    assert "\\udce9" in text
    back = [os.fsencode(h["path"]) for h in json.loads(text)]
    assert back == [os.fsencode(n) for n in names]


def test_utf8_text_names_the_byte() -> None:
    with pytest.raises(UsageError, match=r"byte 0xe9 at character 4"):
        validate.utf8_text(os.fsdecode(b"caf\xe9"), "the search text")
    assert validate.utf8_text("café", "x") == "café"


@pytest.mark.parametrize(
    ("block", "key", "value", "message"),
    [
        (None, "dim", "1024", "dim must be a whole number"),
        (None, "dim", True, "dim must be a whole number"),
        (None, "dim", 128, "dim must be from 256"),
        (None, "matryoshka_dims", [], "matryoshka_dims must be a non-empty list"),
        (None, "matryoshka_dims", [512, 256], "increasing order"),
        (None, "matryoshka_dims", [32, 64], "must offer 256-d"),
        (None, "id", "", "id must be a plain non-empty name"),
        (None, "id", "a\x1bb", "id must be a plain non-empty name"),
        (None, "format", 2, "unsupported format 2"),
        (None, "sha256", {"text.onnx": "abc"}, "64-digit hexadecimal"),
        (None, "text", [], "text must be a JSON object"),
        ("text", "max_tokens", 10**6, "text.max_tokens must be from 8 to 8192"),
        ("text", "max_tokens", 12.5, "text.max_tokens must be a whole number"),
        ("text", "pad_id", -1, "text.pad_id must be from 0"),
        ("text", "query_prefix", 7, "text.query_prefix must be a string"),
        ("text", "file", "/etc/passwd", "is not a file inside the model folder"),
        ("text", "file", "../text.onnx", "is not a file inside the model folder"),
        ("vision", "image_size", 0, "vision.image_size must be from 1 to 4096"),
        ("vision", "image_size", "512", "vision.image_size must be a whole number"),
        ("vision", "mean", [0.5, None, 0.5], "mean must be a list of three numbers"),
        ("vision", "std", [0.5, 0.0, 0.5], "std must be three positive numbers"),
        ("vision", "resize", "stretch", "unknown resize"),
        ("vision", "output", None, "vision.output must be a string"),
    ],
)
def test_manifest_values_are_checked(
    toy_model: Path, tmp_path: Path, block: str | None, key: str, value: Any, message: str
) -> None:
    folder = tmp_path / "m"
    shutil.copytree(toy_model, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    (manifest if block is None else manifest[block])[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError) as caught:
        model_folder.load(folder)
    assert message in str(caught.value)
    assert "\n" not in caught.value.message


def test_a_manifest_that_is_not_json_or_nested_too_deeply(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(ModelError, match=r"manifest\.json"):
        model_folder.load(tmp_path)


def test_graph_header_matches_what_onnx_reads(toy_model: Path) -> None:
    for name in ("text.onnx", "vision.onnx"):
        info = graph.read(toy_model / name)
        full = onnx.load(str(toy_model / name))
        assert info.ir_version == full.ir_version
        assert info.opsets == {(o.domain or "ai.onnx"): o.version for o in full.opset_import}
        assert [p.name for p in info.inputs] == [i.name for i in full.graph.input]
        assert info.output_names == [o.name for o in full.graph.output]
    pixels = graph.read(toy_model / "vision.onnx").input("pixel_values")
    assert pixels is not None and pixels.shape == ("batch", 3, 512, 512)


def test_graph_reader_refuses_what_is_not_onnx(tmp_path: Path) -> None:
    for content in (b"", b"\x00" * 64, b"not a model at all", os.urandom(4096)):
        path = tmp_path / "x.onnx"
        path.write_bytes(content)
        with pytest.raises(graph.GraphFormatError):
            graph.read(path)


def test_the_probe_tells_what_this_onnxruntime_reads() -> None:
    info = graph.GraphInfo(ir_version=8, opsets={"ai.onnx": 17})
    assert graph.runtime_refusal(info) is None
    info.ir_version = 99
    refusal = graph.runtime_refusal(info) or ""
    assert refusal.startswith("it is ONNX IR version 99, and the installed onnxruntime")
    info.ir_version, info.opsets = 8, {"ai.onnx": 99}
    assert "uses opset 99 of ai.onnx" in (graph.runtime_refusal(info) or "")


def test_a_same_size_edit_with_its_mtime_restored_is_hashed_again(
    toy_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "m"
    shutil.copytree(toy_model, folder)
    cache = tmp_path / "cache.json"
    model = model_folder.load(folder)
    model_folder.verify(model, cache)
    target = folder / "text.onnx"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x01
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    with pytest.raises(ModelError, match=r"text\.onnx .* does not match its checksum"):
        model_folder.verify(model, cache)


def test_links_out_of_a_watched_folder_are_followed_only_when_asked(
    library: Any, tmp_path: Path, photos: Path
) -> None:
    write(photos / "red.jpg", "red")
    outside = tmp_path / "outside"
    write(outside / "blue.jpg", "blue")
    (photos / "out").symlink_to(outside, target_is_directory=True)
    (photos / "one.jpg").symlink_to(outside / "blue.jpg")
    inside = photos / "sub"
    write(inside / "green.jpg", "green")
    (photos / "again").symlink_to(inside, target_is_directory=True)  # stays inside: followed
    library.add_folders([photos])
    _, problems = library.scan()
    indexed = {os.path.relpath(r.path, photos) for r in library.store.files_under(str(photos))}
    assert indexed in ({"red.jpg", "sub/green.jpg"}, {"red.jpg", "again/green.jpg"})
    assert problems == [
        (
            str(photos),
            "2 symbolic links leading out of this folder not followed "
            "(`lanterna folders follow-links on` follows them)",
        )
    ]
    library.set_rules(follow_links=True)
    library.scan()
    names = {os.path.relpath(r.path, photos) for r in library.store.files_under(str(photos))}
    assert {"out/blue.jpg", "one.jpg"} <= names
    library.set_rules(follow_links=False)
    library.scan()
    names = {os.path.relpath(r.path, photos) for r in library.store.files_under(str(photos))}
    assert not {"out/blue.jpg", "one.jpg"} & names


def test_a_watched_link_out_is_not_taken_in_by_a_change_either(
    library: Any, tmp_path: Path, photos: Path
) -> None:
    from engine.watcher import Batch

    outside = tmp_path / "outside"
    write(outside / "blue.jpg", "blue")
    library.add_folders([photos])
    link = photos / "new.jpg"
    link.symlink_to(outside / "blue.jpg")
    batch = Batch()
    batch.paths.add(str(link))
    assert library.apply_changes(batch).added == 0
    assert library.rules().skips(str(photos), str(link))
    assert not library.rules().skips(str(photos), str(photos / "real.jpg"))


def test_the_model_folder_chosen_for_a_data_folder_is_recorded_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    assert paths.model_dir(None, data) == data / "model"
    paths.record_model_dir(data, tmp_path / os.fsdecode(b"mod\xe8le"))
    assert paths.model_dir(None, data) == tmp_path / os.fsdecode(b"mod\xe8le")
    assert paths.model_dir(str(tmp_path / "cli"), data) == tmp_path / "cli"
    monkeypatch.setenv(paths.MODEL_ENV, str(tmp_path / "env"))
    assert paths.model_dir(None, data) == tmp_path / "env"
    monkeypatch.delenv(paths.MODEL_ENV)
    paths.record_model_dir(data, None)
    assert paths.model_dir(None, data) == data / "model"
    (data / paths.MODEL_CHOICE_FILE).write_text("{not json")
    assert paths.model_dir(None, data) == data / "model"
