"""The optimum export path: without its optional extra it stops with one clear line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from engine.errors import ModelError
from onnx_models import export

HAS_EXPORT_TOOLS = all(
    importlib.util.find_spec(name) is not None for name in ("torch", "transformers", "optimum")
)


@pytest.mark.skipif(HAS_EXPORT_TOOLS, reason="the export extra is installed here")
def test_export_without_the_extra_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ModelError, match="needs optimum, transformers and torch") as caught:
        export.export_towers(tmp_path / "out")
    assert "pip install -e '.[export]'" in caught.value.hint
    assert export.main([str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("export: Model error: exporting from the PyTorch")
    assert not (tmp_path / "out").exists()
