"""Durations and moments as operators type them: ``--since 2d``, ``--until 7d`` or ``--until 3000-01-01``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tcw.errors import UsageError
from tcw.taskcluster_client import parse_time

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` or combinations like ``1d12h``."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise UsageError(f"{text!r} is not a duration like 30m, 12h, 7d or 1d12h")
    return timedelta(seconds=sum(float(number) * _UNITS[unit] for number, unit in parts))


def parse_until(text: str, now: datetime) -> datetime:
    """A duration from now, or an absolute ISO 8601 date/time (e.g. 3000-01-01 for "forever")."""
    try:
        return now + parse_duration(text)
    except UsageError:
        pass
    try:
        moment = parse_time(text)
    except ValueError:
        raise UsageError(f"--until: {text!r} is neither a duration (7d) nor a date (3000-01-01)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
