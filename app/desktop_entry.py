"""``lanterna-gui --install-desktop-entry``: put Lanterna in the desktop's application menu.

For Linux and other freedesktop.org desktops (GNOME, KDE, Xfce…): writes ``lanterna.desktop``
into ``$XDG_DATA_HOME/applications`` (``~/.local/share/applications`` by default) and the icon
into ``$XDG_DATA_HOME/icons/hicolor/<size>/apps`` as PNGs and an SVG. Nothing needs root.

The entry starts whatever is running now: the AppImage (``$APPIMAGE``), the frozen bundle's
binary, or the ``lanterna-gui`` script of the environment this module runs in. The file name
matches ``QGuiApplication.setDesktopFileName("lanterna")`` and ``StartupWMClass`` the
application name, so Wayland and X11 docks show the icon on the window.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.errors import ConfigError

APP_ID = "lanterna"  # the .desktop file's name and the icon's name
NAME = "Lanterna"
GENERIC_NAME = "Photo and Document Search"
COMMENT = "Find your photos and documents by meaning, privately"
CATEGORIES = ("Graphics", "Photography", "Viewer")
KEYWORDS = ("photo", "picture", "image", "document", "PDF", "search", "find")
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
# What the app can be handed as a file to search with (declared only with mime_types=True).
MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/bmp",
    "image/tiff",
    "image/heic",
    "image/heif",
    "image/avif",
    "application/pdf",
)

# Characters that force an Exec argument into double quotes (Desktop Entry spec, "Exec key").
_RESERVED = frozenset(" \t\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    """``$XDG_DATA_HOME`` if it is an absolute path (as the spec requires), else ~/.local/share."""
    env = os.environ.get("XDG_DATA_HOME", "")
    if env and os.path.isabs(env):
        return Path(env)
    return Path.home() / ".local" / "share"


def launch_command() -> list[str]:
    """The command that starts the app that is running now."""
    appimage = os.environ.get("APPIMAGE")
    if appimage and os.path.isfile(appimage):
        return [os.path.abspath(appimage)]  # not sys.executable: that is inside its mount
    if getattr(sys, "frozen", False):
        return [os.path.abspath(sys.executable)]
    beside = Path(sys.executable).with_name("lanterna-gui")
    if beside.is_file():  # a virtual environment's script, even when it is not on PATH
        return [str(beside.absolute())]
    on_path = shutil.which("lanterna-gui")
    if on_path:
        return [os.path.abspath(on_path)]
    return [os.path.abspath(sys.executable), "-m", "app"]


def exec_argument(arg: str) -> str:
    """One argument as the Exec key wants it: quoted where needed, then string-escaped."""
    if any(c in arg for c in "\n\r\0"):
        raise ConfigError(f"cannot put {arg!r} in a desktop entry (it holds a line break)")
    arg = arg.replace("%", "%%")
    if any(c in _RESERVED for c in arg):
        arg = '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return arg.replace("\\", "\\\\")


def _escape(value: str) -> str:
    """A string value: backslash, newline, tab and carriage return escaped."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


def desktop_file(command: Sequence[str], *, mime_types: bool = False) -> str:
    """The text of ``lanterna.desktop`` for a launch command."""
    exec_line = " ".join(exec_argument(a) for a in command)
    if mime_types:
        exec_line += " %F"
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        f"Name={NAME}",
        f"GenericName={GENERIC_NAME}",
        f"Comment={_escape(COMMENT)}",
        f"Exec={exec_line}",
        f"TryExec={_escape(command[0])}",
        f"Icon={APP_ID}",
        "Terminal=false",
        "Categories=" + "".join(c + ";" for c in CATEGORIES),
        "Keywords=" + "".join(k + ";" for k in KEYWORDS),
        "StartupNotify=true",
        f"StartupWMClass={NAME}",
    ]
    if mime_types:
        lines.append("MimeType=" + "".join(m + ";" for m in MIME_TYPES))
    return "\n".join(lines) + "\n"


def _resources() -> Path | None:
    """The ``resources/`` folder with the icon set: the bundle's, or the source tree's."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / "resources")
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    for folder in candidates:
        if (folder / f"{APP_ID}.svg").is_file():
            return folder
    return None


def _write_icons(hicolor: Path) -> list[Path]:
    written = []
    source = _resources()
    for side in ICON_SIZES:
        target = hicolor / f"{side}x{side}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        png = source / f"{APP_ID}-{side}.png" if source else None
        if png is not None and png.is_file():
            shutil.copyfile(png, target)
        else:  # a pip install has no resources/: draw it from the SVG in app.icon
            from app.icon import render

            if not render(side).save(str(target)):  # PNG, from the suffix
                raise ConfigError(f"cannot write the icon {target}")
        written.append(target)
    svg = hicolor / "scalable" / "apps" / f"{APP_ID}.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    if source is not None:
        shutil.copyfile(source / f"{APP_ID}.svg", svg)
    else:
        from app.icon import SVG

        svg.write_text(SVG, encoding="utf-8")
    written.append(svg)
    return written


def _refresh(applications: Path, hicolor: Path, mime_types: bool) -> None:
    """Tell the desktop (best effort): menus re-read the folder; icon caches see a newer mtime."""
    os.utime(hicolor)
    tool = shutil.which("update-desktop-database")
    if mime_types and tool:
        subprocess.run([tool, "-q", str(applications)], check=False, timeout=30)


def install(
    *,
    home: str | os.PathLike[str] | None = None,
    command: Sequence[str] | None = None,
    mime_types: bool = False,
    refresh: bool = True,
) -> Path:
    """Write the desktop entry and the icons; return the path of the ``.desktop`` file.

    ``home`` replaces ``$XDG_DATA_HOME``; ``command`` replaces the running app's launch command;
    ``mime_types`` also offers Lanterna in "Open with" for pictures and PDFs (the app must then
    accept a file argument).
    """
    if sys.platform in ("win32", "darwin"):
        raise ConfigError(
            "desktop entries are for Linux desktops",
            "on Windows the installer adds the Start menu entry; on macOS drag the app",
        )
    base = Path(home) if home is not None else data_home()
    applications = base / "applications"
    hicolor = base / "icons" / "hicolor"
    argv = list(command) if command else launch_command()
    try:
        applications.mkdir(parents=True, exist_ok=True)
        _write_icons(hicolor)
        target = applications / f"{APP_ID}.desktop"
        partial = target.with_suffix(".desktop.part")
        partial.write_text(desktop_file(argv, mime_types=mime_types), encoding="utf-8")
        partial.chmod(0o755)  # some desktops only launch entries marked executable
        partial.replace(target)
        if refresh:
            _refresh(applications, hicolor, mime_types)
    except OSError as exc:
        raise ConfigError(f"cannot install the desktop entry: {exc}") from exc
    return target


def uninstall(*, home: str | os.PathLike[str] | None = None) -> list[Path]:
    """Remove what :func:`install` wrote; return the paths removed."""
    base = Path(home) if home is not None else data_home()
    hicolor = base / "icons" / "hicolor"
    paths = [base / "applications" / f"{APP_ID}.desktop"]
    paths.append(hicolor / "scalable" / "apps" / f"{APP_ID}.svg")
    paths += [hicolor / f"{s}x{s}" / "apps" / f"{APP_ID}.png" for s in ICON_SIZES]
    removed = []
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m app.desktop_entry [--uninstall]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if "--uninstall" in args:
            for path in uninstall():
                print(f"removed {path}")
            return 0
        print(f"installed {install()}")
    except ConfigError as exc:
        print(f"lanterna: {exc.one_line()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
