"""Property tests: no JSON value crashes the validator or the CLI; the fast check agrees with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcw.config import RegistrySettings
from tcw.registry import PayloadProblem, Registry, RegistryEntry, builtin_schema, load_registry
from tests.support.cli import RunCli
from tests.support.references import References
from tests.support.schemas import write_json

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
DATE_TIMES = st.sampled_from(
    [
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00.123+02:00",
        "2030-02-30T00:00:00Z",
        "tomorrow",
        "2030-01-01",
    ]
)
ARGV = st.lists(st.text(max_size=6) | st.integers(), max_size=3)
COMMANDS = st.lists(ARGV | st.text(max_size=6) | st.integers(), max_size=3)
ARTIFACT = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["file", "directory", "volume"]),
        "path": st.text(max_size=5),
        "name": st.text(max_size=5),
        "expires": DATE_TIMES,
        "contentType": st.text(max_size=5),
        "other": JSON,
    },
)
# Near-valid shell payloads: most keys right, some wrong, so both the fast path and jsonschema get work.
SHELL_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "command": COMMANDS | JSON,
        "maxRunTime": st.integers(-5, 90000) | st.floats(0, 10) | st.booleans() | st.text(max_size=3),
        "env": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3),
        "artifacts": st.lists(ARTIFACT, max_size=2),
        "onExitStatus": st.fixed_dictionaries(
            {}, optional={"retry": st.lists(st.integers(-2, 300), max_size=3)}
        ),
        "unexpected": JSON,
    },
)


def assert_agrees_with_jsonschema(entry: RegistryEntry, payload: Any) -> None:
    problems = entry.validate(payload)
    assert all(
        isinstance(problem, PayloadProblem) and problem.path.startswith("payload") for problem in problems
    )
    assert (problems == []) == entry.validator.is_valid(payload)
    assert len(problems) == len(set(problems))


@given(JSON)
def test_arbitrary_json_never_crashes_the_shell_schema(payload: Any) -> None:
    assert_agrees_with_jsonschema(builtin_schema("shell"), payload)


@given(SHELL_LIKE)
def test_near_valid_shell_payloads_agree_with_jsonschema(payload: Any) -> None:
    assert_agrees_with_jsonschema(builtin_schema("shell"), payload)


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    problems = builtin_schema("shell").validate({"command": deep, "maxRunTime": 1})
    assert problems
    assert all(isinstance(problem, PayloadProblem) for problem in problems)


@pytest.fixture(scope="module")
def taskcluster_registry(references: References, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("tc")
    write_json(
        root / "reg" / "tc" / "posix.json", references.schema("schemas/generic-worker/insecure_posix.json")
    )
    write_json(
        root / "reg" / "tc" / "docker.json", references.schema("schemas/docker-worker/v1/payload.json")
    )
    return load_registry(RegistrySettings(directories=(str(root / "reg"),), cache_dir=str(root / "cache")))


GW_LIKE = st.fixed_dictionaries(
    {"command": st.lists(ARGV, max_size=2) | COMMANDS, "maxRunTime": st.integers(0, 5) | st.text(max_size=2)},
    optional={
        "image": st.text(max_size=4) | JSON,
        "artifacts": st.lists(ARTIFACT, max_size=2),
        "mounts": st.lists(
            st.fixed_dictionaries(
                {"file": st.text(max_size=3)},
                optional={
                    "content": st.fixed_dictionaries({}, optional={"url": st.text(max_size=12), "raw": JSON})
                },
            ),
            max_size=2,
        ),
        "features": st.dictionaries(
            st.sampled_from(["taskclusterProxy", "liveLog", "nope"]), JSON, max_size=2
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["tc/posix", "tc/docker"]), GW_LIKE | JSON)
def test_taskcluster_schemas_agree_with_jsonschema(
    taskcluster_registry: Registry, key: str, payload: Any
) -> None:
    assert_agrees_with_jsonschema(taskcluster_registry.entry_for(key), payload)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON)
def test_arbitrary_json_never_crashes_the_cli(run_cli: RunCli, payload: Any) -> None:
    result = run_cli(
        ["tcw", "validate-payload", "--schema", "shell", "--format", "json", "-"],
        input=json.dumps(payload),
        exit_code=None,
    )
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert report["valid"] is (result.exit_code == 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_cli(run_cli: RunCli, text: str) -> None:
    result = run_cli(["tcw", "validate-payload", "--schema", "shell", "-"], input=text, exit_code=None)
    assert result.exit_code in (0, 1, 2)
    assert "internal error" not in result.stderr
    assert result.stdout.endswith("not checked\n")


def test_a_deeply_nested_file_is_reported(run_cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")
    result = run_cli(["tcw", "validate-payload", "--schema", "shell", str(path)], exit_code=2)
    assert f"{path}: error: nested too deeply to read" in result.stdout
