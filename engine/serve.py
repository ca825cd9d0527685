"""A private query socket: ``lanterna search`` asks the running app or ``lanterna watch``.

A new process pays for Python, the engine's imports, opening the index and loading the text
tower (0.6–5 s for the real one) before it can answer. A long-lived process (the app, or
``lanterna watch``) already holds all of that, warm, with the vectors in memory. So while one
runs, it listens on a Unix socket in a private folder of the data folder, and ``lanterna search``
hands it its command line and prints the answer: the same code (``engine.cli``'s ``search``
command) runs in the long-lived process, on its library.

Privacy: the socket lives in ``DATA/run/`` (mode 0700) with mode 0600, and on Linux the peer's
user id is checked (``SO_PEERCRED``); nothing listens on a network port. Where ``AF_UNIX`` is
missing (older Windows builds), there is no server and the CLI answers by itself.

Threads: :class:`QueryServer` owns one accept thread (``lanterna-query``) that answers one
request at a time; :meth:`QueryServer.close` stops it. It is started and stopped by
``Library.watch`` (so by whoever watches: the app's bridge thread, ``lanterna watch``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

SOCKET_NAME = "query.sock"
CONNECT_TIMEOUT_S = 0.05  # nobody listening answers at once; a busy server gets a moment
ANSWER_TIMEOUT_S = 60.0
MAX_REQUEST = 1 << 20

Handler = Callable[[Sequence[str]], tuple[int, str, str]]


def socket_path(data_dir: Path) -> Path:
    return Path(data_dir) / "run" / SOCKET_NAME


def available() -> bool:
    return hasattr(socket, "AF_UNIX")


# -- per-thread output: the handler's prints go to its request, nobody else's -----------------


class _ThreadStream(io.TextIOBase):
    """Stands in for sys.stdout/stderr: a thread that asked gets its own buffer."""

    def __init__(self, base: IO[str]) -> None:
        self.base = base
        self.local = threading.local()

    def write(self, text: str) -> int:
        buf = getattr(self.local, "buf", None)
        return (buf if buf is not None else self.base).write(text)

    def flush(self) -> None:
        buf = getattr(self.local, "buf", None)
        (buf if buf is not None else self.base).flush()

    def isatty(self) -> bool:
        return False if getattr(self.local, "buf", None) is not None else self.base.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_install_lock = threading.Lock()


@contextlib.contextmanager
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Capture this thread's ``print`` to stdout and stderr (other threads are untouched)."""
    with _install_lock:
        for name in ("stdout", "stderr"):
            if not isinstance(getattr(sys, name), _ThreadStream):
                setattr(sys, name, _ThreadStream(getattr(sys, name)))
    out, err = io.StringIO(), io.StringIO()
    streams = [s for s in (sys.stdout, sys.stderr) if isinstance(s, _ThreadStream)]
    for stream, buf in zip(streams, (out, err), strict=True):
        stream.local.buf = buf
    try:
        yield out, err
    finally:
        for stream in streams:
            stream.local.buf = None


# -- framing ---------------------------------------------------------------------------------


def _send(conn: socket.socket, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    conn.sendall(struct.pack(">I", len(data)) + data)


def _receive(conn: socket.socket) -> dict[str, Any]:
    head = _exact(conn, 4)
    (size,) = struct.unpack(">I", head)
    if size > MAX_REQUEST:
        raise ValueError("request too large")
    data = json.loads(_exact(conn, size).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _exact(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = conn.recv(size)
        if not chunk:
            raise ConnectionError("closed early")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _same_user(conn: socket.socket) -> bool:
    if not hasattr(socket, "SO_PEERCRED"):
        return True  # the socket's mode and its private folder are the guard here
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


# -- the server ------------------------------------------------------------------------------


class QueryServer:
    """Answers ``lanterna search`` command lines on the data folder's private socket."""

    def __init__(self, data_dir: Path, handler: Handler) -> None:
        self.path = socket_path(data_dir)
        self.handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> bool:
        """Listen, unless another live process already does (then it keeps answering)."""
        if not available():
            return False
        if ask_raw(self.path, {"ping": True}) is not None:
            log.info("another Lanterna process answers queries for this data folder")
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of a process that died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        except OSError as exc:  # e.g. a path longer than sun_path allows
            log.info("no query socket (%s): searches from the CLI answer by themselves", exc)
            sock.close()
            return False
        finally:
            os.umask(old)
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="lanterna-query", daemon=True)
        self._thread.start()
        return True

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            with conn:
                try:
                    conn.settimeout(5.0)
                    if not _same_user(conn):
                        continue
                    request = _receive(conn)
                    if request.get("ping"):
                        _send(conn, {"pong": os.getpid()})
                        continue
                    argv = [str(a) for a in request.get("argv", [])]
                    conn.settimeout(ANSWER_TIMEOUT_S)
                    rc, out, err = self.handler(argv)
                    _send(conn, {"rc": rc, "stdout": out, "stderr": err})
                except Exception as exc:  # one bad request never stops the server
                    log.info("query socket: %s", exc)

    def close(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2.0)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._sock = None


# -- the client ------------------------------------------------------------------------------


def ask_raw(path: Path, payload: dict[str, Any]) -> dict[str, Any] | None:
    """One request to the socket at ``path``; ``None`` when nobody answers there."""
    if not available() or not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT_S)
        sock.connect(str(path))
        sock.settimeout(ANSWER_TIMEOUT_S)
        _send(sock, payload)
        return _receive(sock)
    except (OSError, ValueError, ConnectionError):
        return None
    finally:
        sock.close()


def fast_path(argv: Sequence[str]) -> int | None:
    """Hand a ``search`` command line to the running process, before argparse is even loaded.

    Only a plain search qualifies: global options limited to ``--data-dir`` and ``-v`` (a
    ``--model`` or ``--device`` of its own means the user wants this process to answer). The
    serving process parses the line with the CLI's own parser and prints what it would print.
    Returns the exit status, or ``None`` when this process must answer itself.
    """
    args = list(argv)
    if "search" not in args:
        return None
    data: str | None = None
    i = 0
    while args[i] != "search":
        arg = args[i]
        if arg == "--data-dir" and i + 1 < len(args) and args[i + 1] != "search":
            data, i = args[i + 1], i + 2
        elif arg.startswith("--data-dir="):
            data, i = arg.split("=", 1)[1], i + 1
        elif arg in ("-v", "--verbose"):
            i += 1
        else:
            return None
    from .paths import data_dir

    reply = ask(data_dir(data), args)
    if reply is None:
        return None
    rc, out, err = reply
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    return rc


def ask(data_dir: Path, argv: Sequence[str]) -> tuple[int, str, str] | None:
    """Run a ``lanterna`` command line in the process that serves ``data_dir``, if one does."""
    answer = ask_raw(socket_path(data_dir), {"argv": list(argv)})
    if answer is None or "rc" not in answer:
        return None
    return int(answer["rc"]), str(answer.get("stdout", "")), str(answer.get("stderr", ""))
