"""The deployment's side of the proxy: kept-alive connections to its root URL, each carrying one
forwarded request at a time, answers parsed with httptools and relayed to the task as they come.

Why not aiohttp's client: per forwarded request it builds a request and a response object, a timer
context, stream readers and a task-side await chain, which cost the proxy more CPU than the rest of a
call. The request is already signed when it gets here (signing.py, the official client's Hawk); this module
only moves bytes: the head, the body as the task sends it (chunked when the task sent it chunked), and the
answer, unchanged but for hop-by-hop headers.

A connection goes back to the pool only after a complete answer to a completely sent request. One that
the deployment closed while idle is found out on reuse: a bodiless request of an idempotent method that got
no byte of answer on a reused connection is sent once more on a new one (as aiohttp's client does: sending
it again cannot do anything twice); any other failure before the answer is a 502 for the task's own client
to retry, after it the task's connection is cut, as the deployment cut the proxy's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from tcw.engine.taskproxy.connection import LAST_CHUNK, Exchange, Headers, chunk

log = logging.getLogger(__name__)

CONNECT_SECONDS = 30.0
READ_SECONDS = 300.0  # no byte of answer for this long: the deployment is taken as gone
IDLE_SECONDS = 15.0  # a pooled connection idle longer is not reused (the deployment may have closed it)
BUFFERED_BODY = 1 << 20  # while connecting, at most this much of a request body is held before pausing
NO_BODY_STATUSES = frozenset({204, 304})
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

# Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
NOT_RETURNED = HOP_BY_HOP
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"authorization"}

Failure = Callable[[Exchange, str], None]


class Upstream:
    """The pool of connections to one deployment; ``forward`` sends an exchange's request over one."""

    def __init__(self, root_url: str, on_failure: Failure) -> None:
        parts = urlsplit(root_url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.secure else 80)
        self.host_header = parts.netloc.encode("idna")
        self.on_failure = on_failure  # answers the task when the deployment could not be reached
        self._idle: list[tuple[float, UpstreamConnection]] = []
        self._open: set[UpstreamConnection] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    def forward(
        self, exchange: Exchange, head: bytes, answer_headers: Headers, replaced: frozenset[bytes]
    ) -> None:
        """Send ``head`` (request line and headers, ready to go) and then the exchange's body; the answer
        goes to the exchange with ``answer_headers`` added (``replaced``: their lower-case names, which
        the deployment's answer does not get to set)."""
        forwarding = Forwarding(self, exchange, head, answer_headers, replaced)
        exchange.watcher = forwarding
        connection = self._take_idle()
        if connection is None:
            forwarding.connect()
        else:
            forwarding.send_on(connection, reused=True)

    def request_head(self, method: str, path: str, headers: Headers, authorization: str) -> bytes:
        """The request line and headers to send for the task's request: its headers as it sent them but
        for the hop-by-hop ones, ``Host`` and ``Authorization``, which are the proxy's."""
        lines = [
            b"%s %s HTTP/1.1\r\nHost: %s\r\n"
            % (method.encode("ascii"), path.encode("latin-1"), self.host_header)
        ]
        chunked = False
        for name, value in headers:
            lowered = name.lower()
            if lowered in NOT_FORWARDED:
                chunked = chunked or (lowered == b"transfer-encoding" and b"chunked" in value.lower())
                continue
            lines.append(b"%s: %s\r\n" % (name, value))
        if chunked:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        lines.append(b"Authorization: %s\r\n\r\n" % authorization.encode("latin-1"))
        return b"".join(lines)

    def _take_idle(self) -> UpstreamConnection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            since, connection = self._idle.pop()
            if now - since < IDLE_SECONDS and connection.usable():
                return connection
            connection.close()
        return None

    def give_back(self, connection: UpstreamConnection) -> None:
        self._idle.append((asyncio.get_running_loop().time(), connection))

    def forget(self, connection: UpstreamConnection) -> None:
        self._open.discard(connection)
        self._idle = [(since, kept) for since, kept in self._idle if kept is not connection]

    async def connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(CONNECT_SECONDS):
            _, connection = await loop.create_connection(
                lambda: UpstreamConnection(self),
                self.host,
                self.port,
                ssl=_tls_context() if self.secure else None,
                server_hostname=self.host if self.secure else None,
            )
        self._open.add(connection)
        return connection

    def track(self, task: asyncio.Task[None]) -> None:
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def close(self) -> None:
        for task in list(self._connecting):
            task.cancel()
        for connection in list(self._open):
            connection.close()
        self._idle = []
        await asyncio.sleep(0)  # let the transports' close callbacks run


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One for all proxies of the process: loading the system's CA certificates takes milliseconds."""
    return ssl.create_default_context()


