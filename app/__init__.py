"""Lanterna's desktop app: a PySide6 window over the engine (which never imports Qt)."""
