"""The frozen bundle's entry point: ``lanterna`` (the window), ``lanterna --self-test``,
``lanterna --install-desktop-entry``.

The two options are handled here as well as in ``app.main`` so that the bundle works whatever
``app.main`` parses. ``multiprocessing.freeze_support()`` comes first: the PDF reader runs in a
spawned process, which in a bundle is this same executable started with multiprocessing's own
arguments.
"""

from __future__ import annotations

import multiprocessing
import sys


def _attach_console() -> None:
    """Windows: the app is built without a console; print the self-test to the caller's."""
    if sys.platform != "win32" or sys.stdout is not None:
        return
    try:
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):
            sys.stdout = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115
            sys.stderr = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115
    except OSError:
        pass


def _option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main() -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:]
    if "--self-test" in argv:
        _attach_console()
        from app import selftest

        return selftest.run(
            _option(argv, "--data-dir"),
            _option(argv, "--model"),
            device=_option(argv, "--device") or "auto",
        )
    if "--install-desktop-entry" in argv:
        from app import desktop_entry

        return desktop_entry.main([])
    from app.main import main as gui

    return gui()


if __name__ == "__main__":
    sys.exit(main())
