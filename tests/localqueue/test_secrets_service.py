"""The local secrets service through the official client: its routes and scopes against the official
reference, and its behaviour: scopes before existence, expiry honoured by get, list and the sweep,
pagination, bad bodies, persistence. test_conformance calls ``exercise_secrets`` with its schema checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import taskcluster

from tcw.localqueue.http.routes import service_routes
from tcw.localqueue.server import LocalQueue
from tests.support.localqueue import api_failure, from_now
from tests.support.references import References
from tests.support.waiting import wait_for

SERVICE = "secrets"


def exercise_secrets(call: Callable[..., Any]) -> None:
    """Every secrets method once, through ``call(name, *args)``: test_conformance's caller, which validates
    each body and answer against the official schemas."""
    name = "project/tcw-conformance/secret"
    assert call("set", name, {"secret": {"k": "v"}, "expires": from_now(hours=1)}) == {}
    assert call("get", name)["secret"] == {"k": "v"}
    assert name in call("list")["secrets"]
    call("remove", name)
    for method in ("ping", "lbheartbeat", "heartbeat", "version"):
        call(method)


@pytest.fixture
def secrets(local_queue: LocalQueue) -> Any:
    """The official client with the root credentials: every scope."""
    return taskcluster.Secrets(local_queue.client_options())


def as_client(local_queue: LocalQueue, scopes: list[str]) -> Any:
    credentials = local_queue.add_client(f"tests/secrets-{taskcluster.slugId()}", scopes)
    return taskcluster.Secrets(local_queue.client_options(credentials))


def test_route_table_matches_the_reference(references: References) -> None:
    from tcw.localqueue import deployment

    reference = references.api(SERVICE)
    table = service_routes(SERVICE).routes
    served = set(deployment.all_handlers()[SERVICE])
    assert served == set(reference), served ^ set(reference)
    for name in served:
        assert table[name].method == reference[name]["method"].upper(), name
        assert table[name].pattern == reference[name]["route"], name
        assert table[name].output_schema == reference[name].get("output"), name
        assert table[name].input_schema == reference[name].get("input"), name


def test_set_get_update_remove(secrets: Any) -> None:
    name = "project/x/deploy key"  # slashes and spaces travel in the greedy route argument
    expires = from_now(days=1)
    assert secrets.set(name, {"secret": {"token": "one"}, "expires": expires}) == {}
    got = secrets.get(name)
    assert got["secret"] == {"token": "one"}
    assert got["expires"].endswith("Z")
    secrets.set(name, {"secret": {"token": "two", "nested": [1, {"a": None}]}, "expires": expires})
    assert secrets.get(name)["secret"] == {"token": "two", "nested": [1, {"a": None}]}
    assert secrets.remove(name) == {}
    assert secrets.remove(name) == {}  # removing a missing secret succeeds, as the real service
    failure = api_failure(secrets.get, name)
    assert failure.status_code == 404 and failure.body["message"] == "Secret not found"


def test_scopes_are_checked_before_existence(local_queue: LocalQueue, secrets: Any) -> None:
    secrets.set("project/x", {"secret": {"v": 1}, "expires": from_now(hours=1)})
    reader = as_client(local_queue, ["secrets:get:project/x"])
    assert reader.get("project/x")["secret"] == {"v": 1}
    for name in ("project/y", "project/x/sub", "project/missing"):
        failure = api_failure(reader.get, name)
        assert failure.status_code == 403 and failure.body["code"] == "InsufficientScopes", name
    for call in (
        lambda: reader.set("project/x", {"secret": {}, "expires": from_now(hours=1)}),
        lambda: reader.remove("project/x"),
        reader.list,
    ):
        assert api_failure(call).status_code == 403
    wildcard = as_client(local_queue, ["secrets:get:project/*", "secrets:set:project/z"])
    assert wildcard.get("project/x")["secret"] == {"v": 1}
    wildcard.set("project/z", {"secret": {"z": True}, "expires": from_now(hours=1)})


def test_expired_secrets_are_not_read_listed_or_kept(local_queue: LocalQueue, secrets: Any) -> None:
    secrets.set("gone", {"secret": {"old": 1}, "expires": from_now(minutes=-1)})
    secrets.set("kept", {"secret": {"new": 1}, "expires": from_now(hours=1)})
    assert api_failure(secrets.get, "gone").status_code == 404
    assert secrets.list()["secrets"] == ["kept"]

    def stored() -> list[str]:
        return [row[0] for row in local_queue.state.db.execute("SELECT name FROM secrets").fetchall()]

    wait_for(lambda: stored() == ["kept"])
    secrets.set("gone", {"secret": {"again": 1}, "expires": from_now(hours=1)})  # set revives it
    assert secrets.get("gone")["secret"] == {"again": 1}


def test_list_pages_through_every_name(secrets: Any) -> None:
    names = [f"page/{index:02}" for index in range(5)]
    for name in names:
        secrets.set(name, {"secret": {}, "expires": from_now(hours=1)})
    seen: list[str] = []
    query: dict[str, str] = {"limit": "2"}
    while True:
        page = secrets.list(query=query)
        seen.extend(page["secrets"])
        if "continuationToken" not in page:
            break
        query = {"limit": "2", "continuationToken": page["continuationToken"]}
    assert seen == names
    assert api_failure(secrets.list, query={"limit": "nope"}).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"secret": {"a": 1}},  # no expires
        {"expires": "2030-01-01T00:00:00Z"},  # no secret
        {"secret": "text", "expires": "2030-01-01T00:00:00Z"},  # the value must be an object
        {"secret": {}, "expires": "next week"},
        {"secret": {}, "expires": "2030-01-01T00:00:00Z", "extra": 1},
    ],
)
def test_bad_bodies_are_refused_with_400(local_queue: LocalQueue, body: dict[str, Any]) -> None:
    client = taskcluster.Secrets(local_queue.client_options())
    failure = api_failure(client.set, "project/x", body)
    assert failure.status_code == 400 and failure.body["code"] == "InputValidationError"
    assert api_failure(client.get, "project/x").status_code == 404  # nothing was stored


def test_secrets_survive_a_restart(make_local_queue: Callable[..., LocalQueue], tmp_path: Any) -> None:
    db = str(tmp_path / "queue.sqlite3")
    first = make_local_queue(db=db)
    taskcluster.Secrets(first.client_options()).set(
        "kept", {"secret": {"v": 1}, "expires": from_now(hours=1)}
    )
    first.stop()
    second = make_local_queue(db=db)
    assert taskcluster.Secrets(second.client_options()).get("kept")["secret"] == {"v": 1}
