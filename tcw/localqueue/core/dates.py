"""Dates as the queue speaks them: ISO 8601 in UTC with milliseconds and ``Z``.

Clients send ``Z`` or ``+00:00``, with or without fractions; the service always answers
``2026-11-29T06:00:05.653Z``. That fixed-width form also sorts as text, so SQLite compares stored dates with
plain string comparison.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

# The instants Python can represent in UTC. A date whose zone puts it past either end (``0001-01-01T00:00
# +01:00`` is in year 0 in UTC) is taken as that end: every check the queue makes of a date (in the past,
# too far ahead, before another) then answers as the real service does for the exact instant.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def parse_date(text: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 string; ValueError when it is not one (or has no zone)."""
    if not isinstance(text, str) or len(text) < 10:
        raise ValueError(f"not a date-time: {text!r}")
    return _parse_text(text)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> datetime:
    """Cached: a request reads the same stored dates of a task and its runs several times."""
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    if value.tzinfo is None:
        raise ValueError(f"date-time without a time zone: {text!r}")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return EARLIEST if value.year == datetime.min.year else LATEST


def format_date(value: datetime) -> str:
    """The service's own format: UTC, milliseconds, ``Z``."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" becomes "Z"


def format_date_as_postgres(value: datetime) -> str:
    """How the real queue's database renders a date into JSON (``claimWork`` and ``claimTask`` answer
    their top-level ``takenUntil`` so): UTC as ``+00:00``, the fraction without trailing zeros."""
    value = value.astimezone(UTC)
    fraction = f"{value.microsecond:06d}".rstrip("0")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "+00:00"
