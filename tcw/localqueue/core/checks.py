"""Request checks of our own: route arguments and request bodies, with the real service's 400 answers.

tcw must run without the official references, so the rules here are written as small composable checks
(`string`, `integer`, `fields`...), not loaded from schemas. Each check returns every problem it sees, with
its place, so one 400 tells a caller everything that is wrong. Each service composes its own body checks
from these (services/*/rules.py); also here: the list methods' pagination arguments, shared by all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tcw.localqueue.core.dates import parse_date
from tcw.localqueue.core.errors import InputError, InputValidationError, InvalidRequestArguments

# The official patterns, ending in \Z where they end in $: JavaScript's $ (the real service's) ends the
# string, Python's also matches before a final newline and would let "worker\n" pass as an id.
SLUGID = re.compile(r"^[A-Za-z0-9_-]{8}[Q-T][A-Za-z0-9_-][CGKOSWaeimquy26-][A-Za-z0-9_-]{10}[AQgw]\Z")
IDENTIFIER = re.compile(r"^[a-zA-Z0-9-_]{1,38}\Z")
PROVISIONER_ID = IDENTIFIER
WORKER_TYPE = re.compile(r"^[a-z]([-a-z0-9]{0,36}[a-z0-9])?\Z")
TASK_QUEUE_ID = re.compile(r"^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?\Z")
RUN_ID = re.compile(r"^[0-9]{1,4}\Z")
PROJECT_ID = re.compile(r"^[a-zA-Z0-9._/-]{1,500}\Z")
PRINTABLE = re.compile(r"^[ -~]*\Z")
SOURCE_URL = re.compile(r"^(https?://|ssh://|git@)")
SHA256 = re.compile(r"^[a-z0-9]{64}\Z")
SHA512 = re.compile(r"^[a-z0-9]{128}\Z")
# Route argument rules, by argument name; arguments not named here are taken as they come.
PARAM_PATTERNS: dict[str, re.Pattern[str]] = {
    "taskId": SLUGID,
    "taskGroupId": SLUGID,
    "runId": RUN_ID,
    "taskQueueId": TASK_QUEUE_ID,
    "provisionerId": PROVISIONER_ID,
    "workerType": WORKER_TYPE,
    "workerGroup": IDENTIFIER,
    "workerId": IDENTIFIER,
}

Check = Callable[[Any, str], list[str]]


def check_params(params: Mapping[str, str]) -> None:
    """400 InvalidRequestArguments when a route argument breaks its pattern (runId also 0..1000)."""
    problems = [
        f"{name} {value!r} does not match {PARAM_PATTERNS[name].pattern}"
        for name, value in params.items()
        if name in PARAM_PATTERNS and not PARAM_PATTERNS[name].match(value)
    ]
    if "runId" in params and not problems and int(params["runId"]) > 1000:
        problems.append(f"runId {params['runId']} is above 1000")
    if problems:
        raise InvalidRequestArguments("Invalid request arguments:\n" + "\n".join(problems))


def check_body(check: Check, body: Any) -> None:
    """400 InputValidationError listing every problem of ``body``."""
    problems = check(body, "body")
    if problems:
        raise InputValidationError("Schema validation error:\n" + "\n".join(problems))


def string(
    pattern: re.Pattern[str] | None = None, *, min_length: int = 0, max_length: int | None = None
) -> Check:
    def check(value: Any, place: str) -> list[str]:
        if not isinstance(value, str):
            return [f"{place} must be a string"]
        if len(value) < min_length:
            return [f"{place} must be at least {min_length} characters long"]
        if max_length is not None and len(value) > max_length:
            return [f"{place} must be at most {max_length} characters long"]
        if pattern is not None and not pattern.match(value):
            return [f"{place} must match {pattern.pattern}"]
        return []

    return check


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    """A JSON Schema integer: ``3.0`` is one (JavaScript cannot tell it from 3), ``True`` is not."""

    def check(value: Any, place: str) -> list[str]:
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not integral:
            return [f"{place} must be an integer"]
        too_small = minimum is not None and value < minimum
        if too_small or (maximum is not None and value > maximum):
            return [f"{place} must be {_range_text(minimum, maximum)}"]
        return []

    return check


def _range_text(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"between {minimum} and {maximum}"
    return f"at least {minimum}" if minimum is not None else f"at most {maximum}"


def one_of(*choices: str) -> Check:
    def check(value: Any, place: str) -> list[str]:
        if value not in choices:
            return [f"{place} must be one of {', '.join(choices)}"]
        return []

    return check


def is_true(value: Any, place: str) -> list[str]:
    return [] if value is True else [f"{place} must be true"]


def date_time(value: Any, place: str) -> list[str]:
    try:
        parse_date(value)
    except (ValueError, TypeError):
        return [f"{place} must be an ISO 8601 date-time with a time zone"]
    return []


def json_object(value: Any, place: str) -> list[str]:
    return [] if isinstance(value, dict) else [f"{place} must be an object"]


def array(item: Check, *, max_items: int | None = None, unique: bool = False) -> Check:
    def check(value: Any, place: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{place} must be an array"]
        if max_items is not None and len(value) > max_items:
            return [f"{place} must have at most {max_items} items"]
        problems = [p for index, element in enumerate(value) for p in item(element, f"{place}[{index}]")]
        if unique and not problems and len({repr(element) for element in value}) != len(value):
            problems.append(f"{place} must not repeat items")
        return problems

    return check


def string_map(value_check: Check) -> Check:
    def check(value: Any, place: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{place} must be an object"]
        return [p for key, element in value.items() for p in value_check(element, f"{place}.{key}")]

    return check


def any_value(value: Any, place: str) -> list[str]:
    return []


def fields(
    required: Mapping[str, Check], optional: Mapping[str, Check] | None = None, *, others: Check | None = None
) -> Check:
    """An object with these properties, each checked; any other property is checked by ``others``, and
    refused when ``others`` is None."""
    optional = optional or {}

    def check(value: Any, place: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{place} must be an object"]
        problems = [f"{place}.{name} is required" for name in required if name not in value]
        for name, element in value.items():
            rule = required.get(name) or optional.get(name) or others
            if rule is None:
                problems.append(f"{place}.{name} is not allowed")
            else:
                problems.extend(rule(element, f"{place}.{name}"))
        return problems

    return check


def tagged(tag: str, variants: Mapping[str, Check]) -> Check:
    """One of several object shapes, chosen by the value of its ``tag`` property (a schema's ``oneOf``
    whose branches each fix that property to one value)."""
    unknown = fields({tag: one_of(*variants)}, others=any_value)

    def check(value: Any, place: str) -> list[str]:
        chosen = value.get(tag) if isinstance(value, dict) else None
        rule = variants.get(chosen, unknown) if isinstance(chosen, str) else unknown
        return rule(value, place)

    return check


# -- pagination

MAX_PAGE = 1000


LIMIT = re.compile(r"^[0-9]+\Z")  # the real service's pattern, ASCII digits only
TOKEN = re.compile(r"^[0-9]{1,12}\Z")  # the offsets our continuation tokens carry


def page(query: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` from a list method's query: page size min(limit, 1000) (a limit of any length
    is a big one, as the real service's parseInt takes it), and the offset our continuation tokens carry
    (opaque to callers: one we did not hand out is the real service's 400 for an undecodable token)."""
    raw_limit = query.get("limit", str(MAX_PAGE))
    if not LIMIT.match(raw_limit):
        raise InvalidRequestArguments(
            f"Query-string parameter: limit={_shown(raw_limit)} does not match expression: /^[0-9]+$/"
        )
    limit = MAX_PAGE if len(raw_limit.lstrip("0")) > len(str(MAX_PAGE)) else min(int(raw_limit), MAX_PAGE)
    if limit < 1:
        raise InvalidRequestArguments(f"limit must be a positive integer, got {_shown(raw_limit)}")
    token = query.get("continuationToken", "0")
    if not TOKEN.match(token):
        raise InputError(f"Invalid continuation token {_shown(token)}")
    return limit, int(token)


def _shown(value: str, most: int = 60) -> str:
    """A caller's value quoted in an answer, cut short: a 5000-digit limit need not come back whole."""
    return repr(value) if len(value) <= most else repr(value[:most]) + "..."


def next_token(offset: int, limit: int, returned: int) -> dict[str, str]:
    """``{"continuationToken": ...}`` when a full page was returned (more may follow), else ``{}``."""
    return {"continuationToken": str(offset + limit)} if returned >= limit else {}
