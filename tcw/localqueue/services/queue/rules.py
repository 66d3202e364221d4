"""The queue's own request rules: its body checks (the input schemas, as code of ours) and createTask's
rules beyond the body's shape (dates, task queue, defaults).

The artifact methods' checks sit beside their handlers (artifacts.py); service.py joins both for the
dispatcher, which runs them before the handler, as the real service validates its input schema.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tcw.localqueue.core.checks import (
    IDENTIFIER,
    PRINTABLE,
    PROJECT_ID,
    PROVISIONER_ID,
    SLUGID,
    SOURCE_URL,
    TASK_QUEUE_ID,
    WORKER_TYPE,
    Check,
    array,
    date_time,
    fields,
    integer,
    json_object,
    one_of,
    string,
    string_map,
)
from tcw.localqueue.core.dates import format_date, parse_date
from tcw.localqueue.core.errors import InputError

PRIORITIES = ("highest", "very-high", "high", "medium", "low", "very-low", "lowest")
EXCEPTION_REASONS = (
    "worker-shutdown",
    "malformed-payload",
    "resource-unavailable",
    "internal-error",
    "intermittent-task",
)


IDENTIFIER_CHECK = string(IDENTIFIER)
SLUGID_CHECK = string(SLUGID)

TASK_METADATA = fields(
    {
        "name": string(max_length=255),
        "description": string(max_length=32768),
        "owner": string(max_length=255),
        "source": string(SOURCE_URL, max_length=4096),
    }
)

CREATE_TASK = fields(
    {"created": date_time, "deadline": date_time, "payload": json_object, "metadata": TASK_METADATA},
    {
        "expires": date_time,
        "dependencies": array(SLUGID_CHECK, max_items=10000, unique=True),
        "extra": json_object,
        "priority": one_of(*PRIORITIES),
        "projectId": string(PROJECT_ID),
        "provisionerId": string(PROVISIONER_ID),
        "workerType": string(WORKER_TYPE),
        "taskQueueId": string(TASK_QUEUE_ID),
        "requires": one_of("all-completed", "all-resolved"),
        "retries": integer(0, 49),
        "routes": array(string(min_length=1, max_length=249), max_items=64, unique=True),
        "schedulerId": IDENTIFIER_CHECK,
        "scopes": array(string(PRINTABLE)),
        "tags": string_map(string(max_length=4096)),
        "taskGroupId": SLUGID_CHECK,
    },
)

WORKER = {"workerGroup": IDENTIFIER_CHECK, "workerId": IDENTIFIER_CHECK}

# Input checks per method name of the task, claim and worker methods (artifacts.py holds its own);
# methods without an entry take no body (or ignore it).
BODY_CHECKS: dict[str, Check] = {
    "createTask": CREATE_TASK,
    "claimWork": fields({**WORKER, "tasks": integer(1, 32)}),
    "claimTask": fields(WORKER),
    "reportException": fields({"reason": one_of(*EXCEPTION_REASONS)}),
    "quarantineWorker": fields({"quarantineUntil": date_time}, {"quarantineInfo": string(max_length=4000)}),
    "declareWorker": fields({"expires": date_time}),
    "changeTaskPriority": fields({"newPriority": one_of(*PRIORITIES)}),
    "changeTaskGroupPriority": fields({"newPriority": one_of(*PRIORITIES)}),
    "tasks": fields({}, {"taskIds": array(string())}),
    "statuses": fields({}, {"taskIds": array(string())}),
}


# -- createTask's rules beyond the body's shape

MAX_DEADLINE = timedelta(days=5)
CLOCK_SKEW = timedelta(minutes=15)
DEFAULT_LIFETIME_AFTER_DEADLINE = timedelta(days=365)


def task_definition(task_id: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The stored definition (as ``task`` returns it): defaults filled, dates in the service's format."""
    task_queue_id = _task_queue_id(body)
    created, deadline = parse_date(body["created"]), parse_date(body["deadline"])
    _check_created_and_deadline(created, deadline, now)
    expires = parse_date(body["expires"]) if "expires" in body else _default_expiry(deadline)
    if deadline > expires:
        raise InputError("`expires` cannot be before `deadline`")
    provisioner_id, worker_type = task_queue_id.split("/", 1)
    return {
        "provisionerId": provisioner_id,
        "workerType": worker_type,
        "taskQueueId": task_queue_id,
        "schedulerId": body.get("schedulerId", "-"),
        "projectId": body.get("projectId", "none"),
        "taskGroupId": body.get("taskGroupId", task_id),
        "dependencies": body.get("dependencies", []),
        "requires": body.get("requires", "all-completed"),
        "routes": body.get("routes", []),
        "priority": body.get("priority", "lowest"),
        "retries": body.get("retries", 5),
        "created": format_date(created),
        "deadline": format_date(deadline),
        "expires": format_date(expires),
        "scopes": body.get("scopes", []),
        "payload": body["payload"],
        "metadata": body["metadata"],
        "tags": body.get("tags", {}),
        "extra": body.get("extra", {}),
    }


def _check_created_and_deadline(created: datetime, deadline: datetime, now: datetime) -> None:
    """The real service's checks, in its order and words: created within 15 min of now, then a deadline
    after it, not past, and at most 5 days ahead."""
    if created < now - CLOCK_SKEW:
        raise InputError("`created` cannot be in the past (max 15min drift)")
    if created > now + CLOCK_SKEW:
        raise InputError("`created` cannot be in the future (max 15min drift)")
    if created > deadline:
        raise InputError("`deadline` cannot be later than `created`")
    if deadline < now:
        raise InputError("`deadline` cannot be in the past")
    if deadline > now + MAX_DEADLINE + CLOCK_SKEW:
        raise InputError(f"`deadline` cannot be more than {MAX_DEADLINE.days} days into the future")


def _default_expiry(deadline: datetime) -> datetime:
    """A year after the deadline (which is at most days ahead here, so this never leaves the calendar)."""
    return deadline + DEFAULT_LIFETIME_AFTER_DEADLINE


def _task_queue_id(body: dict[str, Any]) -> str:
    given = body.get("taskQueueId")
    legacy = (body.get("provisionerId"), body.get("workerType"))
    if given is None:
        if None in legacy:
            raise InputError("A task needs taskQueueId (or both provisionerId and workerType)")
        return f"{legacy[0]}/{legacy[1]}"
    if legacy != (None, None) and f"{legacy[0]}/{legacy[1]}" != given:
        raise InputError("taskQueueId must equal provisionerId/workerType when both are given")
    return str(given)


def priorities_at_least(priority: str) -> list[str]:
    """A create-task scope for a higher priority also allows lower ones."""
    return list(PRIORITIES[: PRIORITIES.index(priority) + 1])
