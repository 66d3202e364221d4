"""The worker's end of worker-runner's protocol (tools/workerproto in taskcluster/taskcluster).

worker-runner starts the worker with its stdin and stdout as the protocol's pipes: one message per line,
``~`` then a JSON object with a string ``type`` (the other fields beside it); any other line is plain log
text for the runner. The runner sends ``welcome`` with its capabilities, the worker answers ``hello`` with
its own, and only capabilities both named may be used.

Nothing but protocol lines may reach the runner, so ``RunnerChannel.take_stdio`` moves the pipes to
private descriptors (close-on-exec, so no task inherits them) and points fd 1 at stderr and fd 0 at
/dev/null: whatever a task or a handler prints, even ``~{"type":"shutdown"}``, goes to stderr, which the
runner passes through as text, and no task can read the runner's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from tcw.errors import TcwError
from tcw.logs import record_extras, record_time

log = logging.getLogger(__name__)

GRACEFUL_TERMINATION = "graceful-termination"
NEW_CREDENTIALS = "new-credentials"
SHUTDOWN = "shutdown"
ERROR_REPORT = "error-report"
LOG = "log"
CAPABILITIES = (GRACEFUL_TERMINATION, NEW_CREDENTIALS, SHUTDOWN, ERROR_REPORT, LOG)
MAX_LINE = 1024 * 1024


class ProtocolError(TcwError):
    """The runner broke the protocol (no welcome, or its pipe closed before one)."""


def encode(message: Mapping[str, Any]) -> bytes:
    """One protocol line: ``~{...}\\n``; ``type`` must be a string."""
    if not isinstance(message.get("type"), str):
        raise ValueError("a protocol message needs a string type")
    return b"~" + json.dumps(dict(message), separators=(",", ":"), default=str).encode() + b"\n"


def decode(line: bytes | str) -> dict[str, Any] | None:
    """The message on a line, or None for a line that is plain text (as workerproto reads them: after
    trimming, ``~{`` ... ``}`` holding a JSON object whose ``type`` is a string)."""
    text = (line.decode("utf-8", "replace") if isinstance(line, bytes) else line).strip()
    if len(text) < 3 or not text.startswith("~{") or not text.endswith("}"):
        return None
    try:
        message = json.loads(text[1:])
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


class RunnerChannel:
    """Both pipes, the handshake, and sending only what was agreed on.

    ``send`` may be called from any thread (log records come from the executor's threads too); each
    line is written whole under a lock, so lines never interleave.
    """

    def __init__(self, input_fd: int, output_fd: int) -> None:
        self._input_fd = input_fd
        self._output_fd = output_fd
        self._lock = threading.Lock()
        self._buffer = b""
        self.agreed: frozenset[str] = frozenset()
        self.closed = False

    @classmethod
    def take_stdio(cls) -> RunnerChannel:
        """Take fds 0 and 1 for the protocol (see the module docstring)."""
        input_fd, output_fd = os.dup(0), os.dup(1)  # os.dup's copies are close-on-exec
        os.dup2(2, 1)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return cls(input_fd, output_fd)

    def capable(self, capability: str) -> bool:
        return capability in self.agreed

    def send(self, message_type: str, **fields: Any) -> bool:
        """Send a message if its capability was agreed on; False when it was not (or the pipe is gone)."""
        if message_type in CAPABILITIES and message_type not in self.agreed:
            return False  # each capability has one message of the same name
        return self._write(encode({"type": message_type, **fields}))

    def _write(self, line: bytes) -> bool:
        with self._lock:
            if self.closed:
                return False
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self._output_fd, view) :]
            except OSError:
                self.closed = True  # the runner went away; nothing more can reach it
                return False
        return True

    async def _lines(self) -> AsyncIterator[bytes]:
        """Lines from the runner as they come (readiness callbacks on the loop: no thread, no
        transport to close); what is left after the last newline waits for the next call."""
        loop = asyncio.get_running_loop()
        os.set_blocking(self._input_fd, False)
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[: newline + 1], self._buffer[newline + 1 :]
                yield line
                continue
            chunk = await self._read_chunk(loop)
            if not chunk:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    yield line
                return
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                self._buffer = b""  # no message of ours is this long: drop it rather than grow

    async def _read_chunk(self, loop: asyncio.AbstractEventLoop) -> bytes:
        """The next bytes of the pipe (b"" at its end)."""
        while True:
            try:
                return os.read(self._input_fd, 65536)
            except BlockingIOError:
                pass
            except OSError:
                return b""
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self._input_fd, _set_once, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self._input_fd)

    async def handshake(self, capabilities: Iterable[str] = CAPABILITIES) -> frozenset[str]:
        """Wait for ``welcome``, answer ``hello`` with ``capabilities``; returns what both support."""
        ours = list(capabilities)
        async for line in self._lines():
            message = decode(line)
            if message is None:
                log.debug("worker-runner said: %s", line.decode("utf-8", "replace").rstrip())
                continue
            if message["type"] != "welcome":
                log.debug("ignoring a %s message before the welcome", message["type"])
                continue
            theirs = message.get("capabilities")
            if not isinstance(theirs, list):
                raise ProtocolError("the welcome message has no list of capabilities")
            self.agreed = frozenset(ours) & frozenset(c for c in theirs if isinstance(c, str))
            self._write(encode({"type": "hello", "capabilities": ours}))
            return self.agreed
        raise ProtocolError("worker-runner closed the protocol before sending its welcome")

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """The runner's messages after the handshake, until it closes its end."""
        async for line in self._lines():
            message = decode(line)
            if message is None:
                log.debug("worker-runner said: %s", line.decode("utf-8", "replace").rstrip())
            else:
                yield message

    def close(self) -> None:
        with self._lock:
            if not self.closed:
                self.closed = True
                for fd in (self._input_fd, self._output_fd):
                    with contextlib.suppress(OSError):
                        os.close(fd)


def _set_once(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RunnerLogHandler(logging.Handler):
    """Log records as ``log`` messages, for the runner's log destination: ``body.textPayload`` is the
    line for unstructured sinks, the record's fields sit beside it."""

    def __init__(self, channel: RunnerChannel) -> None:
        super().__init__()
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            body: dict[str, Any] = {
                "textPayload": record.getMessage(),
                "time": record_time(record),
                "level": record.levelname.lower(),
                "logger": record.name,
                **{key: str(value) for key, value in record_extras(record).items()},
            }
            if record.exc_info:
                body["traceback"] = logging.Formatter().formatException(record.exc_info)
            self.channel.send(LOG, body=body)
        except Exception:  # a log call must never break the worker
            self.handleError(record)


def error_report(
    kind: str, title: str, description: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The fields of an ``error-report`` (all four required, ``extra`` an object); what it says is
    public in the pool's error list, so callers never put a secret in it."""
    return {"kind": kind, "title": title, "description": description, "extra": dict(extra or {})}
