"""How many connections the local deployment keeps, and for how long one may sit without a request.

A client that opens connections and sends nothing, or half a request head, holds a file descriptor each;
300 of them once exhausted the queue's descriptors and locked every client out. ``ConnectionGuard`` keeps
the queue serving under that: a connection with no request in progress is closed once it has been quiet
for ``idle_timeout`` seconds (whether it never finished a request head or sits between keep-alive
requests), and at ``max_connections`` a new connection pushes out the oldest one with no request in
progress (a long-poll claimWork or an upload in progress is never pushed out; if every connection is busy,
the newcomer is closed). The limit is also kept under the process's descriptor limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

DESCRIPTORS_KEPT_FREE = 64  # for the database, uploads, logs and the event loop itself
# asyncio accepts up to this many connections at once before any of them is admitted, so the limit leaves
# room for one such burst; it is also the listening socket's backlog.
ACCEPT_BACKLOG = 128
SWEEP_INTERVAL = 0.5


def connection_limit(wanted: int) -> int:
    """``wanted``, or fewer when the descriptor limit would not hold that many connections."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - DESCRIPTORS_KEPT_FREE - ACCEPT_BACKLOG))


def raise_descriptor_limit() -> None:
    """Lift the soft descriptor limit to the hard one (for the foreground server, which owns the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class _Connection:
    quiet_since: float
    busy: int = 0


@dataclass
class ConnectionGuard:
    """Idle timeout and connection limit for one aiohttp server: ``middleware`` marks connections busy
    while a request is handled, ``site`` accepts through ``admit``, ``sweep_forever`` closes quiet ones."""

    max_connections: int
    idle_timeout: float
    _connections: dict[RequestHandler, _Connection] = field(default_factory=dict)

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def admit(self, handler: RequestHandler) -> None:
        """Called for each new connection: make room for it, or close it when every one is busy."""
        if len(self._connections) >= self.max_connections:
            quiet = [h for h, c in self._connections.items() if not c.busy]
            if not quiet:
                log.warning("local queue: %d connections, all busy: refusing another", self.max_connections)
                _close(handler)
                return
            self._connections.pop(quiet[0])
            _close(quiet[0])
        self._connections[handler] = _Connection(time.monotonic())

    def forget(self, handler: RequestHandler) -> None:
        self._connections.pop(handler, None)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        connection = self._connections.get(request.protocol)
        if connection is not None:
            connection.busy += 1
        try:
            return await handler(request)
        finally:
            if connection is not None:
                connection.busy -= 1
                connection.quiet_since = time.monotonic()

    def sweep(self) -> None:
        """Close every connection quiet for longer than the idle timeout."""
        cutoff = time.monotonic() - self.idle_timeout
        for handler, connection in list(self._connections.items()):
            if not connection.busy and connection.quiet_since < cutoff:
                self._connections.pop(handler)
                _close(handler)

    async def sweep_forever(self) -> None:
        while True:
            self.sweep()
            await asyncio.sleep(min(SWEEP_INTERVAL, self.idle_timeout / 2))


def _close(handler: RequestHandler) -> None:
    handler.force_close()
    if handler.transport is not None:
        handler.transport.close()


class _Tracked(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the guard told when it opens and closes."""

    def __init__(self, handler: RequestHandler, guard: ConnectionGuard) -> None:
        self._handler = handler
        self._guard = guard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._handler.connection_made(transport)
        self._guard.admit(self._handler)

    def data_received(self, data: bytes) -> None:
        self._handler.data_received(data)

    def eof_received(self) -> None:
        self._handler.eof_received()

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard.forget(self._handler)
        self._handler.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """A site on an already listening socket whose every accepted connection goes through the guard."""

    def __init__(self, runner: web.BaseRunner, listener: socket.socket, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._listener = listener
        self._guard = guard

    @property
    def name(self) -> str:
        return "local queue"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Tracked(server(), guard),
            sock=self._listener,
            backlog=ACCEPT_BACKLOG,
        )
