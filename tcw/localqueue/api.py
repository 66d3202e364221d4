"""The contract between the local queue's HTTP layer and its API modules.

``app.py`` matches a request to an official method name (from the ``taskcluster`` client's ``funcinfo``),
authenticates it, parses its body and hands an ``ApiCall`` to the handler registered for that name. Each API
module (tasks, workers, artifacts, objects...) exposes ``HANDLERS: dict[str, Handler]``. A handler returns
the JSON-able response body (or an ``aiohttp.web.StreamResponse`` for redirects and downloads) and raises
``ApiError`` subclasses for the real service's 4xx answers; ``app.py`` renders them with the real error body
``{code, message, requestInfo}``. A handler that returns without calling ``ApiCall.authorize`` is a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from tcw.localqueue.auth import Caller
    from tcw.localqueue.clients import Client


class QueueState(Protocol):
    """What every handler may use: the database, the clock, settings and the work notifier."""

    db: sqlite3.Connection
    root_url: str
    blob_dir: Path  # where object/s3 artifact bytes are stored
    claim_timeout: float
    claim_work_wait: float
    issuer: Client  # the queue's own client, which signs the temporary credentials it hands out

    def now(self) -> datetime: ...

    def notify_pending(self, task_queue_id: str) -> None:
        """Wake claimWork long-polls waiting on that task queue."""


@dataclass(frozen=True)
class ApiCall:
    method_name: str  # official name, e.g. "createArtifact"
    params: Mapping[str, str]  # route arguments, percent-decoded
    query: Mapping[str, str]
    body: Any  # parsed JSON, or None for a bodiless request
    caller: Caller
    state: QueueState
    request: web.Request
    authorized: list[bool] = field(default_factory=list, compare=False, repr=False)

    def authorize(self, **params: Any) -> None:
        """Check the caller's scopes against this method's scope expression, like ``req.authorize``.

        Every handler calls this exactly once, with the parameters its expression names that are not
        route arguments (e.g. ``schedulerId`` loaded from the task); raises ``InsufficientScopes``.
        """
        from tcw.localqueue.scopes import authorize

        authorize(self.caller, self.method_name, {**self.params, **params})
        self.authorized.append(True)


Handler = Callable[[ApiCall], Awaitable[Any]]


class ApiError(Exception):
    """An answer of the real service other than 2xx."""

    status = 500
    code = "InternalServerError"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class InputError(ApiError):
    status = 400
    code = "InputError"


class MalformedPayload(ApiError):
    """The body is not JSON."""

    status = 400
    code = "MalformedPayload"


class InputValidationError(ApiError):
    """The body is JSON but breaks the method's input schema."""

    status = 400
    code = "InputValidationError"


class InvalidRequestArguments(ApiError):
    status = 400
    code = "InvalidRequestArguments"


class AuthenticationFailed(ApiError):
    status = 401
    code = "AuthenticationFailed"


class InsufficientScopes(ApiError):
    status = 403
    code = "InsufficientScopes"


class ResourceNotFound(ApiError):
    status = 404
    code = "ResourceNotFound"


class RequestConflict(ApiError):
    status = 409
    code = "RequestConflict"


class NoMatchingMethod(ApiError):
    """startDownload offered no download method the object service supports."""

    status = 406
    code = "NoMatchingMethod"


class ResourceExpired(ApiError):
    """The artifact existed but has expired."""

    status = 410
    code = "ResourceExpired"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PayloadTooLarge"


class ArtifactError(ApiError):
    """GET of an ``error`` artifact: 424 with its reason and message."""

    status = 424
    code = "ArtifactError"
