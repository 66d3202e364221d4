"""``TaskProxy``: one run's taskcluster-proxy, on 127.0.0.1 at a port of the OS's choosing.

Routes as taskcluster-proxy serves them: ``/api/<service>/<version>/<path>`` (so an official client given
the proxy as its root URL works unchanged), the legacy ``/<service>/<version>/<path>``, and ``POST /bewit``
(a 303 to the URL in the body, signed for an hour). ``PUT /credentials`` is not served: the engine gives the
proxy the run's credentials itself, and each request is signed with whatever ``credentials()`` answers at
that moment, so after a reclaim every later request carries the new ones while one in flight completes with
the old. Unlike taskcluster-proxy, a dotted first segment (``/example.com/...``) is not forwarded to that
host: this proxy signs for its own deployment only.

Bodies stream both ways (nothing is buffered, so a request that reached the deployment is not retried
here: the caller's client retries a 5xx it sees, as it would without the proxy; see upstream.py for the
one resend); status, headers (content type and encoding, redirects, ``x-taskcluster-*``) pass unchanged,
except the hop-by-hop ones and ``Authorization``, which the proxy replaces. It adds taskcluster-proxy's
headers (``X-Taskcluster-Proxy-Temp-ClientId``...).

The HTTP is the proxy's own few callbacks over httptools (connection.py for the task's side, upstream.py
for the deployment's), not aiohttp's server and client: each of a task's calls (the official sync client
connects anew for each) cost aiohttp's Python about as much CPU as the call itself, which held proxied
throughput under 80% of direct. This module decides what happens to a request; those two move its bytes.

One proxy per run, not one per worker routing by a per-run secret: the URL stays the bare
``http://127.0.0.1:PORT`` generic-worker gives (tools key on it, and a secret in its path would end up in
public task logs), a proxy holds exactly one run's credentials so no routing mistake can sign for another
run, it ends with its run, and a listening socket per run costs next to nothing.

Refused, each with a JSON ``{code, message}`` body: a connection from a user not allowed (where the OS
tells, see peers.py), a ``Host`` that is not this proxy's address (a web page's DNS-rebinding trick), and
every request once ``end`` was called (410: the run is over).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tcw.engine.taskproxy import peers
from tcw.engine.taskproxy.connection import Exchange, TaskConnection
from tcw.engine.taskproxy.signing import RunSigner
from tcw.engine.taskproxy.upstream import Upstream

log = logging.getLogger(__name__)

BEWIT_SECONDS = 3600
BEWIT_BODY = 1 << 20  # a URL to sign: more is not one
_API_PATH = re.compile(r"^/api/([^/]+)/([^/]+)/(.*)$", re.DOTALL)
_LEGACY_PATH = re.compile(r"^/([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/([^/]+)(?:/(.*))?$", re.DOTALL)

Credentials = Callable[[], Mapping[str, str]]


class ProxyRefusal(Exception):
    """A request the proxy answers itself, with a status and a ``{code, message}`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def answer(self, exchange: Exchange) -> None:
        exchange.discard_body()
        exchange.answer_json(self.status, {"code": self.code, "message": self.message})


class TaskProxy:
    """The proxy of one run; ``await start()``, hand out ``url``, ``end()`` when the run is over, then
    ``await close()``.

    ``credentials`` answers the run's current temporary credentials; ``authorized_scopes`` is what every
    request is restricted to. ``allowed_uids``: the users whose processes may connect (default: this
    process's user); root is not let in unless named.
    """

    def __init__(
        self,
        *,
        root_url: str,
        credentials: Credentials,
        authorized_scopes: Sequence[str],
        name: str = "",
        allowed_uids: frozenset[int] | None = None,
    ) -> None:
        self.root_url = root_url.rstrip("/")
        self.name = name  # e.g. taskId/runId, for messages
        self._credentials = credentials
        self._authorized_scopes = tuple(authorized_scopes)
        self._allowed_uids = frozenset({os.geteuid()}) if allowed_uids is None else allowed_uids
        self._signer: tuple[Mapping[str, str], RunSigner, list[tuple[bytes, bytes]]] | None = None
        self._peers = peers.PeerLookup()
        self._ended: str | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[TaskConnection] = set()
        self._upstream = Upstream(self.root_url, self._unreachable)
        parts = urlsplit(self.root_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self.url = ""
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._hosts: tuple[str, ...] = ()

    # -- lifecycle

    async def start(self) -> str:
        """Listen on 127.0.0.1 at a port the OS chooses; returns the proxy URL."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if hasattr(socket, "TCP_DEFER_ACCEPT"):  # wake once per call, when the request is there
                listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            listener.setblocking(False)
            host, port = listener.getsockname()[:2]
            self._address = (host, port)
            self._hosts = (f"127.0.0.1:{port}", f"localhost:{port}")
            self._server = await asyncio.get_running_loop().create_server(self._connection, sock=listener)
        except BaseException:
            listener.close()
            await self.close()
            raise
        self.url = f"http://{host}:{port}"
        return self.url

    def end(self, why: str = "the run is over") -> None:
        """From now on every request is refused (410) with ``why``; requests in flight complete."""
        if self._ended is None:
            self._ended = why

    @property
    def ended(self) -> bool:
        return self._ended is not None

    async def close(self) -> None:
        self.end()
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.abort()
        await self._upstream.close()
        if server is not None:
            await server.wait_closed()
        self._peers.close()

    def _connection(self) -> TaskConnection:
        connection = TaskConnection(self._handle, self._connections.discard)
        self._connections.add(connection)
        return connection

    # -- one request

    def _handle(self, exchange: Exchange) -> None:
        try:
            self._admit(exchange)
            path = exchange.raw_path.partition("?")[0]
            if path == "/bewit" or path.startswith("/bewit/"):
                self._bewit(exchange)
            else:
                self._forward(exchange, self._target(exchange.raw_path))
        except ProxyRefusal as refusal:
            refusal.answer(exchange)

    def _admit(self, exchange: Exchange) -> None:
        if self._ended is not None:
            raise ProxyRefusal(
                410, "TaskRunEnded", f"tcw task proxy for {self.name or 'this run'}: {self._ended}"
            )
        if exchange.host not in self._hosts:
            raise ProxyRefusal(
                403, "ProxyForbidden", f"tcw task proxy: Host {exchange.host!r} is not this proxy"
            )
        connection = exchange.connection
        if connection.admission is None:
            transport = connection.transport
            peer = transport.get_extra_info("peername") if transport is not None else None
            connection.admission = self._check_peer(peer) or _ADMITTED
        if isinstance(connection.admission, ProxyRefusal):
            raise connection.admission

    def _check_peer(self, peer: Any) -> ProxyRefusal | None:
        """Once per connection: None to let it in, else the refusal for all its requests."""
        if not isinstance(peer, tuple) or len(peer) < 2:
            return ProxyRefusal(403, "ProxyForbidden", "tcw task proxy: not a TCP connection")
        uid = self._peers.uid((peer[0], peer[1]), self._address)
        if uid == peers.UNKNOWN or uid in self._allowed_uids:
            return None
        who = "a process this system cannot name" if uid == peers.NOT_FOUND else f"uid {uid}"
        log.warning("task proxy %s refused a connection from %s", self.name, who)
        return ProxyRefusal(403, "ProxyForbidden", f"tcw task proxy: connections from {who} are not allowed")

    def _target(self, raw_path: str) -> str:
        """The deployment URL a proxy path stands for (still percent-encoded, query kept)."""
        path, mark, query = raw_path.partition("?")
        suffix = f"?{query}" if mark else ""
        found = _API_PATH.match(path) or _LEGACY_PATH.match(path)
        if found is None:
            raise ProxyRefusal(
                404,
                "ResourceNotFound",
                f"tcw task proxy: {path!r} is not /api/<service>/<version>/... or /<service>/<version>/...",
            )
        service, version, rest = found.group(1), found.group(2), found.group(3) or ""
        return f"{self.root_url}/api/{service}/{version}/{rest}{suffix}"

    def _signer_now(self) -> tuple[RunSigner, list[tuple[bytes, bytes]]]:
        """The signer for the credentials ``credentials()`` answers now (remade when they change), and
        the headers every answer signed by it carries."""
        credentials = self._credentials()
        cached = self._signer
        if cached is None or cached[0] is not credentials:
            signer = RunSigner.for_credentials(credentials, self._authorized_scopes)
            headers = [(name.encode(), value.encode()) for name, value in signer.headers.items()]
            cached = self._signer = (credentials, signer, headers)
        return cached[1], cached[2]

    def _bewit(self, exchange: Exchange) -> None:
        if exchange.method != "POST":
            raise ProxyRefusal(405, "MethodNotAllowed", "tcw task proxy: POST the URL to sign to /bewit")
        exchange.send_body_to(_Collected(exchange, self._answer_bewit))
        exchange.continue_body()

    def _answer_bewit(self, exchange: Exchange, body: bytes) -> None:
        try:
            url = body.decode("utf-8", "replace").strip()
            if not url.startswith(self.root_url + "/"):
                raise ProxyRefusal(
                    400, "InputError", f"tcw task proxy: only URLs of {self.root_url} are signed, not {url!r}"
                )
            signer, headers = self._signer_now()
            signed = signer.signed_url(url, BEWIT_SECONDS)
        except ProxyRefusal as refusal:
            refusal.answer(exchange)
            return
        location = [(b"Location", signed.encode()), (b"Content-Type", b"text/plain; charset=utf-8")]
        exchange.answer(303, signed.encode(), [*headers, *location])

    def _forward(self, exchange: Exchange, target: str) -> None:
        signer, headers = self._signer_now()
        authorization = signer.authorization(exchange.method, target)
        head = self._upstream.request_head(
            exchange.method, target[len(self._origin) :], exchange.headers, authorization
        )
        answer_headers = [*headers, (b"X-Taskcluster-Endpoint", target.encode("latin-1"))]
        self._upstream.forward(exchange, head, answer_headers, _PROXY_HEADERS)

    def _unreachable(self, exchange: Exchange, why: str) -> None:
        target = self._target(exchange.raw_path)
        message = f"tcw task proxy: {exchange.method} {target} failed: {why}"
        ProxyRefusal(502, "ProxyUpstreamError", message).answer(exchange)


_ADMITTED = object()  # a connection's admission once its peer was let in
_PROXY_HEADERS = frozenset(
    {
        b"x-taskcluster-proxy-temp-clientid",
        b"x-taskcluster-proxy-temp-scopes",
        b"x-taskcluster-proxy-perm-clientid",
        b"x-taskcluster-authorized-scopes",
        b"x-taskcluster-endpoint",
    }
)


class _Collected:
    """A small body read whole (the URL posted to /bewit), then handed to ``then``."""

    def __init__(self, exchange: Exchange, then: Callable[[Exchange, bytes], None]) -> None:
        self._exchange, self._then = exchange, then
        self._parts: list[bytes] = []
        self._size = 0

    def body(self, data: bytes) -> None:
        self._size += len(data)
        if self._size <= BEWIT_BODY:
            self._parts.append(data)

    def body_end(self) -> None:
        if self._size > BEWIT_BODY:
            ProxyRefusal(400, "InputError", "tcw task proxy: that is too long for a URL").answer(
                self._exchange
            )
        else:
            self._then(self._exchange, b"".join(self._parts))
