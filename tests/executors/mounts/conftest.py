"""Mount tests: archives built in memory, a counting HTTP server, and a shell executor with its own root."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tcw.executors.mounts import MountManager, MountSettings
from tcw.executors.shell import ShellExecutor


@dataclass(frozen=True)
class Entry:
    """One tar member: a file (data), a directory, a symlink or hard link (link), or a device."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644


def tar_bytes(entries: list[Entry], compression: str = "gz") -> bytes:
    buffer = io.BytesIO()
    mode: Any = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = 0o755 if entry.kind == tarfile.DIRTYPE else entry.mode
            info.linkname = entry.link
            info.size = len(entry.data) if entry.kind == tarfile.REGTYPE else 0
            archive.addfile(info, io.BytesIO(entry.data) if entry.kind == tarfile.REGTYPE else None)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Served:
    """An HTTP server on 127.0.0.1 serving ``files`` by path and counting GETs per path."""

    files: dict[str, bytes] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    url: str = ""
    failures_left: int = 0  # answer this many requests 503 first (a download must be retried)


@pytest.fixture
def served() -> Iterator[Served]:
    state = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests[self.path] += 1
            if state.failures_left > 0:
                state.failures_left -= 1
                self.send_error(503)
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def mounts_root(tmp_path: Path) -> Path:
    return tmp_path / "mounts"


@pytest.fixture
def executor(mounts_root: Path) -> ShellExecutor:
    return ShellExecutor(mounts=MountManager(MountSettings(root=mounts_root)))


def shell_payload(*commands: str, **extra: object) -> dict[str, object]:
    return {"command": list(commands), "maxRunTime": 30, **extra}


def with_scopes(*scopes: str) -> Mapping[str, object]:
    return {"scopes": list(scopes)}
