"""The local queue's HTTP layer: one aiohttp handler that routes, parses, authenticates and dispatches.

Every API request goes through ``Dispatcher.handle``: match the raw path against the route table (built from
the official client's metadata), read and parse the body, verify hawk, check route arguments and the body,
call the handler registered for the method name, and render its answer or its ``ApiError`` with the real
service's error body ``{code, message, requestInfo}``. Bad input is always a 4xx, never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tcw.localqueue import (
    artifact_reads,
    artifacts,
    auth,
    blob_routes,
    checks,
    claims,
    jsonio,
    objects,
    resolution,
    tasks,
    workers,
)
from tcw.localqueue.api import (
    ApiCall,
    ApiError,
    Handler,
    MalformedPayload,
    PayloadTooLarge,
    ResourceNotFound,
)
from tcw.localqueue.clients import Client, ClientStore
from tcw.localqueue.dates import format_date
from tcw.localqueue.routes import Route, service_routes

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
SERVICE_PREFIXES = {"queue": "/api/queue/v1", "object": "/api/object/v1"}
STARTED = time.monotonic()


class LocalQueueState:
    """What handlers share (the ``QueueState`` of api.py): database, clock, settings, work notifier."""

    def __init__(
        self,
        *,
        db: sqlite3.Connection,
        root_url: str,
        blob_dir: Path,
        claim_timeout: float,
        claim_work_wait: float,
        clients: ClientStore,
        issuer: Client,
    ) -> None:
        self.db = db
        self.root_url = root_url
        self.blob_dir = blob_dir
        self.claim_timeout = claim_timeout
        self.claim_work_wait = claim_work_wait
        self.clients = clients
        self.issuer = issuer
        self.closing = False
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def now(self) -> datetime:
        return datetime.now(UTC)

    def notify_pending(self, task_queue_id: str) -> None:
        for waiter in self._waiters.pop(task_queue_id, ()):
            if not waiter.done():
                waiter.set_result(None)

    def close_waiters(self) -> None:
        """The queue is stopping: every long poll answers now (empty) instead of being cut off."""
        self.closing = True
        for task_queue_id in list(self._waiters):
            self.notify_pending(task_queue_id)

    async def wait_for_pending(self, task_queue_id: str, timeout: float) -> None:
        """Return when ``notify_pending`` names the queue, or after ``timeout`` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_queue_id, set()).add(waiter)
        try:
            async with asyncio.timeout(max(timeout, 0)):
                await waiter
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(task_queue_id)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[task_queue_id]


async def _ping(call: ApiCall) -> Any:
    call.authorize()
    return {"alive": True, "uptime": time.monotonic() - STARTED}


async def _empty(call: ApiCall) -> Any:
    call.authorize()
    return {}


async def _version(call: ApiCall) -> Any:
    from tcw import __version__

    call.authorize()
    return {"version": __version__}


SERVICE_HANDLERS: dict[str, Handler] = {
    "ping": _ping,
    "lbheartbeat": _empty,
    "heartbeat": _empty,
    "version": _version,
}


def all_handlers() -> dict[str, dict[str, Handler]]:
    """Handlers by service and method name, from every API module."""
    return {
        "queue": {
            **SERVICE_HANDLERS,
            **tasks.HANDLERS,
            **claims.HANDLERS,
            **resolution.HANDLERS,
            **workers.HANDLERS,
            **artifacts.HANDLERS,
            **artifact_reads.HANDLERS,
        },
        "object": {**SERVICE_HANDLERS, **objects.HANDLERS},
    }


# Request body checks by service and method name: the input schemas, as code of ours.
BODY_CHECKS: dict[str, dict[str, checks.Check]] = {
    "queue": {**checks.BODY_CHECKS, **artifacts.BODY_CHECKS},
    "object": objects.BODY_CHECKS,
}


def check_request_body(service: str, method_name: str, body: Any) -> None:
    """400 InputValidationError unless ``body`` passes the method's input check (if it has one)."""
    check = BODY_CHECKS[service].get(method_name)
    if check is not None:
        checks.check_body(check, body)


class Dispatcher:
    """Turns one HTTP request into one handler call and its answer."""

    def __init__(self, state: LocalQueueState) -> None:
        self.state = state
        self.handlers = all_handlers()
        self._services = [
            (prefix, service_routes(service), self.handlers[service])
            for service, prefix in SERVICE_PREFIXES.items()
        ]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.partition("?")[0]
        found = self._route(request.method, path)
        if found is None:
            info = _request_info(request.method.lower(), {}, None)
            return error_response(ResourceNotFound(f"No such API endpoint: {request.method} {path}"), info)
        route, params, handler = found
        if handler is None:
            info = _request_info(route.name, params, None)
            return error_response(ResourceNotFound(f"{route.name} is not served by the local queue"), info)
        body: Any = None
        try:
            raw, body = await read_body(request, route)
            caller = self._authenticate(request, raw)
            checks.check_params(params)
            check_request_body(route.service, route.name, body)
            call = ApiCall(route.name, params, dict(request.query), body, caller, self.state, request)
            result = await handler(call)
        except ApiError as error:
            return error_response(error, _request_info(route.name, params, body))
        if not call.authorized:
            log.error("handler for %s returned without authorizing the call", route.name)
            bug = ApiError("the local queue's handler skipped its scope check")
            return error_response(bug, _request_info(route.name, params, body))
        return _reply(result)

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str], Handler | None] | None:
        """The route, its arguments and its handler (None for an official method we do not serve)."""
        for prefix, routes, handlers in self._services:
            if path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in ("/", ""):
                match = routes.match(method, path[len(prefix) :])
                if match is None:
                    return None
                return (*match, handlers.get(match[0].name))
        return None

    def _authenticate(self, request: web.Request, raw: bytes) -> auth.Caller:
        host, _, port = request.host.rpartition(":") if ":" in request.host else (request.host, "", "80")
        return auth.authenticate(
            self.state.clients,
            method=request.method,
            resource=request.raw_path,
            host=host,
            port=int(port) if port.isdigit() else 80,
            authorization=request.headers.get("Authorization"),
            content_type=request.headers.get("Content-Type", ""),
            body=raw,
        )


async def read_body(request: web.Request, route: Route) -> tuple[bytes, Any]:
    """The raw bytes (for hawk) and the parsed JSON; ``{}`` for an empty body of a method that takes one
    (as the real service's body parser gives), None for a bodiless call of a method that takes none."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        raise PayloadTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes") from error
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
    if isinstance(result, web.StreamResponse):
        return result
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


# The shared state, for routes outside the API table (blob_routes.py): ``request.app[STATE]``.
STATE = web.AppKey("tcw_local_queue_state", LocalQueueState)


def make_app(state: LocalQueueState, schemas_dir: Path | None = None) -> web.Application:
    """The aiohttp application: the byte endpoints signed URLs point at, the schemas (when given a
    directory, served read-only at /schemas/ as a deployment serves them), then every API route."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1, middlewares=[_unexpected_errors])
    app[STATE] = state
    app.add_routes(blob_routes.extra_routes())
    if schemas_dir is not None:
        app.router.add_static("/schemas/", schemas_dir, show_index=False, follow_symlinks=False)
    app.router.add_route("*", r"/{tail:[\s\S]*}", Dispatcher(state).handle)  # any path, newlines too
    return app
