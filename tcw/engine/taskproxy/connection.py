"""The task's side of the proxy: one ``TaskConnection`` per accepted connection, parsing HTTP/1.x with
httptools (llhttp, the parser Node.js uses) and answering each request through its ``Exchange``.

Why not aiohttp's server: a task's official sync client opens a connection per call, and aiohttp's
per-connection and per-request Python (a handler task, a request object, stream readers, a response
object) cost the proxy about as much CPU as the call itself. Here a request is a few callbacks on the
event loop's own stack: the connection parses, the handler forwards, the answer is written as it comes,
with no task, future or queue per request.

Keep-alive and pipelining: requests on one connection are answered in order; one parsed while an earlier
one is being answered waits (the connection stops reading meanwhile, so a client cannot queue up memory).
Bodies stream both ways with the transports' flow control: a task sending faster than the deployment
reads is paused, and so is the deployment's answer while the task reads slowly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

import httptools

log = logging.getLogger(__name__)

IDLE_SECONDS = 75.0  # a kept-alive task connection with no request for this long is closed (as aiohttp did)
_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS.update({410: "Gone", 502: "Bad Gateway", 303: "See Other"})

Headers = list[tuple[bytes, bytes]]
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body (both sides of the proxy frame bodies this way)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class BodySink(Protocol):
    """Where a request's body goes as it arrives (the upstream connection, or a collector)."""

    def body(self, data: bytes) -> None: ...
    def body_end(self) -> None: ...


class ExchangeWatcher(Protocol):
    """Who forwards an exchange: told when the task stops reading (to stop reading upstream too), starts
    again, or goes away mid-answer."""

    def task_paused(self) -> None: ...
    def task_resumed(self) -> None: ...
    def task_gone(self) -> None: ...


