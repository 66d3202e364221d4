"""What the web view may read: every read is a call of the deployment's own service methods as the
anonymous caller, so a browser sees exactly what a request without credentials would get from the API
(the anonymous role's scopes, checked by the same code), and nothing that needs credentials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tcw.localqueue.auth.scopes import Caller, render, satisfies_expression
from tcw.localqueue.core.errors import ApiError
from tcw.localqueue.services.api import Service
from tcw.localqueue.services.state import QueueState

ANONYMOUS = "anonymous"


class AnonymousReader:
    """Calls service methods by name (``queue.task``) with the anonymous role's scopes of the moment."""

    def __init__(self, state: QueueState, services: Iterable[Service]) -> None:
        self.state = state
        self._services = {service.name: service for service in services}

    @property
    def caller(self) -> Caller:
        return Caller(ANONYMOUS, self.state.clients.anonymous_scopes)

    async def read(
        self,
        method: str,
        params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """The method's answer (JSON, or a ``Reply``), or its ``ApiError`` (403 when the anonymous role
        may not, 404...), as the API would answer an unauthenticated request."""
        service, name = self._method(method)
        return await service.call(name, params or {}, query or {}, body, self.caller, self.state)

    async def read_or_error(self, method: str, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        """The answer, or the ``ApiError`` itself for a page that shows what it could not read."""
        try:
            return await self.read(method, params, **kw)
        except ApiError as error:
            return error

    def may(self, method: str, params: Mapping[str, Any]) -> bool:
        """Whether the anonymous role satisfies the method's scope expression for these parameters: the
        page links only what a browser without credentials can open."""
        service, name = self._method(method)
        expression = service.scopes[name]
        return expression is None or satisfies_expression(self.caller.scopes, render(expression, params))

    def _method(self, method: str) -> tuple[Service, str]:
        service_name, _, name = method.partition(".")
        return self._services[service_name], name
