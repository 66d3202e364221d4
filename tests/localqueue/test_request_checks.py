"""Our request checks (code of ours: rules.py, artifacts.py, objects.py) against the official input
schemas: for every served method that takes a body, valid bodies and bodies that each break one rule are
accepted by the function the dispatcher calls exactly when the official schema accepts them.

Broken bodies come from two places: the hand-written ones below (values outside an enum, a length or a range;
patterns), and ones made from every valid body (each property removed, given a value of another JSON type,
and an unexpected property added to each object). Strings are never swapped for other strings there: the
reference validator checks no ``date-time`` or ``uri`` format without optional packages, while ours does.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import taskcluster

from tcw.localqueue import deployment
from tcw.localqueue.core.errors import InputValidationError
from tcw.localqueue.http.routes import service_routes
from tests.localqueue import worker_manager_bodies
from tests.support.localqueue import from_now
from tests.support.references import References
from tests.support.tasks import task_definition

pytestmark = pytest.mark.conformance

SLUG = taskcluster.slugId()
WHEN = from_now(days=1)
WORKER = {"workerGroup": "group", "workerId": "worker"}
FULL_TASK = task_definition(
    expires=from_now(days=30),
    dependencies=[SLUG],
    extra={"nested": {"list": [1, "two", None]}},
    priority="high",
    projectId="tcw/project",
    provisionerId="tcw-test",
    workerType="worker",
    requires="all-resolved",
    retries=0,
    routes=["index.a"],
    schedulerId="scheduler",
    scopes=["queue:x:*"],
    tags={"kind": "test"},
    taskGroupId=SLUG,
)
LEGACY_TASK = {**{k: v for k, v in task_definition().items() if k != "taskQueueId"}, "provisionerId": "p"}
LEGACY_TASK["workerType"] = "w"
SHA256, SHA512 = "a" * 64, "b" * 128
UPLOAD = {"projectId": "tcw", "uploadId": SLUG, "expires": WHEN}
INLINE = {"contentType": "text/plain", "objectData": "aGVsbG8="}
PUT_URL = {"contentType": "text/plain", "contentLength": 5}
S3 = {"storageType": "s3", "contentType": "text/plain", "expires": WHEN}
ERROR_ARTIFACT = {
    "storageType": "error",
    "reason": "file-missing-on-worker",
    "message": "gone",
    "expires": WHEN,
}

VALID: dict[tuple[str, str], list[Any]] = {
    ("queue", "createTask"): [task_definition(), FULL_TASK, LEGACY_TASK, task_definition(retries=3.0)],
    ("queue", "claimWork"): [{**WORKER, "tasks": 1}, {**WORKER, "tasks": 32}],
    ("queue", "claimTask"): [WORKER],
    ("queue", "reportException"): [{"reason": "malformed-payload"}, {"reason": "intermittent-task"}],
    ("queue", "quarantineWorker"): [{"quarantineUntil": WHEN, "quarantineInfo": "x" * 4000}],
    ("queue", "declareWorker"): [{"expires": WHEN}],
    ("queue", "changeTaskPriority"): [{"newPriority": "very-low"}],
    ("queue", "changeTaskGroupPriority"): [{"newPriority": "highest"}],
    ("queue", "tasks"): [{"taskIds": [SLUG, "anything"]}, {}],
    ("queue", "statuses"): [{"taskIds": [SLUG, SLUG]}],
    ("queue", "createArtifact"): [
        {**S3, "contentLength": 0},
        {**S3, "storageType": "object"},
        {
            "storageType": "reference",
            "url": "https://example.com/a",
            "contentType": "text/html",
            "expires": WHEN,
        },
        {"storageType": "link", "artifact": "public/a", "expires": WHEN},
        {"storageType": "link", "artifact": "public/a", "contentType": "text/plain", "expires": WHEN},
        ERROR_ARTIFACT,
    ],
    ("queue", "finishArtifact"): [{"uploadId": SLUG}],
    ("object", "createUpload"): [
        {**UPLOAD, "proposedUploadMethods": {"dataInline": INLINE, "putUrl": PUT_URL}},
        {**UPLOAD, "proposedUploadMethods": {}, "hashes": {"sha256": SHA256, "sha512": SHA512, "md5": "x"}},
    ],
    ("object", "finishUpload"): [{"projectId": "tcw", "uploadId": SLUG, "hashes": {"sha256": SHA256}}],
    ("object", "startDownload"): [
        {"acceptDownloadMethods": {"simple": True, "getUrl": True}},
        {"acceptDownloadMethods": {}},
    ],
    ("secrets", "set"): [
        {"secret": {"token": "t", "nested": {"a": [1]}}, "expires": WHEN},
        {"secret": {}, "expires": WHEN},
    ],
}
VALID.update(worker_manager_bodies.VALID)


def _task(**changes: Any) -> dict[str, Any]:
    return task_definition(**changes)


def _metadata(**changes: Any) -> dict[str, Any]:
    return _task(metadata={**task_definition()["metadata"], **changes})


BROKEN: dict[tuple[str, str], list[Any]] = {
    ("queue", "createTask"): [
        _task(priority="normal"),
        _task(requires="any"),
        _task(retries=50),
        _task(retries=-1),
        _task(retries=2.5),
        _task(retries=True),
        _task(routes=[""]),
        _task(routes=["r" * 250]),
        _task(routes=["same", "same"]),
        _task(routes=[f"r{i}" for i in range(65)]),
        _task(dependencies=[SLUG, SLUG]),
        _task(dependencies=["not-a-slug"]),
        _task(taskGroupId="short"),
        _task(projectId=""),
        _task(projectId="with space"),
        _task(schedulerId="s" * 39),
        _task(schedulerId=""),
        _task(taskQueueId="Upper/worker"),
        _task(taskQueueId="no-slash"),
        _task(workerType="Upper"),
        _task(provisionerId="p" * 39),
        _task(scopes=["caf\u00e9"]),
        _task(tags={"k": "v" * 4097}),
        _metadata(name="n" * 256),
        _metadata(owner="o" * 256),
        _metadata(description="d" * 32769),
        _metadata(source="ftp://example.com"),
        _metadata(source="https://" + "s" * 4096),
    ],
    ("queue", "claimWork"): [
        {**WORKER, "tasks": 0},
        {**WORKER, "tasks": 33},
        {**WORKER, "tasks": True},
        {**WORKER, "tasks": 1.5},
        {**WORKER, "tasks": 1, "workerGroup": ""},
        {**WORKER, "tasks": 1, "workerGroup": "g" * 39},
        {**WORKER, "tasks": 1, "workerId": "with space"},
    ],
    ("queue", "reportException"): [{"reason": "superseded"}, {"reason": "claim-expired"}],
    ("queue", "quarantineWorker"): [{"quarantineUntil": WHEN, "quarantineInfo": "x" * 4001}],
    ("queue", "changeTaskPriority"): [{"newPriority": "normal"}],
    ("queue", "createArtifact"): [
        {**S3, "storageType": "nope"},
        {**S3, "contentLength": -1},
        {**S3, "contentType": "t" * 256},
        {**S3, "storageType": "object", "url": "https://example.com/a"},
        {**ERROR_ARTIFACT, "message": "m" * 4097},
        {**ERROR_ARTIFACT, "reason": "other"},
        {**ERROR_ARTIFACT, "storageType": ["error"]},
    ],
    ("queue", "finishArtifact"): [{"uploadId": "not-a-slug"}],
    ("object", "createUpload"): [
        {**UPLOAD, "projectId": "", "proposedUploadMethods": {}},
        {**UPLOAD, "uploadId": "not-a-slug", "proposedUploadMethods": {}},
        {**UPLOAD, "proposedUploadMethods": {}, "hashes": {"sha256": "A" * 64}},
        {**UPLOAD, "proposedUploadMethods": {}, "hashes": {"sha512": "b" * 127}},
        {**UPLOAD, "proposedUploadMethods": {"dataInline": {**INLINE, "objectData": "x" * 10927}}},
        {**UPLOAD, "proposedUploadMethods": {"putUrl": {**PUT_URL, "contentLength": -5}}},
    ],
    ("object", "startDownload"): [
        {"acceptDownloadMethods": {"simple": False}},
        {"acceptDownloadMethods": {"simple": 1}},
        {"acceptDownloadMethods": {"other": True}},
    ],
    ("secrets", "set"): [{"secret": [], "expires": WHEN}, {"secret": "text", "expires": WHEN}],
}
BROKEN.update(worker_manager_bodies.BROKEN)

OTHER_TYPE = {str: 7, int: "7", float: "7.5", bool: "true", dict: [], list: {}, type(None): 0}
UNEXPECTED = "tcwUnexpected"


def _places(value: Any, place: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value nested in ``value``."""
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield (*place, key)
        yield from _places(child, (*place, key))


