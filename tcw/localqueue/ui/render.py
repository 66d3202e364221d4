"""Turning a page's data into HTML: the Jinja2 templates of this package, always autoescaped (every task
field, payload and log line is the task author's text), and the headers every page carries."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

# No inline script or style can run even if some text escaped the templates; the live log's fetch follows
# the queue's redirect to the worker's live-log server, wherever that is.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src *; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def segment(value: Any) -> str:
    """One URL path segment: every reserved character encoded (slashes too)."""
    return quote(str(value), safe="")


def path(value: Any) -> str:
    """A URL path of segments (an artifact name keeps its slashes)."""
    return quote(str(value), safe="/")


def web_url(value: Any) -> str | None:
    """The value when it is an http(s) URL a page may link to; None for ``javascript:`` and the like."""
    if not isinstance(value, str):
        return None
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return None
    return value if scheme in ("http", "https") else None


def when(value: Any) -> str:
    """An ISO date as people read it, to the second, in UTC."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: Any, end: Any) -> str:
    """Seconds (or minutes) from ``start`` to ``end``, both ISO dates; "" when either is missing."""
    if not (isinstance(start, str) and isinstance(end, str) and start and end):
        return ""
    try:
        seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tcw.localqueue.ui", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        segment=segment, path=path, web_url=web_url, when=when, pretty_json=pretty_json, duration=duration
    )
    return env


def html(template: str, status_code: int = 200, **context: Any) -> web.Response:
    """The page ``template`` renders with ``context``, with the security headers."""
    text = environment().get_template(template).render(**context)
    return web.Response(status=status_code, text=text, content_type="text/html", headers=SECURITY_HEADERS)
