"""The services the local deployment serves: adding one is adding its package under services/ and one
line here.

Each ``Service`` (services/api.py) brings its name (its routes come from the official client's metadata
for that name), its handlers, its body checks and an optional background job; the HTTP layer serves them
all over the same authentication and the same database.
"""

from __future__ import annotations

from typing import Any

from tcw.localqueue.services.api import Handler, Service
from tcw.localqueue.services.object.service import SERVICE as OBJECT
from tcw.localqueue.services.queue.service import SERVICE as QUEUE

SERVICES: tuple[Service, ...] = (QUEUE, OBJECT)


def all_handlers() -> dict[str, dict[str, Handler]]:
    """Handlers by service and method name."""
    return {service.name: dict(service.handlers) for service in SERVICES}


def check_request_body(service: str, method_name: str, body: Any) -> None:
    """400 InputValidationError unless ``body`` passes the method's input check (if it has one)."""
    next(s for s in SERVICES if s.name == service).check_body(method_name, body)
