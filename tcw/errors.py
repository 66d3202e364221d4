"""Errors a user can meet, each with the exit code the CLI turns it into.

Library code raises these and never calls ``sys.exit``; the CLI prints ``Error: <message>`` (one line per
problem) and exits with ``exit_code``. The codes are documented in ``man/tcw.1``.

The tree is flat so that ``except`` clauses never depend on their order: ``UsageError`` and
``ConfigError`` are siblings, and so are the three ways a Taskcluster call fails (``TransientQueueError``,
``QueueRefused``, ``RunGone``), under ``QueueUnavailable``, which catches any of them (and is raised as
such by commands that need not tell them apart).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    FAILED = 1  # a task failed, a payload is invalid, a worker is flagged
    USAGE = 2  # bad flags, bad config, unreadable input, unknown schema
    EXCEPTION = 3  # a task resolved as exception
    NOTHING_CLAIMED = 4  # claim-once found no task
    UNAVAILABLE = 5  # Taskcluster (or the local queue) could not be reached or refused the call
    OUTPUT_CLOSED = 141  # the reader of stdout went away (128 + SIGPIPE, as shells report it)


class TcwError(Exception):
    """Base of every error tcw reports to a user."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(TcwError):
    """The command line or an input file cannot be used as given."""

    exit_code = ExitCode.USAGE


class ConfigError(TcwError):
    """A configuration has one or more problems; all of them are reported together."""

    exit_code = ExitCode.USAGE

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class QueueUnavailable(TcwError):
    """Taskcluster could not be reached, or refused a call the command cannot do without."""

    exit_code = ExitCode.UNAVAILABLE


class TransientQueueError(QueueUnavailable):
    """A 5xx, a dropped connection or a timeout that the client's own retries did not get past."""


class QueueRefused(QueueUnavailable):
    """The service answered with a 4xx; ``message`` carries what it said."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RunGone(QueueUnavailable):
    """A run-scoped call was refused because the run is over (cancelled, resolved, expired, unknown)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
