"""Durations and dates as operators type them for --since and --until."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tcw.errors import UsageError
from tcw.inspect.durations import parse_duration, parse_until
from tests.support.cli import RunCli

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1d12h", 129600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "7", "7x", "d7", "1d-2h", "soon"])
def test_not_durations(text: str) -> None:
    with pytest.raises(UsageError, match="is not a duration"):
        parse_duration(text)


def test_until_takes_a_duration_or_a_date() -> None:
    assert parse_until("7d", NOW) == NOW + timedelta(days=7)
    assert parse_until("3000-01-01", NOW) == datetime(3000, 1, 1, tzinfo=UTC)
    assert parse_until("2027-01-01T00:00:00Z", NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageError, match="neither a duration"):
        parse_until("next tuesday", NOW)


def test_a_bad_since_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "inspect-runs", "--task-id", "x", "--since", "soon"], exit_code=2)
    assert "is not a duration" in result.stderr
