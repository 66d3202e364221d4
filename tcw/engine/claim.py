"""A claimed run: what ``claimWork`` returned for one task, and its lease, renewed by each reclaim."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tcw.taskcluster_client import parse_time


def seconds_until(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


@dataclass(frozen=True)
class Lease:
    """How long the claim holds and the temporary credentials valid until then; replaced as a whole.

    ``lapses_at`` is on this process's monotonic clock, measured with the queue's own clock where the
    credentials allow: their certificate starts when the queue issued them and expires at ``takenUntil``,
    so a worker whose wall clock is off still reclaims in time.
    """

    taken_until: datetime
    credentials: Mapping[str, str]
    lapses_at: float

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> Lease:
        taken_until = parse_time(response["takenUntil"])
        credentials = dict(response["credentials"])
        return cls(taken_until, credentials, time.monotonic() + _claim_seconds(taken_until, credentials))

    def seconds_left(self) -> float:
        return self.lapses_at - time.monotonic()


def _claim_seconds(taken_until: datetime, credentials: Mapping[str, str]) -> float:
    try:
        certificate = json.loads(credentials["certificate"])
        return float(certificate["expiry"] - certificate["start"]) / 1000
    except (KeyError, TypeError, ValueError):
        return seconds_until(taken_until)


class Claim:
    """One run this worker holds. The lease is swapped in one assignment, so readers never see a
    ``takenUntil`` from one reclaim with the credentials of another."""

    def __init__(self, task_id: str, run_id: int, task: Mapping[str, Any], lease: Lease) -> None:
        self.task_id = task_id
        self.run_id = run_id
        self.task = task
        self.lease = lease
        self._renewal_listeners: list[Callable[[], None]] = []

    @classmethod
    def from_claim_work(cls, entry: Mapping[str, Any]) -> Claim:
        """One element of ``claimWork``'s ``tasks``."""
        return cls(entry["status"]["taskId"], int(entry["runId"]), entry["task"], Lease.from_response(entry))

    @property
    def taken_until(self) -> datetime:
        return self.lease.taken_until

    def credentials(self) -> Mapping[str, str]:
        return self.lease.credentials

    def seconds_left(self) -> float:
        """Until the claim lapses unless reclaimed."""
        return self.lease.seconds_left()

    def renew(self, lease: Lease) -> None:
        self.lease = lease
        for listener in self._renewal_listeners:
            listener()

    def on_renew(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each renewal (what holds copies of the credentials swaps them)."""
        self._renewal_listeners.append(listener)

    @property
    def name(self) -> str:
        return str(self.task.get("metadata", {}).get("name", ""))

    @property
    def log_fields(self) -> dict[str, Any]:
        return {"taskId": self.task_id, "runId": self.run_id}

    def __repr__(self) -> str:
        return f"Claim({self.task_id}/{self.run_id}, takenUntil={self.taken_until.isoformat()})"
