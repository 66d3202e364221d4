"""The route table, built from the installed ``taskcluster`` client's own API metadata.

Each generated client class carries ``funcinfo`` (name, method, route with ``<param>`` parts, query names,
input/output schema ids), so the local queue serves exactly the routes the client calls, without shipping a
copy of the official references. Matching works on the raw path: it is split into segments first and each
segment is percent-decoded afterwards, because clients encode ``/`` inside route arguments
(``claim-work/prov%2Ftype``, ``artifacts/public%2Flogs%2Flive.log``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

# A route argument with this name may also swallow unencoded slashes (artifact and object names).
GREEDY_PARAM = "name"


@dataclass(frozen=True)
class Route:
    service: str
    name: str
    method: str  # upper case HTTP method
    pattern: str  # as in funcinfo, e.g. /task/<taskId>/status
    segments: tuple[str | None, ...]  # literal segment, or None for a route argument
    params: tuple[str, ...]
    query: tuple[str, ...]
    input_schema: str | None
    output_schema: str | None
    greedy: bool  # the last argument also takes the remaining segments

    @property
    def literal_count(self) -> int:
        return sum(segment is not None for segment in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Route arguments (percent-decoded) if ``parts`` (raw segments) fit this route, else None."""
        size = len(self.segments)
        if len(parts) != size and not (self.greedy and len(parts) > size):
            return None
        values: list[str] = []
        for segment, part in zip(self.segments, parts, strict=False):
            if segment is None:
                if not part:
                    return None
                values.append(unquote(part))
            elif segment != part:
                return None
        if len(parts) > size:
            values[-1] = "/".join([values[-1], *(unquote(part) for part in parts[size:])])
        return dict(zip(self.params, values, strict=True))


def parse_route(service: str, info: Mapping[str, Any]) -> Route:
    pattern = str(info["route"])
    segments: list[str | None] = []
    params: list[str] = []
    for segment in pattern.strip("/").split("/"):
        if segment.startswith("<") and segment.endswith(">"):
            segments.append(None)
            params.append(segment[1:-1])
        else:
            segments.append(segment)
    return Route(
        service=service,
        name=str(info["name"]),
        method=str(info["method"]).upper(),
        pattern=pattern,
        segments=tuple(segments),
        params=tuple(params),
        query=tuple(info.get("query", ())),
        input_schema=info.get("input"),
        output_schema=info.get("output"),
        greedy=bool(params) and segments[-1] is None and params[-1] == GREEDY_PARAM,
    )


class RouteTable:
    """Routes of one service, found by HTTP method and segment count; literal segments win over arguments."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = {route.name: route for route in routes}
        self._exact: dict[tuple[str, int], list[Route]] = {}
        self._greedy: dict[str, list[Route]] = {}
        ordered = sorted(self.routes.values(), key=lambda route: -route.literal_count)
        for route in ordered:
            self._exact.setdefault((route.method, len(route.segments)), []).append(route)
            if route.greedy:
                self._greedy.setdefault(route.method, []).append(route)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """``raw_path`` is the part after ``/api/<service>/v1``, still percent-encoded, without a query."""
        parts = raw_path.strip("/").split("/") if raw_path.strip("/") else []
        for route in self._exact.get((method, len(parts)), ()):
            params = route.match(parts)
            if params is not None:
                return route, params
        for route in self._greedy.get(method, ()):
            params = route.match(parts)
            if params is not None:
                return route, params
        return None


def client_class_name(service: str) -> str:
    """The official client's class for a service name: ``queue`` -> Queue, ``worker-manager`` ->
    WorkerManager."""
    return "".join(part.capitalize() for part in service.split("-"))


@cache
def service_routes(service: str) -> RouteTable:
    """The table for a service (``queue``, ``object``...) from the installed client: the client's own
    metadata, the same for every queue in the process, so built once."""
    import taskcluster

    client_class = getattr(taskcluster, client_class_name(service))
    return RouteTable(parse_route(service, info) for info in client_class.funcinfo.values())
