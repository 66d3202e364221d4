"""Property tests: whatever payload a task carries, the worker resolves it exactly once and never hangs.

Each example is a real task on the local queue, claimed and run in-process through the path `tcw
claim-once` takes (``serve_one``), with the built-in ``shell`` schema checking payloads. A payload the
schema rejects must resolve ``exception/malformed-payload``; one it accepts runs (the commands are drawn
from harmless ones, never from generated text) and resolves as the run went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tcw.engine.daemon import serve_one
from tcw.registry import builtin_schema
from tests.support.tasks import create_task, runs
from tests.support.worker import MakeConfig, prepare_worker

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
# The queue only takes an object as a task's payload; anything inside it goes.
ANY_PAYLOAD = st.dictionaries(st.text(max_size=12), JSON, max_size=5)

HARMLESS_COMMANDS = st.sampled_from(
    [["true"], ["false"], "exit 0", "exit 3", "echo hi > out.txt", ["sh", "-c", "echo $TASK_ID"]]
)
WRONG = (
    SCALARS | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)
)
VALID_ARTIFACT = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["file", "directory"]),
        "path": st.sampled_from(["out.txt", ".", "missing.txt", "../escape", "/etc/hostname"]),
    },
    optional={"name": st.sampled_from(["public/out.txt", "public/dir"])},
)
VALID_FIELDS = {
    "command": st.lists(HARMLESS_COMMANDS, min_size=1, max_size=3),
    "maxRunTime": st.integers(1, 30),
    "env": st.dictionaries(st.from_regex(r"[A-Z]{1,5}", fullmatch=True), st.text(max_size=5), max_size=3),
    "artifacts": st.lists(VALID_ARTIFACT, max_size=2),
    "onExitStatus": st.fixed_dictionaries({"retry": st.lists(st.integers(0, 5), max_size=2)}),
}
REQUIRED = ("command", "maxRunTime")


@st.composite
def shell_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A shell payload, valid about a third of the time; otherwise one field or one command is wrong."""
    payload: dict[str, Any] = {name: draw(VALID_FIELDS[name]) for name in REQUIRED}
    for name in draw(st.sets(st.sampled_from(sorted(set(VALID_FIELDS) - set(REQUIRED))))):
        payload[name] = draw(VALID_FIELDS[name])
    broken = draw(st.sampled_from([None, None, None, "a command", *VALID_FIELDS, "unknown field"]))
    if broken == "a command":
        payload["command"].insert(draw(st.integers(0, len(payload["command"]))), draw(WRONG))
    elif broken == "unknown field":
        payload[draw(st.text(max_size=10))] = draw(JSON)
    elif broken is not None:
        payload[broken] = draw(WRONG)
    return payload


# How a payload the schema accepts may end; malformed-payload too, for what no JSON schema can express
# (two artifacts of the same name: the shell executor refuses those before running anything).
RAN = {"completed", "failed", "exception/intermittent-task", "exception/malformed-payload"}
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
RUN_TIMEOUT = 20.0  # seconds for one claim, run and report: far above what a harmless command takes


@PROPERTY_SETTINGS
@given(payload=ANY_PAYLOAD)
def test_any_json_payload_is_resolved_exactly_once(
    payload: dict[str, Any], local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    assert_resolved_once(payload, local_queue, queue, worker_config)


@PROPERTY_SETTINGS
@given(payload=shell_shaped())
def test_shell_shaped_payloads_run_or_are_malformed_never_hang(
    payload: dict[str, Any], local_queue: Any, queue: Any, worker_config: MakeConfig
) -> None:
    assert_resolved_once(payload, local_queue, queue, worker_config)


def assert_resolved_once(
    payload: Mapping[str, Any], local: Any, queue: Any, worker_config: MakeConfig
) -> None:
    task_id = create_task(queue, payload)
    config = worker_config(local)
    result = asyncio.run(asyncio.wait_for(serve_one(config, prepare_worker(config), wait=5), RUN_TIMEOUT))
    assert result.claim is not None and result.claim.task_id == task_id
    assert result.record is not None and result.record.reported
    task_runs = runs(queue, task_id)
    assert len(task_runs) == 1, task_runs
    run = task_runs[0]
    resolution = run["state"] if run["state"] != "exception" else f"exception/{run['reasonResolved']}"
    if builtin_schema("shell").validate(payload):
        assert resolution == "exception/malformed-payload"
    else:
        assert resolution in RAN
    assert str(result.record.resolution) == resolution
    event(resolution)  # --hypothesis-show-statistics: how the examples ended
