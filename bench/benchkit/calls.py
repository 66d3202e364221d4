"""Names HTTP requests by the API method they call (``queue.claimWork``), from the official client's own
route table, and counts them: in a relay's traffic or in a server's access log."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import taskcluster

REQUEST_LINE = re.compile(rb'"(GET|PUT|POST|DELETE|HEAD|PATCH) (\S+) HTTP/[\d.]+"')
SERVICES = (taskcluster.Queue, taskcluster.Object, taskcluster.Auth)


@cache
def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    routes = []
    for service in SERVICES:
        prefix = f"/api/{service.serviceName}/{service.apiVersion}"
        for name, info in service.funcinfo.items():
            # the client quotes every argument with safe="", so an argument never spans a "/"
            pattern = "[^/]+".join(re.escape(part) for part in re.split(r"<[^>]+>", info["route"]))
            routes.append(
                (info["method"].upper(), re.compile(prefix + pattern), f"{service.serviceName}.{name}")
            )
    return routes


def call_name(method: str, target: str) -> str:
    """``queue.createArtifact`` for an API call; ``storage PUT`` for anything outside ``/api/`` (S3)."""
    path = target.split("?", 1)[0]
    if not path.startswith("/api/"):
        return f"storage {method}"
    for route_method, pattern, name in _routes():
        if route_method == method and pattern.fullmatch(path):
            return name
    return f"{method} {path.split('/', 4)[2]}?"


@dataclass
class LogCounter:
    """Counts the requests a server logs (one quoted request line per request, as nginx and werkzeug
    write them) between ``start()`` and ``stop()``."""

    path: Path
    offset: int = field(default=0, init=False)

    def start(self) -> None:
        self.offset = self.path.stat().st_size

    def stop(self) -> Counter[str]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            appended = log.read()
        counts: Counter[str] = Counter()
        for match in REQUEST_LINE.finditer(appended):
            counts[call_name(match.group(1).decode(), match.group(2).decode(errors="replace"))] += 1
        return counts
