"""The contract between the HTTP layer and the services it serves.

The HTTP layer (http/app.py) matches a request to an official method name of a service, authenticates it,
parses its body and hands an ``ApiCall`` to the handler that ``Service.handlers`` registers for that name.
A handler returns the JSON-able response body (or a ``Reply`` for redirects and other statuses) and raises
``core.errors.ApiError`` subclasses for the real service's 4xx answers; the HTTP layer renders them with
the real error body ``{code, message, requestInfo}``. A handler that returns without calling
``ApiCall.authorize`` is a bug.

A service of the local deployment (services/queue, services/object...) is a package whose ``service.py``
defines one ``Service``; the deployment (tcw/localqueue/deployment.py) lists them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from tcw.localqueue.auth.scopes import Caller, Expression, authorize, renders_with
from tcw.localqueue.core.checks import Check, check_body, check_params
from tcw.localqueue.core.errors import ApiError
from tcw.localqueue.services.state import QueueState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiCall:
    method_name: str  # official name, e.g. "createArtifact"
    params: Mapping[str, str]  # route arguments, percent-decoded
    query: Mapping[str, str]
    body: Any  # parsed JSON, or None for a bodiless request
    caller: Caller
    state: QueueState
    scope_expression: Expression | None  # the method's, from its service's table; None: no scope needed
    authorized: list[bool] = field(default_factory=list, compare=False, repr=False)

    def authorize(self, **params: Any) -> None:
        """Check the caller's scopes against this method's scope expression, like ``req.authorize``.

        Every handler calls this exactly once, with the parameters its expression names that are not
        route arguments (e.g. ``schedulerId`` loaded from the task); raises ``InsufficientScopes``.
        """
        if self.authorized:
            return  # checked already by ``authorize_by_route``
        authorize(self.caller, self.scope_expression, {**self.params, **params})
        self.authorized.append(True)

    def authorize_by_route(self) -> None:
        """Check the scopes before the handler runs when the route's arguments alone fill the method's
        expression, as lib-api does: so a caller without them gets 403 before any 404 could tell them
        whether the task or run exists (``reclaimTask``, ``task``, ``status``...)."""
        if self.scope_expression is not None and renders_with(self.scope_expression, self.params):
            self.authorize()


@dataclass(frozen=True)
class Reply:
    """An answer other than a plain 200 with a JSON body: a redirect, a 424 for an error artifact."""

    status: int
    body: Any = None  # JSON-able, or None for no body
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[ApiCall], Awaitable[Any]]
BackgroundJob = Callable[[QueueState], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Service:
    """One Taskcluster service as the local deployment serves it at ``/api/<name>/v1``.

    ``name`` is the service's name in the official references (``queue``, ``object``, ``secrets``,
    ``worker-manager``); its routes come from the official client's metadata for that name. By method
    name: ``handlers``, ``scopes`` (each method's scope expression, as its reference states it; every
    handled method has one) and ``body_checks`` (the input schemas, as code of ours). ``background`` runs
    for as long as the deployment serves (the queue's resolvers).
    """

    name: str
    handlers: Mapping[str, Handler]
    scopes: Mapping[str, Expression | None]
    body_checks: Mapping[str, Check] = field(default_factory=dict)
    background: BackgroundJob | None = None

    def __post_init__(self) -> None:
        unscoped = sorted(set(self.handlers) - set(self.scopes))
        if unscoped:
            raise ValueError(f"service {self.name}: no scope expression for {', '.join(unscoped)}")

    @property
    def prefix(self) -> str:
        return f"/api/{self.name}/v1"

    def check_body(self, method_name: str, body: Any) -> None:
        """400 InputValidationError unless ``body`` passes the method's input check (if it has one)."""
        check = self.body_checks.get(method_name)
        if check is not None:
            check_body(check, body)

    async def call(
        self,
        method_name: str,
        params: Mapping[str, str],
        query: Mapping[str, str],
        body: Any,
        caller: Caller,
        state: QueueState,
    ) -> Any:
        """Run a handled method for an authenticated ``caller``, checked as lib-api checks a request:
        route scopes first (before any 404), then route arguments and body; the handler's answer, or its
        ``ApiError``. The HTTP layer calls it for each request, the web view for each read it shows, so
        both see exactly what the caller's scopes allow."""
        call = ApiCall(method_name, params, query, body, caller, state, self.scopes[method_name])
        call.authorize_by_route()  # as lib-api: right after authentication, before any other check
        check_params(params)
        self.check_body(method_name, body)
        result = await self.handlers[method_name](call)
        if not call.authorized:
            log.error("handler for %s returned without authorizing the call", method_name)
            raise ApiError("the local queue's handler skipped its scope check")
        return result
