"""Taskcluster's real payload schemas (from ../shared, never copied into the repo), loaded from a registry
directory and from schema URLs, with valid and invalid payloads and their exact errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tcw.config import LocalQueueSettings, RegistrySettings
from tcw.localqueue.server import LocalQueue
from tcw.registry import Registry, load_registry, render_problems_text
from tests.support.references import References
from tests.support.schemas import problems_as_tuples, write_json

# registry key -> the official schema file
SCHEMAS = {
    "tc/insecure-posix": "schemas/generic-worker/insecure_posix.json",
    "tc/multiuser-posix": "schemas/generic-worker/multiuser_posix.json",
    "tc/multiuser-windows": "schemas/generic-worker/multiuser_windows.json",
    "tc/docker-worker": "schemas/docker-worker/v1/payload.json",
}

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str, str]]]] = [
    ("tc/insecure-posix", {"command": [["echo", "hi"]], "maxRunTime": 60}, []),
    ("tc/insecure-posix", {"image": "ubuntu:24.04", "command": ["echo"], "maxRunTime": 60}, []),  # d2g
    (
        "tc/insecure-posix",
        {"command": [["echo"]], "maxRunTime": "60", "env": {"A": 1}},
        [
            ("payload.env.A", "type", "1 is not of type 'string'"),
            ("payload.maxRunTime", "type", "'60' is not of type 'integer'"),
        ],
    ),
    (
        "tc/insecure-posix",
        {"image": 5, "maxRunTime": 60},
        [("payload.image", "type", "5 is not of type 'string'")],
    ),
    (
        "tc/multiuser-posix",
        {
            "command": [["make"]],
            "maxRunTime": 3600,
            "features": {"taskclusterProxy": True},
            "mounts": [{"file": "x.bin", "content": {"url": "https://example.com/x.bin"}}],
        },
        [],
    ),
    (
        "tc/multiuser-posix",
        {"command": [["echo"]], "maxRunTime": 0, "mounts": [{"file": "x", "content": {"url": "not a url"}}]},
        [
            ("payload.maxRunTime", "minimum", "0 is less than the minimum of 1"),
            ("payload.mounts[0].content.url", "format", "'not a url' is not a 'uri'"),
        ],
    ),
    ("tc/multiuser-windows", {"command": ["echo hi"], "maxRunTime": 60}, []),
    (
        "tc/multiuser-windows",
        {"command": [["echo", "hi"]], "maxRunTime": 60, "osGroups": ["a", "a"]},
        [
            ("payload.command[0]", "type", "['echo', 'hi'] is not of type 'string'"),
            ("payload.osGroups", "uniqueItems", "['a', 'a'] has non-unique elements"),
        ],
    ),
    ("tc/docker-worker", {"image": "ubuntu:24.04", "command": ["echo"], "maxRunTime": 60}, []),
    (
        "tc/docker-worker",
        {
            "image": {"type": "indexed-image", "namespace": "x"},
            "maxRunTime": 60,
            "artifacts": {"public/x": {"type": "file", "path": "/x", "expires": "soon"}},
        },
        [
            ('payload.artifacts["public/x"].expires', "format", "'soon' is not a 'date-time'"),
            ("payload.image", "required", "'path' is a required property"),
        ],
    ),
]


@pytest.fixture(scope="module")
def directory_registry(references: References, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("tc-registry")
    for key, filename in SCHEMAS.items():
        write_json(root / "registry" / f"{key}.json", references.schema(filename))
    return load_registry(
        RegistrySettings(directories=(str(root / "registry"),), cache_dir=str(root / "cache"))
    )


@pytest.fixture(scope="module")
def url_registry(references: References, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The same schemas served by the local queue at <rootUrl>/schemas/..., as a deployment serves them."""
    root = tmp_path_factory.mktemp("tc-served")
    for filename in SCHEMAS.values():
        write_json(root / "served" / filename, references.schema(filename))
    served = LocalQueueSettings(port=0, db=":memory:", schemas_dir=str(root / "served" / "schemas"))
    with LocalQueue(served) as queue:
        settings = RegistrySettings(
            schema_urls={key: "/" + filename for key, filename in SCHEMAS.items()},
            cache_dir=str(root / "cache"),
        )
        yield load_registry(settings, root_url=queue.root_url)


@pytest.mark.parametrize(("key", "payload", "expected"), CASES)
def test_from_a_directory(directory_registry: Registry, key: str, payload: Any, expected: Any) -> None:
    assert problems_as_tuples(directory_registry.entry_for(key).validate(payload)) == expected


@pytest.mark.parametrize(("key", "payload", "expected"), CASES)
def test_from_urls(url_registry: Registry, key: str, payload: Any, expected: Any) -> None:
    entry = url_registry.entry_for(key)
    assert entry.base_uri.endswith(SCHEMAS[key])
    assert problems_as_tuples(entry.validate(payload)) == expected


def test_the_problem_text_names_the_taskcluster_schema(directory_registry: Registry) -> None:
    entry = directory_registry.entry_for("tc/insecure-posix")
    text = render_problems_text(entry, entry.validate({"command": [["echo"]], "maxRunTime": "60"}))
    assert text.splitlines() == [
        "Payload is invalid against schema tc/insecure-posix "
        "(Payload - insecure, posix, /schemas/generic-worker/insecure_posix.json): 1 problem:",
        "  - payload.maxRunTime: '60' is not of type 'integer' [type]",
    ]


def test_taskcluster_metaschema_means_draft_06(directory_registry: Registry) -> None:
    validator = directory_registry.entry_for("tc/insecure-posix").validator
    assert type(validator).__name__ == "Draft6Validator"