class Forwarding:
    """One exchange forwarded: the request's body into an upstream connection, its answer back."""

    def __init__(
        self, upstream: Upstream, exchange: Exchange, head: bytes, extra: Headers, replaced: frozenset[bytes]
    ) -> None:
        self.upstream, self.exchange = upstream, exchange
        self._head = head
        self._extra, self._replaced = extra, replaced
        self._connection: UpstreamConnection | None = None
        self._held: list[bytes] = []
        self._held_size = 0
        self._sent_whole = False
        self._answered = False  # the first byte of an answer arrived
        self._connect: asyncio.Task[None] | None = None
        self._reused = False
        self._body_attached = False
        self._chunked = exchange.chunked
        self.head_only = exchange.method == "HEAD"

    # -- sending

    def connect(self) -> None:
        self._attach_body()  # held until connected
        self._connect = asyncio.get_running_loop().create_task(self._connect_and_send())
        self.upstream.track(self._connect)

    async def _connect_and_send(self) -> None:
        try:
            connection = await self.upstream.connect()
        except (OSError, TimeoutError) as error:
            self._fail(f"{error}" or type(error).__name__)
            return
        if self.exchange.done:
            connection.close()
            return
        self.send_on(connection, reused=False)

    def send_on(self, connection: UpstreamConnection, *, reused: bool) -> None:
        self._connection = connection
        self._reused = reused
        connection.start(self)
        held, self._held, self._held_size = self._held, [], 0
        connection.write(b"".join([self._head, *held]) if held else self._head)
        self.exchange.resume_body()
        self._attach_body()

    def _attach_body(self) -> None:
        """The exchange's body comes here from now on (once: what it sent already is not sent twice)."""
        if not self._body_attached:
            self._body_attached = True
            self.exchange.send_body_to(self)

    def body(self, data: bytes) -> None:
        framed = chunk(data) if self._chunked else data
        if self._connection is not None:
            self._connection.write(framed)
            return
        self._held.append(framed)
        self._held_size += len(framed)
        if self._held_size > BUFFERED_BODY:
            self.exchange.pause_body()

    def body_end(self) -> None:
        if self._chunked:
            if self._connection is not None:
                self._connection.write(LAST_CHUNK)
            else:
                self._held.append(LAST_CHUNK)
        self._sent_whole = True

    # -- the answer (from UpstreamConnection)

    def answered(self) -> None:
        self._answered = True

    def answer_head(self, status: int, reason: bytes, headers: Headers) -> bool:
        """Relay the answer's head; returns whether its body is to be read (not after HEAD, 204, 304)."""
        replaced = self._replaced
        kept: Headers = []
        length = self.head_only or status in NO_BODY_STATUSES
        for name, value in headers:
            lowered = name.lower()
            if lowered in NOT_RETURNED or lowered in replaced:
                continue
            if lowered == b"content-length":
                length = True
            kept.append((name, value))
        kept += self._extra
        self.exchange.answer_head(status, reason, kept, length)
        return not (self.head_only or status in NO_BODY_STATUSES)

    @property
    def sent_whole(self) -> bool:
        """The request went out complete (so its connection may carry another one)."""
        return self._sent_whole

    def upstream_lost(self, why: str) -> None:
        """The connection went away before the answer was complete."""
        exchange = self.exchange
        if exchange.done:
            return
        if not self._answered and self._reused and not exchange.has_body and exchange.method in IDEMPOTENT:
            self._connection = None
            self.connect()  # the deployment had closed the idle connection: once more, on a new one
            return
        if exchange.answer_started:
            exchange.abort()
        else:
            self._fail(why)

    def _fail(self, why: str) -> None:
        if not self.exchange.done:
            self.exchange.discard_body()
            self.upstream.on_failure(self.exchange, why)

    # -- ExchangeWatcher: the task's side

    def task_paused(self) -> None:
        if self._connection is not None:
            self._connection.pause_reading()

    def task_resumed(self) -> None:
        if self._connection is not None:
            self._connection.resume_reading()

    def task_gone(self) -> None:
        if self._connect is not None:
            self._connect.cancel()
        if self._connection is not None:
            self._connection.abort()


