"""A tiny Hugging Face Hub on 127.0.0.1 serving one repository at one commit.

It answers the requests huggingface_hub makes for a pinned download: ``POST
/api/models/{repo}/paths-info/{rev}`` (sizes, git blob ids, LFS SHA-256) and ``HEAD``/``GET
/{repo}/resolve/{rev}/{path}`` (with ``X-Repo-Commit``, ETags and ``Range``), so the download code
runs its real path with no network. It can also cut a transfer short (to exercise resuming) and
serve altered bytes under the right checksum (to exercise integrity checks).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

LFS_FROM = 1024  # files at least this big are "LFS" files: their ETag is their SHA-256


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    def __init__(
        self,
        repo_id: str,
        commit: str,
        files: dict[str, bytes],
        *,
        interrupt: Iterable[str] = (),
        tamper: Iterable[str] = (),
        lfs_from: int = LFS_FROM,
    ) -> None:
        self.repo_id = repo_id
        self.commit = commit
        self.files = files
        self.interrupt = set(interrupt)
        self.tamper = set(tamper)
        self.lfs_from = lfs_from
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def entry(self, path: str) -> dict[str, object]:
        data = self.files[path]
        info: dict[str, object] = {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": git_blob_id(data),
        }
        if len(data) >= self.lfs_from:
            info["lfs"] = {
                "oid": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        return info

    def count(self, method: str, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for m, p, _ in self.requests if m == method and (path is None or p == path)
            )

    def ranges(self) -> list[str]:
        with self._lock:
            return [r for _, _, r in self.requests if r]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _error(self, status: int, code: str, message: str) -> None:
                body = json.dumps({"error": message}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _record(self, path: str) -> None:
                with hub._lock:
                    hub.requests.append((self.command, path, self.headers.get("Range")))

            def do_POST(self) -> None:
                prefix = f"/api/models/{hub.repo_id}/paths-info/"
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                self._record(self.path)
                if not self.path.startswith(prefix):
                    return self._error(404, "RepoNotFound", "Repository not found")
                if unquote(self.path[len(prefix) :]) != hub.commit:
                    return self._error(404, "RevisionNotFound", "Invalid rev id")
                entries = [hub.entry(p) for p in form.get("paths", []) if p in hub.files]
                body = json.dumps(entries).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._resolve()

            def do_GET(self) -> None:
                info = f"/api/models/{hub.repo_id}/revision/"
                if self.path.split("?", 1)[0].startswith(info):
                    self._record(self.path)
                    body = json.dumps({"id": hub.repo_id, "sha": hub.commit}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self._resolve()

            def _resolve(self) -> None:
                prefix = f"/{hub.repo_id}/resolve/"
                path = unquote(self.path.split("?", 1)[0])
                self._record(path)
                if not path.startswith(prefix):
                    return self._error(404, "RepoNotFound", "Repository not found")
                rev, _, name = path[len(prefix) :].partition("/")
                if rev != hub.commit:
                    return self._error(404, "RevisionNotFound", "Invalid rev id")
                if name not in hub.files:
                    return self._error(404, "EntryNotFound", "Entry not found")
                data = hub.files[name]
                entry = hub.entry(name)
                lfs = entry.get("lfs")
                etag = lfs["oid"] if isinstance(lfs, dict) else entry["oid"]
                if self.command == "GET" and name in hub.tamper:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start = 0
                wanted = self.headers.get("Range")
                if wanted and wanted.startswith("bytes="):
                    start = int(wanted[len("bytes=") :].split("-", 1)[0] or 0)
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", hub.commit)
                self.send_header("ETag", f'"{etag}"')
                if isinstance(lfs, dict):
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if self.command == "HEAD":
                    return
                body = data[start:]
                if name in hub.interrupt and not start:
                    hub.interrupt.discard(name)  # once: the client must resume the rest
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler


class _Trickle:
    """A response stream that hands its bytes over slowly, and quietly stops when the client
    hangs up (as a cancelled download does)."""

    PIECE = 16 * 1024

    def __init__(self, raw: Any, pause: float) -> None:
        self._raw = raw
        self._pause = pause

    def write(self, data: bytes) -> int:
        try:
            for start in range(0, len(data), self.PIECE):
                self._raw.write(data[start : start + self.PIECE])
                if len(data) > self.PIECE:
                    self._raw.flush()
                    time.sleep(self._pause)
        except OSError:
            pass  # the client went away
        return len(data)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class SlowHub(FakeHub):
    """A FakeHub that hands its files over at about ``bytes_per_s`` (progress, cancel)."""

    def __init__(self, *args: Any, bytes_per_s: int = 1_600_000, **kwargs: Any) -> None:
        self.pause = _Trickle.PIECE / bytes_per_s  # before the server starts
        super().__init__(*args, **kwargs)

    def _handler(self) -> Any:
        base = super()._handler()
        pause = self.pause

        class Slow(base):  # type: ignore[misc,valid-type]
            def setup(self) -> None:
                super().setup()
                self.wfile = _Trickle(self.wfile, pause)

        return Slow