def _at(body: Any, place: tuple[Any, ...]) -> Any:
    for key in place:
        body = body[key]
    return body


def _changed(body: Any, place: tuple[Any, ...], action: str) -> Any:
    """A copy of ``body`` with the value at ``place`` removed, retyped, or (an object) given an extra key."""
    changed = copy.deepcopy(body)
    if action == "extend":
        _at(changed, place)[UNEXPECTED] = "x"
        return changed
    parent, key = _at(changed, place[:-1]), place[-1]
    if action == "remove":
        del parent[key]
    else:
        parent[key] = OTHER_TYPE[type(parent[key])]
    return changed


def _mutations(body: Any) -> Iterator[Any]:
    """``body`` changed at one place at a time (most changes break a rule, some the schema allows)."""
    yield from ([], 7, "body")
    yield _changed(body, (), "extend")
    for place in _places(body):
        if isinstance(_at(body, place[:-1]), dict):
            yield _changed(body, place, "remove")
        yield _changed(body, place, "retype")
        if isinstance(_at(body, place), dict):
            yield _changed(body, place, "extend")


def _ours_accept(service: str, name: str, body: Any) -> bool:
    try:
        deployment.check_request_body(service, name, body)
    except InputValidationError:
        return False
    return True


def _official_accepts(references: References, schema: str, service: str, body: Any) -> bool:
    try:
        references.validate(service, schema, body)
    except jsonschema.ValidationError:
        return False
    return True


