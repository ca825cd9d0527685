"""The ``lanterna`` command's first step: a search that a running process answers needs nothing
more than the socket (:mod:`engine.serve`), so the CLI's parser and the engine load only when
this process must answer itself."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    from .serve import fast_path

    answered = fast_path(args)
    if answered is not None:
        return answered
    from .cli import main as cli_main

    return cli_main(args, ask_server=False)