class UpstreamConnection(asyncio.Protocol):
    """One kept-alive connection to the deployment, carrying one ``Forwarding`` at a time."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._parser: httptools.HttpResponseParser | None = None
        self.transport: asyncio.Transport | None = None
        self._forwarding: Forwarding | None = None
        self._reason = b""
        self._headers: Headers = []
        self._reading_body = False
        self._until_close = False  # the answer's body ends where the connection does (no length, not chunked)
        self._timer: asyncio.TimerHandle | None = None
        self._last_read = 0.0
        self._lost = False
        self._paused = False  # not reading: the task reads the answer more slowly than it comes

    def usable(self) -> bool:
        return not self._lost and self.transport is not None and not self.transport.is_closing()

    def start(self, forwarding: Forwarding) -> None:
        if self._paused:
            self.resume_reading()  # the last answer ended while its task was reading slowly
        self._forwarding = forwarding
        self._parser = httptools.HttpResponseParser(self)  # fresh per answer: no state left from a HEAD's
        loop = asyncio.get_running_loop()
        self._last_read = loop.time()
        self._timer = loop.call_at(self._last_read + READ_SECONDS, self._check_read)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._lost:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self._lost and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self._lost and self._paused:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self._lost = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self._lost = True
        self._forwarding = None
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        forwarding = self._forwarding
        if forwarding is None or self._parser is None:
            self.close()  # nothing was asked: a deployment talking out of turn is not reused
            return
        forwarding.answered()
        self._last_read = asyncio.get_running_loop().time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._finish(reuse=False)
            self.close()
            if not forwarding.exchange.done:
                forwarding.upstream_lost(f"malformed answer: {error}")
            return
        forwarding.exchange.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._upstream.forget(self)
        if self._reading_body and self._until_close and exc is None:
            self._complete()  # llhttp cannot be told the connection ended: this is that answer's end
        forwarding = self._forwarding
        self._finish(reuse=False)
        if forwarding is not None:
            forwarding.upstream_lost(str(exc) if exc else "the deployment closed the connection")

    def pause_writing(self) -> None:
        if self._forwarding is not None:
            self._forwarding.exchange.pause_body()

    def resume_writing(self) -> None:
        if self._forwarding is not None:
            self._forwarding.exchange.resume_body()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._reason = b""
        self._headers = []
        self._reading_body = False

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        forwarding = self._forwarding
        assert forwarding is not None and self._parser is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            if status != 101:
                forwarding.exchange.interim(status, self._reason)
            return
        self._reading_body = forwarding.answer_head(status, self._reason, self._headers)
        self._until_close = not any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )
        if not self._reading_body:
            self._complete()  # no body by rule; llhttp would wait for a HEAD answer's Content-Length

    def on_body(self, body: bytes) -> None:
        if self._reading_body and self._forwarding is not None:
            self._forwarding.exchange.answer_body(body)

    def on_message_complete(self) -> None:
        if self._reading_body:
            self._complete()

    # -- inside

    def _complete(self) -> None:
        forwarding = self._forwarding
        assert forwarding is not None and self._parser is not None
        reuse = forwarding.sent_whole and self._parser.should_keep_alive()
        self._reading_body = False
        self._finish(reuse=reuse)  # back in the pool first: a pipelined next request can take it
        forwarding.exchange.answer_end()

    def _finish(self, *, reuse: bool) -> None:
        self._forwarding = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if reuse and not self._lost:
            self._upstream.give_back(self)
        elif not self._lost:
            self.close()

    def _check_read(self) -> None:
        loop = asyncio.get_running_loop()
        waited = loop.time() - self._last_read
        if waited < READ_SECONDS:
            self._timer = loop.call_at(self._last_read + READ_SECONDS, self._check_read)
            return
        forwarding = self._forwarding
        self._timer = None
        self.abort()
        if forwarding is not None:
            forwarding.upstream_lost(f"no answer for {READ_SECONDS:.0f} s")
