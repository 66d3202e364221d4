"""``TaskProxy``: one run's taskcluster-proxy, on 127.0.0.1 at a port of the OS's choosing.

Routes as taskcluster-proxy serves them: ``/api/<service>/<version>/<path>`` (so an official client given
the proxy as its root URL works unchanged), the legacy ``/<service>/<version>/<path>``, and ``POST /bewit``
(a 303 to the URL in the body, signed for an hour). ``PUT /credentials`` is not served: the engine gives the
proxy the run's credentials itself, and each request is signed with whatever ``credentials()`` answers at
that moment, so after a reclaim every later request carries the new ones while one in flight completes with
the old. Unlike taskcluster-proxy, a dotted first segment (``/example.com/...``) is not forwarded to that
host: this proxy signs for its own deployment only.

Bodies stream both ways (nothing is buffered, so nothing is retried here: the caller's client retries a 5xx
it sees, as it would without the proxy); status, headers (content type and encoding, redirects,
``x-taskcluster-*``) pass unchanged, except the hop-by-hop ones and ``Authorization``, which the proxy
replaces. It adds taskcluster-proxy's headers (``X-Taskcluster-Proxy-Temp-ClientId``...).

One proxy per run, not one per worker routing by a per-run secret: the URL stays the bare
``http://127.0.0.1:PORT`` generic-worker gives (tools key on it, and a secret in its path would end up in
public task logs), a proxy holds exactly one run's credentials so no routing mistake can sign for another
run, it ends with its run, and a listening socket per run costs next to nothing.

Refused, each with a JSON ``{code, message}`` body: a connection from a user not allowed (where the OS
tells, see peers.py), a ``Host`` that is not this proxy's address (a web page's DNS-rebinding trick), and
every request once ``end`` was called (410: the run is over).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from tcw.engine.taskproxy import peers
from tcw.engine.taskproxy.signing import RunSigner

log = logging.getLogger(__name__)

BEWIT_SECONDS = 3600
# Headers that belong to one connection, not to the request (RFC 9110 7.6.1), and what the proxy sets.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
NOT_FORWARDED = HOP_BY_HOP | {"host", "authorization"}
NOT_RETURNED = HOP_BY_HOP | {"content-length"}
# aiohttp's client adds these unless told not to; a task's request goes out with the headers it had.
AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_API_PATH = re.compile(r"^/api/([^/]+)/([^/]+)/(.*)$", re.DOTALL)
_LEGACY_PATH = re.compile(r"^/([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)/([^/]+)(?:/(.*))?$", re.DOTALL)
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)

Credentials = Callable[[], Mapping[str, str]]


class ProxyRefusal(Exception):
    """A request the proxy answers itself, with a status and a ``{code, message}`` body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        body = json.dumps({"code": self.code, "message": self.message})
        return web.Response(status=self.status, text=body, content_type="application/json")


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
        self._signer: tuple[Mapping[str, str], RunSigner] | None = None
        self._admitted: weakref.WeakKeyDictionary[Any, ProxyRefusal | None] = weakref.WeakKeyDictionary()
        self._peers = peers.PeerLookup()
        self._ended: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None
        self.url = ""
        self._address: tuple[str, int] = ("127.0.0.1", 0)

    # -- lifecycle

    async def start(self) -> str:
        """Listen on 127.0.0.1 at a port the OS chooses; returns the proxy URL."""
        self._session = aiohttp.ClientSession(
            timeout=UPSTREAM_TIMEOUT,
            auto_decompress=False,  # content encodings pass through as they came
            cookie_jar=aiohttp.DummyCookieJar(),  # a cookie one answer sets must not ride on the next request
            connector=aiohttp.TCPConnector(limit=0),
        )
        self._runner = web.ServerRunner(web.Server(self._handle), access_log=None, handle_signals=False)
        await self._runner.setup()
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
            await web.SockSite(self._runner, listener).start()
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._peers.close()

    # -- one request

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        try:
            self._admit(request)
            path = request.raw_path.partition("?")[0]
            if path == "/bewit" or path.startswith("/bewit/"):
                return await self._bewit(request)
            return await self._forward(request, self._target(request.raw_path))
        except ProxyRefusal as refusal:
            return refusal.response()

    def _admit(self, request: web.BaseRequest) -> None:
        if self._ended is not None:
            raise ProxyRefusal(
                410, "TaskRunEnded", f"tcw task proxy for {self.name or 'this run'}: {self._ended}"
            )
        if request.host not in (f"127.0.0.1:{self._address[1]}", f"localhost:{self._address[1]}"):
            raise ProxyRefusal(
                403, "ProxyForbidden", f"tcw task proxy: Host {request.host!r} is not this proxy"
            )
        transport = request.transport
        if transport is None:
            raise ProxyRefusal(403, "ProxyForbidden", "tcw task proxy: the connection is gone")
        if transport not in self._admitted:
            self._admitted[transport] = self._check_peer(transport.get_extra_info("peername"))
        refusal = self._admitted[transport]
        if refusal is not None:
            raise refusal

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

    def _signer_now(self) -> RunSigner:
        """The signer for the credentials ``credentials()`` answers now, remade when they change."""
        credentials = self._credentials()
        cached = self._signer
        if cached is None or cached[0] is not credentials:
            cached = (credentials, RunSigner.for_credentials(credentials, self._authorized_scopes))
            self._signer = cached
        return cached[1]

    async def _bewit(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST":
            raise ProxyRefusal(405, "MethodNotAllowed", "tcw task proxy: POST the URL to sign to /bewit")
        url = (await request.text()).strip()
        if not url.startswith(self.root_url + "/"):
            raise ProxyRefusal(
                400, "InputError", f"tcw task proxy: only URLs of {self.root_url} are signed, not {url!r}"
            )
        signer = self._signer_now()
        signed = signer.signed_url(url, BEWIT_SECONDS)
        return web.Response(status=303, text=signed, headers={**signer.headers, "Location": signed})

    async def _forward(self, request: web.BaseRequest, target: str) -> web.StreamResponse:
        signer = self._signer_now()
        headers = CIMultiDict(
            (name, value) for name, value in request.headers.items() if name.lower() not in NOT_FORWARDED
        )
        headers["Authorization"] = signer.authorization(request.method, target)
        has_body = request.body_exists or request.content_length
        assert self._session is not None
        try:
            async with self._session.request(
                request.method,
                URL(target, encoded=True),
                headers=headers,
                data=request.content if has_body else None,
                skip_auto_headers=AUTO_HEADERS,
                allow_redirects=False,
            ) as upstream:
                return await self._relay(
                    request, upstream, {**signer.headers, "X-Taskcluster-Endpoint": target}
                )
        except (TimeoutError, aiohttp.ClientError) as error:
            raise ProxyRefusal(
                502, "ProxyUpstreamError", f"tcw task proxy: {request.method} {target} failed: {error}"
            ) from error

    async def _relay(
        self, request: web.BaseRequest, upstream: aiohttp.ClientResponse, extra: Mapping[str, str]
    ) -> web.StreamResponse:
        """The answer as it comes; one that arrived whole with its head (most API answers) goes out in one
        write with its head too, since the task's client waits for both."""
        headers = CIMultiDict(
            (name, value) for name, value in upstream.headers.items() if name.lower() not in NOT_RETURNED
        )
        headers.update(extra)
        length = upstream.headers.get("Content-Length")
        first = await upstream.content.readany()
        if upstream.content.at_eof() and (length is None or length == str(len(first))):
            return web.Response(status=upstream.status, reason=upstream.reason, headers=headers, body=first)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
        if length is not None and length.isdigit():
            response.content_length = int(length)
        await response.prepare(request)
        await response.write(first)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response
