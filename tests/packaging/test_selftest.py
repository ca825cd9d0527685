"""app.selftest in-process, against the toy model: what `lanterna-gui --self-test` runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import selftest


def test_passes_with_the_toy_model(
    tmp_path: Path, toy_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert selftest.run(str(tmp_path / "data"), str(toy_model), device="cpu") == 0
    out, err = capsys.readouterr()
    assert out.rstrip().endswith("self-test passed")
    assert err == ""
    labels = {line[:12].strip() for line in out.splitlines()}
    labels_wanted = ("onnxruntime", "sqlite", "pdfium", "qt", "index", "model", "provider", "cuda")
    for label in (*labels_wanted, "ocr"):
        assert label in labels, f"no {label!r} line in:\n{out}"
    assert "provider    CPUExecutionProvider" in out
    assert f"text query  'red': {selftest.EXPECTED} first" in out
    assert f"image query a red photo: {selftest.EXPECTED} first" in out
    assert "and a PDF" in out
    assert "lanterna/toy-clip" in out


def test_a_given_index_is_left_as_it_was(
    tmp_path: Path, toy_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.library import Library

    data = tmp_path / "data"
    assert selftest.run(str(data), str(toy_model), device="cpu") == 0
    assert selftest.run(str(data), str(toy_model), device="cpu") == 0  # reopened
    with Library(data, toy_model) as lib:
        assert lib.folders() == []
        assert lib.store.counts()["indexed"] == 0
    capsys.readouterr()


def test_without_data_dir_the_users_index_is_not_touched(
    tmp_path: Path, toy_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    user_data = tmp_path / "user-data"  # LANTERNA_DATA_DIR (tests/conftest.py)
    assert selftest.run(None, str(toy_model), device="cpu") == 0
    assert not user_data.exists()
    assert "(temporary)" in capsys.readouterr().out


def test_fails_in_one_line_without_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert selftest.run(str(tmp_path / "data"), str(tmp_path / "nowhere"), device="cpu") == 1
    out, err = capsys.readouterr()
    assert "self-test passed" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("self-test failed: Model error: ")
    assert "nowhere" in lines[0]


def test_fails_when_the_ranking_is_wrong(
    tmp_path: Path,
    toy_model: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.library import Library

    monkeypatch.setattr(selftest, "TEXT_QUERY", "blue")
    assert selftest.run(str(tmp_path / "data"), str(toy_model), device="cpu") == 1
    err = capsys.readouterr().err
    assert err.startswith("self-test failed: the text query ranked sample-2.jpg first")
    assert err.count("\n") == 1
    with Library(tmp_path / "data", toy_model) as lib:
        assert lib.folders() == []  # the sample folder is removed again after a failure too


def test_the_sample_pdf_reads_back(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    path = tmp_path / "x.pdf"
    path.write_bytes(selftest.pdf_bytes("Lanterna self-test page", (1.0, 0.8, 0.2)))
    doc = pdfium.PdfDocument(str(path))
    try:
        assert len(doc) == 1
        page = doc[0]
        text = page.get_textpage().get_text_range()
        assert text.strip() == "Lanterna self-test page"
        pixel = page.render(scale=0.2).to_pil().convert("RGB").getpixel((2, 2))
        assert pixel[0] > 200 and pixel[2] < 100
    finally:
        doc.close()


def test_a_bundle_without_the_ocr_models_fails(
    tmp_path: Path,
    toy_model: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rapidocr

    # a bundle whose rapidocr package came without its models folder
    empty = tmp_path / "bundle" / "rapidocr"
    (empty / "models").mkdir(parents=True)
    monkeypatch.setattr(rapidocr, "__file__", str(empty / "__init__.py"))
    monkeypatch.setattr(selftest, "frozen", lambda: True)
    assert selftest.run(str(tmp_path / "data"), str(toy_model), device="cpu") == 1
    err = capsys.readouterr().err
    assert err.startswith("self-test failed: the bundle cannot read text in pictures")


def test_cuda_report_names_every_library() -> None:
    import onnxruntime as ort

    lines = selftest.cuda_report()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "not in this onnxruntime" in lines[0]
        return
    assert lines[0].startswith("CUDA provider: ")
    names = [name for name, _rel, _opt in selftest._cuda_library_names()]
    assert any("cudart" in n for n in names)
    assert any("cudnn" in n for n in names)
    for name in names:
        assert any(line.startswith(f"{name}: ") for line in lines), name