class Exchange:
    """One request on a task connection and its answer: the request's head, its body as it comes (to the
    ``BodySink`` the handler gives, buffered until then), and the methods writing the answer.

    Writes are gathered until ``flush`` (the upstream side flushes after each piece it reads), so an answer
    that arrived whole goes out with its head in one write: the task's client waits for both.
    """

    def __init__(self, connection: TaskConnection, method: str, raw_path: str, version: str) -> None:
        self.connection = connection
        self.method, self.raw_path, self.version = method, raw_path, version
        self.headers: Headers = []
        self.host: str | None = None
        self.keep_alive = False
        self.chunked = False
        self.content_length: int | None = None
        self.body_complete = False
        self.expects_continue = False  # the client waits for a 100 before it sends the body
        self.watcher: ExchangeWatcher | None = None
        self._sink: BodySink | None = None
        self._early: list[bytes] = []
        self._out: list[bytes] = []
        self._chunked_answer = False
        self.answer_started = False
        self.done = False

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    # -- the request's body

    def send_body_to(self, sink: BodySink) -> None:
        """From now on the body goes to ``sink``; what came already goes first."""
        self._sink = sink
        early, self._early = self._early, []
        for data in early:
            sink.body(data)
        if self.body_complete:
            sink.body_end()

    def discard_body(self) -> None:
        self._sink = _DISCARD
        self._early = []

    def _body(self, data: bytes) -> None:
        if self._sink is None:
            self._early.append(data)
        else:
            self._sink.body(data)

    def _body_end(self) -> None:
        self.body_complete = True
        if self._sink is not None:
            self._sink.body_end()

    def pause_body(self) -> None:
        """The request body's reader falls behind: stop reading the task's connection until resumed."""
        self.connection.pause_reading("body")

    def resume_body(self) -> None:
        self.connection.resume_reading("body")

    # -- the answer

    def answer_head(
        self, status: int, reason: bytes, headers: Iterable[tuple[bytes, bytes]], length: bool
    ) -> bool:
        """Start the answer; ``length``: the headers say where the body ends (Content-Length, or a body
        that is empty by rule). Returns whether the body must be sent chunked."""
        keep_alive = self.keep_alive and (length or self.version == "1.1")
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        lines += [b"%s: %s\r\n" % header for header in headers]
        if not length and self.version == "1.1":
            lines.append(b"Transfer-Encoding: chunked\r\n")
            self._chunked_answer = True
        if not keep_alive:
            lines.append(b"Connection: close\r\n")
            self.keep_alive = False
        elif self.version != "1.1":
            lines.append(b"Connection: keep-alive\r\n")
        lines.append(b"\r\n")
        self._out.append(b"".join(lines))
        self.answer_started = True
        return self._chunked_answer

    def interim(self, status: int, reason: bytes) -> None:
        """A 1xx answer (100 Continue) before the real one."""
        if self.version == "1.1":
            self._out.append(b"HTTP/1.1 %d %s\r\n\r\n" % (status, reason))

    def continue_body(self) -> None:
        """The proxy itself reads this body: tell a client waiting to send it to go on."""
        if self.expects_continue and not self.body_complete:
            self.interim(100, b"Continue")
            self.flush()

    def answer_body(self, data: bytes) -> None:
        if data:
            self._out.append(chunk(data) if self._chunked_answer else data)

    def answer_end(self) -> None:
        """The answer is complete: flushed, and the connection goes on with the next request (or closes)."""
        if self._chunked_answer:
            self._out.append(LAST_CHUNK)
        self.flush()
        self.done = True
        self.connection.exchange_done(self)

    def answer(self, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        """A whole answer of the proxy's own (a refusal, a bewit)."""
        heads = [*headers, (b"Content-Length", b"%d" % len(body))]
        self.answer_head(status, _REASONS.get(status, "").encode(), heads, length=True)
        if self.method != "HEAD":
            self.answer_body(body)
        self.answer_end()

    def answer_json(self, status: int, document: object, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        body = json.dumps(document).encode()
        self.answer(status, body, [*headers, (b"Content-Type", b"application/json; charset=utf-8")])

    def flush(self) -> None:
        if self._out:
            out, self._out = self._out, []
            self.connection.write(out[0] if len(out) == 1 else b"".join(out))

    def abort(self) -> None:
        """The answer cannot be finished (the deployment went away mid-answer): cut the connection, so the
        task's client sees a broken answer rather than a short one."""
        self.done = True
        self.connection.abort()


class _Discard:
    def body(self, data: bytes) -> None:
        pass

    def body_end(self) -> None:
        pass


_DISCARD = _Discard()

Handler = Callable[[Exchange], None]


class TaskConnection(asyncio.Protocol):
    """One connection from the task; requests go to ``handler`` one at a time, in order.

    ``on_close`` is told when it ends, so the proxy can close the ones still open when the run ends.
    """

    def __init__(self, handler: Handler, on_close: Callable[[TaskConnection], None]) -> None:
        self._handler = handler
        self._on_close = on_close
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.admission: object = None  # the proxy's verdict on this connection, once it has one
        self._parsing: Exchange | None = None
        self._url: list[bytes] = []
        self._active: Exchange | None = None
        self._waiting: deque[Exchange] = deque()
        self._paused: set[str] = set()
        self._idle: asyncio.TimerHandle | None = None
        self._closing = False
        self._eof = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._malformed("tcw task proxy: protocol upgrades are not proxied")
        except httptools.HttpParserError as error:
            self._malformed(f"tcw task proxy: malformed request: {error}")

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._parsing is not None:
            self.abort()  # gone in the middle of a request: it will never be whole
        elif self._active is None and not self._waiting:
            self.close()
        return True  # half-closed: answers in progress still go out

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._idle is not None:
            self._idle.cancel()
        active, self._active = self._active, None
        self._waiting.clear()
        if active is not None and not active.done and active.watcher is not None:
            active.watcher.task_gone()
        self._on_close(self)

    def pause_writing(self) -> None:
        if self._active is not None and self._active.watcher is not None:
            self._active.watcher.task_paused()

    def resume_writing(self) -> None:
        if self._active is not None and self._active.watcher is not None:
            self._active.watcher.task_resumed()

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        self._url = []
        self._parsing = Exchange(self, "", "", "")

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._parsing is not None
        self._parsing.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        exchange = self._parsing
        assert exchange is not None
        exchange.method = parser.get_method().decode("ascii", "replace")
        exchange.raw_path = b"".join(self._url).decode("latin-1")
        exchange.version = parser.get_http_version()
        exchange.keep_alive = parser.should_keep_alive()
        for name, value in exchange.headers:
            lowered = name.lower()
            if lowered == b"host":
                exchange.host = value.decode("latin-1")
            elif lowered == b"content-length" and value.isdigit():
                exchange.content_length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                exchange.chunked = True
            elif lowered == b"expect" and value.lower() == b"100-continue":
                exchange.expects_continue = True
        if parser.should_upgrade():
            return  # feed_data raises HttpParserUpgrade: answered as malformed
        if self._active is None:
            self._start(exchange)
        else:
            self._waiting.append(exchange)
            self.pause_reading("pipelined")

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing._body(body)

    def on_message_complete(self) -> None:
        exchange, self._parsing = self._parsing, None
        if exchange is not None:
            exchange._body_end()

    # -- for exchanges

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self._closing:
            self.transport.write(data)

    def abort(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.close()

    def pause_reading(self, why: str) -> None:
        if not self._paused and self.transport is not None and not self._closing:
            self.transport.pause_reading()
        self._paused.add(why)

    def resume_reading(self, why: str) -> None:
        if why in self._paused:
            self._paused.discard(why)
            if not self._paused and self.transport is not None and not self._closing:
                self.transport.resume_reading()

    def exchange_done(self, exchange: Exchange) -> None:
        """``exchange`` was answered: the next request's turn, or the end of the connection."""
        if exchange is not self._active:
            return
        self._active = None
        self.resume_reading("body")
        if not exchange.keep_alive or self._closing or (self._eof and not self._waiting):
            self.close()
            return
        if not exchange.body_complete:
            exchange.discard_body()  # answered early: the rest of the body is read and dropped
        if self._waiting:
            following = self._waiting.popleft()
            if not self._waiting:
                self.resume_reading("pipelined")
            self._start(following)
        elif self._parsing is None:
            self._idle = asyncio.get_running_loop().call_later(IDLE_SECONDS, self.close)

    # -- inside

    def _start(self, exchange: Exchange) -> None:
        self._active = exchange
        try:
            self._handler(exchange)
        except Exception:
            log.exception("task proxy: a request failed inside the proxy")
            if exchange.answer_started:
                exchange.abort()
            else:
                exchange.discard_body()
                exchange.answer_json(502, {"code": "ProxyError", "message": "tcw task proxy: internal error"})

    def _malformed(self, message: str) -> None:
        """A request the parser refused: answered 400 (unless an answer is under way) and closed, since
        nothing after it on this connection can be trusted to be where a request starts."""
        self._waiting.clear()
        if self._active is not None and self._active is self._parsing:
            self.abort()  # its own body is broken: so is what went on to the deployment
        elif self._active is None and self.transport is not None and not self._closing:
            body = json.dumps({"code": "BadRequest", "message": message}).encode()
            self.transport.write(
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
            )
            self.close()
        elif self._active is not None:
            self._active.keep_alive = False  # the answer under way finishes, then the connection closes
            self._parsing = None
            self.pause_reading("malformed")
