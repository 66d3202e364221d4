"""What an artifact's name, content type and expiry must be for the queue to take it.

The shell payload schema accepts any strings, but the upload cannot carry every string: a CR or LF in a
content type breaks the HTTP request, a name outside printable ASCII or with a newline is refused or
mangled, and an artifact may not outlive its task. Found before the task runs, these are the payload's
fault (``malformed-payload``), not a crash or an unavailable resource after the work is done.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from tcw.taskcluster_client import parse_time

_PRINTABLE = frozenset(chr(code) for code in range(0x20, 0x7F))


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = parse_time(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def name_problem(name: str) -> str | None:
    if not name or not set(name) <= _PRINTABLE:
        return "the name must be printable ASCII, without newlines or control characters"
    return None


def published_name_problem(name: str, reserved: Collection[str]) -> str | None:
    """Why a file found under a directory artifact cannot be published under ``name``, or None."""
    if name in reserved:
        return "would replace the task log the worker uploads"
    if name_problem(name) is not None:
        return "has a name outside printable ASCII"
    return None


def artifact_property_problems(
    name: str, content_type: str | None, expires: str | None, task_expires: str | None
) -> list[str]:
    problems = []
    if (problem := name_problem(name)) is not None:
        problems.append(problem)
    if content_type is not None and (not content_type or not set(content_type) <= _PRINTABLE):
        problems.append("contentType must be printable ASCII, without CR, LF or other control characters")
    if expires is not None:
        when = _parse_time(expires)
        limit = _parse_time(task_expires) if task_expires else None
        if when is None:
            problems.append(f"expires: {expires[:60]!r} is not a date-time with a time zone")
        elif limit is not None and when > limit:
            problems.append(f"expires: {expires} is after the task's own expiry ({task_expires})")
    return problems
