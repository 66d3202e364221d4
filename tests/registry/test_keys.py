"""Glob keys: what matches, which wins, and which pairs tie."""

from __future__ import annotations

import pytest

from tcw.registry import keys


@pytest.mark.parametrize(
    ("key", "queue", "expected"),
    [
        ("proj/linux", "proj/linux", True),
        ("proj/linux", "proj/linux2", False),
        ("proj-*/linux-*", "proj-ci/linux-large", True),
        ("proj-*/linux-*", "proj-ci/win-large", False),
        ("*/*", "a/b", True),
        ("p?/w", "p1/w", True),
        ("p?/w", "p12/w", False),
        ("*", "a/b", False),  # a wildcard never crosses the /
        ("shell", "shell", False),  # named schemas match no queue
    ],
)
def test_matches(key: str, queue: str, expected: bool) -> None:
    assert (keys.is_queue_key(key) and keys.matches(key, queue)) is expected


def test_the_most_specific_key_wins() -> None:
    known = ["*/*", "proj-*/*", "proj-*/linux-*", "proj-ci/linux-*", "proj-ci/linux-large", "shell"]
    assert keys.best_key(known, "proj-ci/linux-large") == "proj-ci/linux-large"
    assert keys.best_key(known, "proj-ci/linux-small") == "proj-ci/linux-*"
    assert keys.best_key(known, "proj-rel/linux-small") == "proj-*/linux-*"
    assert keys.best_key(known, "proj-rel/mac") == "proj-*/*"
    assert keys.best_key(known, "other/mac") == "*/*"
    assert keys.best_key(["shell"], "a/b") is None


@pytest.mark.parametrize(
    ("first", "second", "tie"),
    [
        ("proj-*/linux", "*oj-ci/linux", True),  # proj-ci/linux matches both, 5+5 literals each
        ("a*/x", "b*/x", False),  # no queue matches both
        ("proj-*/linux-*", "proj-*/*", False),  # different specificity: the longer wins
        ("p?/w*", "?q/w*", True),
        ("ab*/w", "*ba/w", True),
        ("a*b/w", "c*/w", False),
    ],
)
def test_ties(first: str, second: str, tie: bool) -> None:
    assert (keys.find_ties([first, second]) == [tuple(sorted((first, second)))]) is tie


@pytest.mark.parametrize("bad", ["a/b/c", "a b/c", "/x", "p/", "proj/linux!", "with space", "x" * 39 + "/y"])
def test_bad_keys_are_explained(bad: str) -> None:
    assert keys.key_problem(bad) is not None


def test_nearest_keys_come_first() -> None:
    assert keys.nearest(["proj/linux", "proj/windows", "shell"], "proj/linx")[0] == "proj/linux"
