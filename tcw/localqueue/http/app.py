"""The local deployment's HTTP layer: one aiohttp handler that routes, parses, authenticates and dispatches.

Every API request goes through ``Dispatcher.handle``: find the service by its ``/api/<name>/v1`` prefix,
match the raw path against its route table (built from the official client's metadata), read and parse the
body, verify hawk, check route arguments and the body, call the service's handler for the method name, and
render its answer or its ``ApiError`` with the real service's error body ``{code, message, requestInfo}``.
Bad input is always a 4xx, never a 500. Which services there are is the deployment's choice (deployment.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from tcw.localqueue.auth import hawk
from tcw.localqueue.auth.scopes import Caller
from tcw.localqueue.core import jsonio
from tcw.localqueue.core.dates import format_date
from tcw.localqueue.core.errors import (
    ApiError,
    InputError,
    MalformedPayload,
    PayloadTooLarge,
    RequestTimeout,
    ResourceNotFound,
)
from tcw.localqueue.http.blobs import blob_routes
from tcw.localqueue.http.routes import Route, RouteTable, service_routes
from tcw.localqueue.services.api import Reply, Service
from tcw.localqueue.services.state import QueueState

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024


class Dispatcher:
    """Turns one HTTP request into one handler call and its answer."""

    def __init__(self, state: QueueState, services: Iterable[Service], body_timeout: float) -> None:
        self.state = state
        self.body_timeout = body_timeout
        self._services: list[tuple[Service, RouteTable]] = [
            (service, service_routes(service.name)) for service in services
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        found = self._route(request.method, path)
        if found is None:
            info = _request_info(request.method.lower(), {}, None)
            return error_response(ResourceNotFound(f"No such API endpoint: {request.method} {path}"), info)
        route, params, service = found
        if route.name not in service.handlers:
            info = _request_info(route.name, params, None)
            return error_response(ResourceNotFound(f"{route.name} is not served by the local queue"), info)
        body: Any = None
        try:
            raw, body = await read_body(request, route, self.body_timeout)
            caller = self._authenticate(request, raw)
            result = await service.call(route.name, params, dict(request.query), body, caller, self.state)
        except ApiError as error:
            return error_response(error, _request_info(route.name, params, body))
        return _reply(result)

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str], Service] | None:
        """The route, its arguments and the service serving it."""
        for service, routes in self._services:
            prefix = service.prefix
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("/", ""):
                match = routes.match(method, path[len(prefix) :])
                if match is None:
                    return None
                return (*match, service)
        return None

    def _authenticate(self, request: web.Request, raw: bytes) -> Caller:
        authorization = request.headers.get("Authorization")
        signed = bool(authorization) or "bewit=" in request.raw_path
        host, port = host_and_port(request.headers.get("Host", "")) if signed else ("", 80)
        return hawk.authenticate(
            self.state.clients,
            method=request.method,
            resource=request.raw_path,
            host=host,
            port=port,
            authorization=authorization,
            content_type=request.headers.get("Content-Type", ""),
            body=raw,
        )


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]@]+)(?::([0-9]{0,5}))?\Z")


def host_and_port(header: str) -> tuple[str, int]:
    """The host and port a signed request's Host header names, as hawk reads it to check the MAC (port 80
    when none is given); 400 for a header that is no ``host[:port]`` (a port that is no number 0..65535),
    which hawk itself answers with "Invalid Host header"."""
    match = _HOST.match(header)
    port = match.group(2) if match else None
    if match is None or (port and int(port) > 65535):
        raise InputError("Invalid Host header")
    return match.group(1).strip("[]"), int(port) if port else 80


async def read_body(
    request: web.Request,
    route: Route,
    timeout: float,  # noqa: ASYNC109  (running out is the request's 408, not an error of ours)
) -> tuple[bytes, Any]:
    """The raw bytes (for hawk) and the parsed JSON; ``{}`` for an empty body of a method that takes one
    (as the real service's body parser gives), None for a bodiless call of a method that takes none.
    The body must arrive within ``timeout`` seconds: a client trickling it would hold its connection
    busy (and so safe from the connection limit's pruning) for ever."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes") from error
    except TimeoutError as error:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} seconds") from error
    if not raw.strip():
        return raw, {} if route.input_schema else None
    try:
        body = jsonio.parse(raw)
    except jsonio.InvalidJson as error:
        raise MalformedPayload(f"Failed to parse JSON: {error}") from None
    if not isinstance(body, dict | list):
        raise MalformedPayload("Failed to parse JSON: Must be an object or array")
    return raw, body


def _reply(result: Any) -> web.StreamResponse:
    if isinstance(result, Reply):
        if result.body is None:
            return web.Response(status=result.status, headers=result.headers)
        return web.Response(
            status=result.status,
            headers=result.headers,
            body=jsonio.dump(result.body),
            content_type="application/json",
        )
    if result is None:
        return web.Response(status=204)
    return web.Response(body=jsonio.dump(result), content_type="application/json")


def _request_info(method: str, params: Mapping[str, str], payload: Any) -> dict[str, Any]:
    return {
        "method": method,
        "params": dict(params),
        "payload": payload if payload is not None else {},
        "time": format_date(datetime.now(UTC)),
    }


def error_response(error: ApiError, request_info: Mapping[str, Any]) -> web.Response:
    """The real service's error body: ``{code, message, requestInfo}``."""
    body = {"code": error.code, "message": error.message, "requestInfo": dict(request_info)}
    return web.Response(status=error.status, body=jsonio.dump(body), content_type="application/json")


@web.middleware
async def _unexpected_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A bug answers a 500 with the real error body instead of aiohttp's text page."""
    try:
        response: web.StreamResponse = await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("local queue: unexpected error in %s %s", request.method, request.path)
        info = _request_info(request.method.lower(), {}, None)
        return error_response(ApiError("Internal error in the local queue (see its log)"), info)
    return response


def make_app(
    state: QueueState,
    services: Iterable[Service],
    schemas_dir: Path | None = None,
    connections: Middleware | None = None,
    body_timeout: float = 30.0,
    pages: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """The aiohttp application: the byte endpoints signed URLs point at, the schemas (when given a
    directory, served read-only at /schemas/ as a deployment serves them), the web view's ``pages``
    (outside /api/), then every service's routes; ``connections`` (connections.py) is told which
    connections have a request in progress."""
    middlewares = [_unexpected_errors] if connections is None else [connections, _unexpected_errors]
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1, middlewares=middlewares)
    app.add_routes(blob_routes(state))
    app.add_routes(pages)
    if schemas_dir is not None:
        app.router.add_static("/schemas/", schemas_dir, show_index=False, follow_symlinks=False)
    app.router.add_route(
        "*", r"/{tail:[\s\S]*}", Dispatcher(state, services, body_timeout).handle
    )  # any path, newlines too
    return app
