"""The services the local deployment serves: adding one is adding its package under services/ and one
line here.

Each ``Service`` (services/api.py) brings its name (its routes come from the official client's metadata
for that name), its handlers, its body checks and an optional background job; the HTTP layer serves them
all over the same authentication and the same database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tcw.localqueue.auth import scopes
from tcw.localqueue.auth.scopes import Caller, Expression
from tcw.localqueue.services.api import Handler, Service
from tcw.localqueue.services.object.service import SERVICE as OBJECT
from tcw.localqueue.services.queue.service import SERVICE as QUEUE
from tcw.localqueue.services.secrets.service import SERVICE as SECRETS
from tcw.localqueue.services.worker_manager.service import SERVICE as WORKER_MANAGER

SERVICES: tuple[Service, ...] = (QUEUE, OBJECT, WORKER_MANAGER, SECRETS)


def scope_expressions(services: tuple[Service, ...]) -> dict[str, Expression | None]:
    """Every service's expressions by method name; one name means one expression across the deployment
    (the methods every service has, ping..., need none), so a name alone can be checked."""
    merged: dict[str, Expression | None] = {}
    for service in services:
        for name, expression in service.scopes.items():
            if merged.setdefault(name, expression) != expression:
                raise ValueError(f"method {name} of {service.name} has another scope expression elsewhere")
    return merged


SCOPE_EXPRESSIONS: Mapping[str, Expression | None] = scope_expressions(SERVICES)


def authorize(caller: Caller, method_name: str, params: Mapping[str, Any]) -> None:
    """``InsufficientScopes`` unless the caller may call ``method_name`` with ``params``; KeyError for a
    method no service of the deployment knows."""
    if method_name not in SCOPE_EXPRESSIONS:
        raise KeyError(f"no scope expression for method {method_name!r}")
    scopes.authorize(caller, SCOPE_EXPRESSIONS[method_name], params)


def all_handlers() -> dict[str, dict[str, Handler]]:
    """Handlers by service and method name."""
    return {service.name: dict(service.handlers) for service in SERVICES}


def check_request_body(service: str, method_name: str, body: Any) -> None:
    """400 InputValidationError unless ``body`` passes the method's input check (if it has one)."""
    next(s for s in SERVICES if s.name == service).check_body(method_name, body)
