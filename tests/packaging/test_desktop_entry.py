"""app.desktop_entry: a valid freedesktop entry and icon set under $XDG_DATA_HOME."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from app import desktop_entry


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    assert parser.sections() == ["Desktop Entry"]
    return dict(parser["Desktop Entry"])


def unescape(value: str) -> str:
    """A string value as the spec reads it (\\s, \\n, \\t, \\r, \\\\)."""
    out, chars = [], iter(value)
    for c in chars:
        if c == "\\":
            nxt = next(chars)
            out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(nxt, nxt))
        else:
            out.append(c)
    return "".join(out)


def exec_argv(value: str) -> list[str]:
    """The Exec key's arguments, unquoted as the Desktop Entry spec says (field codes kept)."""
    text, args, current, quoted, i = unescape(value), [], "", False, 0
    started = False
    while i < len(text):
        c = text[i]
        if quoted:
            if c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
                current += text[i + 1]
                i += 1
            elif c == '"':
                quoted = False
            else:
                current += c
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if started:
                args.append(current)
            current, started = "", False
        else:
            current += c
            started = True
        i += 1
    assert not quoted, "unterminated quote"
    if started:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


def test_install_respects_xdg_data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    path = desktop_entry.install(refresh=False)
    assert path == home / "applications" / "lanterna.desktop"
    entry = read_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Lanterna"
    assert entry["Icon"] == "lanterna"
    assert entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "Lanterna"
    assert entry["Categories"].endswith(";")
    assert "Graphics" in entry["Categories"].split(";")
    assert "MimeType" not in entry
    argv = exec_argv(entry["Exec"])
    assert argv == desktop_entry.launch_command()
    assert Path(argv[0]).is_absolute() and Path(argv[0]).exists()
    assert unescape(entry["TryExec"]) == argv[0]
    for side in desktop_entry.ICON_SIZES:
        png = home / "icons" / "hicolor" / f"{side}x{side}" / "apps" / "lanterna.png"
        with Image.open(png) as image:
            assert image.size == (side, side)
    svg = home / "icons" / "hicolor" / "scalable" / "apps" / "lanterna.svg"
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_a_relative_xdg_data_home_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    assert desktop_entry.data_home() == Path.home() / ".local" / "share"


def test_the_venv_script_is_what_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPIMAGE", raising=False)
    command = desktop_entry.launch_command()
    beside = Path(sys.executable).with_name("lanterna-gui")
    if beside.is_file():
        assert command == [str(beside.absolute())]
    else:
        assert command[0] in (shutil.which("lanterna-gui"), sys.executable)


def test_a_frozen_app_and_an_appimage_start_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "dist" / "lanterna" / "lanterna"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"")
    monkeypatch.delenv("APPIMAGE", raising=False)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(binary))
    assert desktop_entry.launch_command() == [str(binary)]
    appimage = tmp_path / "Lanterna-x86_64.AppImage"
    appimage.write_bytes(b"")
    monkeypatch.setenv("APPIMAGE", str(appimage))
    assert desktop_entry.launch_command() == [str(appimage)]


def test_exec_quoting_round_trips(tmp_path: Path) -> None:
    command = ["/opt/My Apps/lanterna $HOME", 'say "hi" `now`', "100%", "back\\slash", "plain"]
    path = desktop_entry.install(home=tmp_path, command=command, refresh=False)
    entry = read_entry(path)
    assert exec_argv(entry["Exec"]) == command
    assert entry["Exec"].endswith(" plain")


def test_mime_types_offer_open_with(tmp_path: Path) -> None:
    path = desktop_entry.install(home=tmp_path, command=["/usr/bin/true"], mime_types=True)
    entry = read_entry(path)
    types = entry["MimeType"].split(";")
    assert entry["MimeType"].endswith(";")
    assert {"image/jpeg", "image/png", "image/heic", "application/pdf"} <= set(types)
    assert exec_argv(entry["Exec"]) == ["/usr/bin/true", "%F"]


def test_icons_are_drawn_when_resources_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(desktop_entry, "_resources", lambda: None)  # a pip install
    desktop_entry.install(home=tmp_path, command=["/usr/bin/true"], refresh=False)
    with Image.open(tmp_path / "icons/hicolor/48x48/apps/lanterna.png") as image:
        assert image.size == (48, 48)
        assert image.convert("RGBA").getpixel((24, 30))[3] == 255
    from app.icon import SVG

    assert (tmp_path / "icons/hicolor/scalable/apps/lanterna.svg").read_text() == SVG


def test_reinstall_replaces_and_uninstall_removes(tmp_path: Path) -> None:
    first = desktop_entry.install(home=tmp_path, command=["/a"], refresh=False)
    second = desktop_entry.install(home=tmp_path, command=["/b"], refresh=False)
    assert first == second
    assert read_entry(second)["Exec"] == "/b"
    assert list((tmp_path / "applications").iterdir()) == [second]
    removed = desktop_entry.uninstall(home=tmp_path)
    assert len(removed) == len(desktop_entry.ICON_SIZES) + 2
    assert not second.exists()
    assert desktop_entry.uninstall(home=tmp_path) == []


@pytest.mark.skipif(
    shutil.which("desktop-file-validate") is None,
    reason="desktop-file-validate is not installed (apt install desktop-file-utils)",
)
@pytest.mark.parametrize("mime_types", [False, True])
def test_desktop_file_validate_accepts_it(tmp_path: Path, mime_types: bool) -> None:
    command = ["/opt/My Apps/lanterna", "100%"]
    path = desktop_entry.install(home=tmp_path, command=command, mime_types=mime_types)
    done = subprocess.run(
        ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_the_appimage_entry_matches_the_installed_one(tmp_path: Path) -> None:
    shipped = read_entry(Path(__file__).resolve().parents[2] / "packaging/linux/lanterna.desktop")
    made = read_entry(desktop_entry.install(home=tmp_path, command=["lanterna"], refresh=False))
    assert shipped["Exec"] == "lanterna"
    assert {k: v for k, v in made.items() if k != "TryExec"} == shipped
