"""Registry keys: exact task queue ids, glob patterns over them, and bare schema names.

A key is one of:

- a task queue id, ``provisionerId/workerType`` (``proj-ci/linux-large``);
- a glob over task queue ids, ``*`` (any run of characters) and ``?`` (one character) allowed in either
  part (``proj-*/linux-*``); a wildcard never crosses the ``/``;
- a bare name without ``/`` (``shell``): a named schema that matches no queue by itself, but which an index
  file or the config can point a queue pattern at.

Specificity decides between globs that match the same queue: an exact key beats every glob, and among
globs the one with more literal (non-wildcard) characters wins. Two globs with the same specificity that
could both match one queue id are a tie, which :func:`find_ties` reports when the registry loads, before any
queue is ever looked up.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from functools import cache

_PART = re.compile(r"^[a-zA-Z0-9_*?-]{1,38}$")
_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
WILDCARDS = "*?"


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be a registry key, or None when it can."""
    if "/" not in key:
        return None if _NAME.match(key) else f"{key!r} is not a schema name (letters, digits, _ . -)"
    parts = key.split("/")
    if len(parts) != 2 or not all(_PART.match(part) for part in parts):
        return (
            f"{key!r} is not a task queue id or pattern like provisionerId/workerType "
            "(letters, digits, _ and -, with * and ? as wildcards)"
        )
    return None


def is_queue_key(key: str) -> bool:
    """Keys with a ``/`` stand for task queues; bare names are named schemas."""
    return "/" in key


def is_glob(key: str) -> bool:
    return any(char in key for char in WILDCARDS)


def specificity(key: str) -> float:
    """Higher wins: exact keys always, then the glob with the most literal characters."""
    if not is_glob(key):
        return float("inf")
    return float(sum(char not in WILDCARDS + "/" for char in key))


def matches(key: str, task_queue_id: str) -> bool:
    """Whether ``key`` stands for ``task_queue_id`` (part by part, so ``*`` never crosses the ``/``)."""
    if not is_glob(key):
        return key == task_queue_id
    key_parts = key.split("/")
    queue_parts = task_queue_id.split("/")
    return len(queue_parts) == 2 and all(
        fnmatch.fnmatchcase(part, pattern) for part, pattern in zip(queue_parts, key_parts, strict=True)
    )


def globs_overlap(first: str, second: str) -> bool:
    """Whether some task queue id matches both patterns."""
    return all(_parts_overlap(a, b) for a, b in zip(first.split("/"), second.split("/"), strict=True))


@cache
def _parts_overlap(a: str, b: str) -> bool:
    """Whether two globs (``*``, ``?`` and literals) have a common match; a walk over both at once."""
    if not a or not b:
        rest = a or b
        return all(char == "*" for char in rest)
    if a[0] == "*":
        return _parts_overlap(a[1:], b) or _parts_overlap(a, b[1:])
    if b[0] == "*":
        return _parts_overlap(a, b[1:]) or _parts_overlap(a[1:], b)
    compatible = a[0] == b[0] or "?" in (a[0], b[0])
    return compatible and _parts_overlap(a[1:], b[1:])


def find_ties(keys: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of distinct globs that could match one queue with the same specificity."""
    globs = sorted({key for key in keys if is_queue_key(key) and is_glob(key)})
    return [
        (first, second)
        for index, first in enumerate(globs)
        for second in globs[index + 1 :]
        if specificity(first) == specificity(second) and globs_overlap(first, second)
    ]


def most_specific(keys: Iterable[str], task_queue_id: str) -> list[str]:
    """The keys matching ``task_queue_id`` with the highest specificity, sorted; more than one is a tie."""
    candidates = [key for key in keys if is_queue_key(key) and matches(key, task_queue_id)]
    if not candidates:
        return []
    best = max(specificity(key) for key in candidates)
    return sorted(key for key in candidates if specificity(key) == best)


def best_key(keys: Iterable[str], task_queue_id: str) -> str | None:
    """The most specific key matching ``task_queue_id`` (ties were refused at load)."""
    tied = most_specific(keys, task_queue_id)
    return tied[-1] if tied else None


def nearest(keys: Iterable[str], wanted: str, count: int = 3) -> list[str]:
    """Known keys that look like ``wanted``, closest first (for "did you mean" messages)."""
    known = sorted(set(keys))
    close = difflib.get_close_matches(wanted, known, n=count, cutoff=0.4)
    return close or known[:count]
