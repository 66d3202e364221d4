"""Registry invariants for tcw's built-in schemas, and the exact words of the shell schema's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema.validators import validator_for

from tcw.config import RegistrySettings
from tcw.registry import UnknownSchema, builtin_schema, load_registry, render_problems_text
from tests.support.schemas import DATA, load_data, problems_as_tuples

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "tcw" / "registry" / "schemas"
BUILTIN_NAMES = sorted(path.stem for path in BUILTIN_DIR.glob("*.json"))


def test_there_is_a_shell_builtin() -> None:
    assert "shell" in BUILTIN_NAMES


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_builtin_is_a_valid_schema_and_loads(name: str, tmp_path: Path) -> None:
    schema = json.loads((BUILTIN_DIR / f"{name}.json").read_text(encoding="utf-8"))
    validator_for(schema).check_schema(schema)
    registry = load_registry(RegistrySettings(cache_dir=str(tmp_path)))
    assert registry.lookup(name).source == "built-in"
    assert builtin_schema(name).schema == schema


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_builtin_has_a_valid_and_an_invalid_example(name: str) -> None:
    entry = builtin_schema(name)
    assert (DATA / f"{name}.valid.json").is_file(), f"add tests/registry/data/{name}.valid.json"
    assert (DATA / f"{name}.invalid.json").is_file(), f"add tests/registry/data/{name}.invalid.json"
    assert entry.validate(load_data(f"{name}.valid.json")) == []
    assert entry.validate(load_data(f"{name}.invalid.json")) != []


def test_shell_reports_every_error_with_path_rule_and_words() -> None:
    problems = builtin_schema("shell").validate(load_data("shell.invalid.json"))
    assert problems_as_tuples(problems) == [
        ("payload", "additionalProperties", "Additional properties are not allowed ('image' was unexpected)"),
        ("payload.artifacts[0].expires", "format", "'next week' is not a 'date-time'"),
        ("payload.artifacts[0].type", "enum", "'volume' is not one of ['file', 'directory']"),
        ("payload.command[0][1]", "type", "5 is not of type 'string'"),
        ("payload.command[1]", "minLength", "'' should be non-empty"),
        ("payload.env.RETRIES", "type", "3 is not of type 'string'"),
        ("payload.maxRunTime", "maximum", "86401 is greater than the maximum of 86400"),
        ("payload.onExitStatus.retry[0]", "minimum", "0 is less than the minimum of 1"),
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {},
            [
                ("payload", "required", "'command' is a required property"),
                ("payload", "required", "'maxRunTime' is a required property"),
            ],
        ),
        ([], [("payload", "type", "[] is not of type 'object'")]),
        (
            {"command": [], "maxRunTime": 1.5},
            [
                ("payload.command", "minItems", "[] should be non-empty"),
                ("payload.maxRunTime", "type", "1.5 is not of type 'integer'"),
            ],
        ),
        (
            {"command": [[]], "maxRunTime": True},
            [
                ("payload.command[0]", "minItems", "[] should be non-empty"),
                ("payload.maxRunTime", "type", "True is not of type 'integer'"),
            ],
        ),
        (
            {"command": ["ls"], "maxRunTime": 1, "env": {"A=B": "x"}},
            [
                ("payload.env", "pattern", "property name 'A=B' does not match '^[^=\\\\u0000]+$'"),
            ],
        ),
        (
            {
                "command": ["ls"],
                "maxRunTime": 1,
                "artifacts": [{"type": "file", "path": "x", "expires": "2030-02-30T00:00:00Z"}],
            },
            [
                ("payload.artifacts[0].expires", "format", "'2030-02-30T00:00:00Z' is not a 'date-time'"),
            ],
        ),
    ],
)
def test_shell_errors(payload: object, expected: list[tuple[str, str, str]]) -> None:
    assert problems_as_tuples(builtin_schema("shell").validate(payload)) == expected


def test_a_huge_instance_is_shown_in_short() -> None:
    problems = builtin_schema("shell").validate(["x" * 1000] * 100)
    assert problems_as_tuples(problems) == [("payload", "type", "[...100 items] is not of type 'object'")]


def test_problem_text_names_the_schema_then_each_problem() -> None:
    entry = builtin_schema("shell")
    text = render_problems_text(entry, entry.validate({"command": [5], "maxRunTime": 0}))
    assert text == (
        "Payload is invalid against schema shell "
        "(tcw shell payload, urn:tcw:schemas:shell.json): 2 problems:\n"
        "  - payload.command[0]: 5 is not of type 'array' [type]\n"
        "  - payload.maxRunTime: 0 is less than the minimum of 1 [minimum]\n"
    )


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(UnknownSchema, match="nearest known keys: shell"):
        builtin_schema("shel")


def test_the_builtin_shell_entry_names_its_executor_and_matches_no_queue(tmp_path: Path) -> None:
    registry = load_registry(RegistrySettings(cache_dir=str(tmp_path)))
    assert builtin_schema("shell").executor == "shell"
    with pytest.raises(UnknownSchema, match=r"no payload schema for 'proj/linux'.*nearest known keys: shell"):
        registry.entry_for("proj/linux")
