import sys

from .serve import fast_path

# A search that a running process answers needs nothing more than the socket (engine.serve).
answered = fast_path(sys.argv[1:])
if answered is not None:
    sys.exit(answered)

from .cli import main  # noqa: E402

sys.exit(main())
