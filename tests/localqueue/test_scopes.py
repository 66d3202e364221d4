"""Scope satisfaction, expression rendering, the 403 message, and our expression table vs the reference."""

from __future__ import annotations

from typing import Any

import pytest
import taskcluster

from tcw.localqueue.auth.scopes import (
    Caller,
    missing_scopes,
    render,
    satisfies,
    satisfies_expression,
)
from tcw.localqueue.core.errors import InsufficientScopes
from tcw.localqueue.deployment import SCOPE_EXPRESSIONS, SERVICES, authorize, scope_expressions
from tcw.localqueue.http.routes import client_class_name
from tcw.localqueue.services.api import ApiCall, Service


@pytest.mark.parametrize(
    ("held", "required", "expected"),
    [
        (["queue:get-task:abc"], "queue:get-task:abc", True),
        (["queue:get-task:*"], "queue:get-task:abc", True),
        (["queue:get-task:*"], "queue:get-task:", True),
        (["queue:*"], "queue:get-task:abc", True),
        (["*"], "anything:at/all", True),
        (["queue:get-task:ab"], "queue:get-task:abc", False),
        (["queue:get-task:abc"], "queue:get-task:ab", False),
        (["queue:get-task:abc*"], "queue:get-task:ab", False),
        (["queue:get-task*x"], "queue:get-task:x", False),  # only a trailing * is special
        (["queue:get-task:abc"], "queue:get-task:*", False),
        (["queue:get-task:*"], "queue:get-task:*", True),
        (["assume:anonymous"], "assume:anon", False),  # assume: is an ordinary prefix here
        ([], "queue:ping", False),
    ],
)
def test_satisfies(held: list[str], required: str, expected: bool) -> None:
    assert satisfies(held, required) is expected


def test_render_substitutes_and_expands_each() -> None:
    params = {
        "scopes": ["a", "b"],
        "routes": ["index.x"],
        "projectId": "p",
        "schedulerId": "s",
        "priorities": ["high", "normal"],
        "provisionerId": "prov",
        "workerType": "wt",
    }
    assert render(SCOPE_EXPRESSIONS["createTask"] or "", params) == {
        "AllOf": [
            "a",
            "b",
            "queue:route:index.x",
            "queue:create-task:project:p",
            "queue:scheduler-id:s",
            {"AnyOf": ["queue:create-task:high:prov/wt", "queue:create-task:normal:prov/wt"]},
        ]
    }


def test_render_missing_parameter_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="schedulerId"):
        render(SCOPE_EXPRESSIONS["cancelTask"] or "", {"taskId": "t", "taskGroupId": "g", "projectId": "p"})


def test_render_each_needs_a_list() -> None:
    with pytest.raises(TypeError, match="names"):
        render(SCOPE_EXPRESSIONS["getArtifact"] or "", {"names": "public/x"})


def test_expressions_and_what_is_missing() -> None:
    expression = {"AnyOf": ["a", {"AllOf": ["b", "c", "d"]}]}
    assert satisfies_expression(["b", "c", "d"], expression)
    assert not satisfies_expression(["b", "c"], expression)
    assert missing_scopes(["b", "c"], expression) == {"AnyOf": ["a", "d"]}
    assert missing_scopes(["a"], expression) is None
    assert missing_scopes(["x"], {"AllOf": ["x", "y"]}) == "y"
    assert satisfies_expression([], {"AllOf": []})
    assert not satisfies_expression(["*"], {"AnyOf": []})


def test_authorize_passes_and_scopeless_methods_need_nothing() -> None:
    authorize(Caller("c", ("queue:resolve-task:T/*",)), "reportCompleted", {"taskId": "T", "runId": "0"})
    authorize(Caller("c", ()), "ping", {})


def test_authorize_refusal_names_what_is_missing() -> None:
    caller = Caller("task-client/T/0", ("queue:claim-work:p/w",))
    with pytest.raises(InsufficientScopes) as refused:
        authorize(caller, "claimWork", {"taskQueueId": "p/w", "workerGroup": "g", "workerId": "w1"})
    message = refused.value.message
    assert message.startswith("Client ID task-client/T/0 does not have sufficient scopes.")
    assert "You are missing the following scopes:\n\n```\nqueue:worker-id:g/w1\n```" in message
    assert '"queue:claim-work:p/w"' in message
    assert refused.value.status == 403
    assert refused.value.details["unsatisfied"] == "queue:worker-id:g/w1"


def test_authorize_unknown_method_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="noSuchMethod"):
        authorize(Caller("c", ("*",)), "noSuchMethod", {})


SERVED = [service.name for service in SERVICES]


def _client_methods() -> set[str]:
    return {name for service in SERVED for name in getattr(taskcluster, client_class_name(service)).funcinfo}


@pytest.mark.parametrize("service", SERVED)
def test_scope_table_matches_the_official_reference(references: Any, service: str) -> None:
    reference = references.api(service)
    ours = {name: SCOPE_EXPRESSIONS.get(name, "<absent>") for name in reference}
    assert ours == {name: entry.get("scopes") for name, entry in reference.items()}


def test_scope_table_names_only_methods_the_reference_or_the_client_knows(references: Any) -> None:
    official = {name for service in SERVED for name in references.api(service)}
    assert set(SCOPE_EXPRESSIONS) - official <= _client_methods()


def test_scope_table_covers_every_method_of_the_installed_client() -> None:
    assert _client_methods() - set(SCOPE_EXPRESSIONS) == set()


async def _handler(call: ApiCall) -> Any:
    call.authorize()
    return {}


def test_a_service_must_name_a_scope_expression_for_every_method_it_handles() -> None:
    with pytest.raises(ValueError, match="no scope expression for b"):
        Service(name="secrets", handlers={"a": _handler, "b": _handler}, scopes={"a": None})


def test_one_method_name_means_one_scope_expression_across_services() -> None:
    first = Service(
        name="secrets", handlers={"get": _handler}, scopes={"ping": None, "get": "secrets:get:<name>"}
    )
    same = Service(name="other", handlers={}, scopes={"ping": None})
    clash = Service(name="clash", handlers={}, scopes={"get": "other:get"})
    assert scope_expressions((first, same)) == {"ping": None, "get": "secrets:get:<name>"}
    with pytest.raises(ValueError, match="method get of clash"):
        scope_expressions((first, clash))
