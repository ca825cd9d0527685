"""Lanterna's engine: index folders of photos and documents and search them by meaning.

This package never imports Qt; the desktop app in ``app/`` wraps it.
"""

__version__ = "0.1.0"