def _methods_with_input() -> set[tuple[str, str]]:
    return {
        (service, name)
        for service, handlers in deployment.all_handlers().items()
        for name in handlers
        if service_routes(service).routes[name].input_schema
    }


def test_every_method_with_a_body_has_cases() -> None:
    assert set(VALID) == _methods_with_input()
    assert set(BROKEN) <= set(VALID)


def test_our_checks_accept_exactly_what_the_official_schemas_accept(references: References) -> None:
    disagreements, cases = [], 0
    for (service, name), valid_bodies in VALID.items():
        schema = service_routes(service).routes[name].input_schema
        assert schema is not None
        for body in valid_bodies:
            assert _official_accepts(references, schema, service, body), f"not valid for {name}: {body!r}"
        mutated = [changed for body in valid_bodies for changed in _mutations(body)]
        for body in [*valid_bodies, *BROKEN.get((service, name), []), *mutated]:
            cases += 1
            official = _official_accepts(references, schema, service, body)
            if _ours_accept(service, name, body) != official:
                verdict = "accepts" if official else "refuses"
                disagreements.append(f"{service}.{name}: the official schema {verdict} {body!r}")
    assert not disagreements, "\n".join(disagreements)
    assert cases > 400  # the mutations were made


@pytest.mark.parametrize("field", ["workerGroup", "workerId"])
def test_ids_ending_in_a_newline_are_refused(field: str) -> None:
    """JavaScript's ``$`` (the real service's) ends the string; Python's also matches before a final
    newline, so the reference validator cannot tell, but the real queue refuses such an id."""
    assert _ours_accept("queue", "claimWork", {**WORKER, "tasks": 1})
    assert not _ours_accept("queue", "claimWork", {**WORKER, "tasks": 1, field: "worker\n"})
