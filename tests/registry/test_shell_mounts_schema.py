"""The shell schema's ``mounts`` accept what generic-worker's published schema does (read from ../shared)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema
import pytest

from tcw.registry.registry import builtin_schema
from tests.support.references import References

GW_SCHEMA = "schemas/generic-worker/multiuser_posix.json"
TASK_ID = "fSb5oxrnSeOa5jWv3Ptk3Q"
SHA = "a" * 64
SAMPLES: list[list[dict[str, Any]]] = [
    [{"file": "f.txt", "content": {"raw": "hello"}}],
    [{"file": "f.bin", "content": {"base64": "AAEC"}, "format": "gz"}],
    [{"file": "f", "content": {"url": "https://example.com/x", "sha256": SHA}}],
    [
        {
            "directory": "d",
            "content": {"taskId": TASK_ID, "artifact": "public/a.tar.gz", "sha256": SHA},
            "format": "tar.gz",
        }
    ],
    [
        {
            "directory": "d",
            "content": {"namespace": "project.x.latest", "artifact": "public/t.tar.zst"},
            "format": "tar.zst",
        }
    ],
    [{"cacheName": "checkout", "directory": "src"}],
    [{"cacheName": "c", "directory": "c", "content": {"raw": "x"}, "format": "zip"}],
]
BAD: list[list[dict[str, Any]]] = [
    [{"file": "f"}],  # no content
    [{"directory": "d", "content": {"raw": "x"}}],  # a read-only directory needs a format
    [{"cacheName": "c", "directory": "c", "content": {"raw": "x"}}],  # preload content without a format
    [{"file": "f", "content": {"url": "https://e.com/x", "sha256": "ABC"}}],  # not a sha256
    [{"file": "f", "content": {"raw": "x"}, "format": "tar.gz"}],  # an archive format for a file
]


def ours() -> dict[str, Any]:
    text = resources.files("tcw.registry").joinpath("schemas/shell.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def gw_accepts(references: References, mounts: list[dict[str, Any]]) -> bool:
    payload = {"command": [["true"]], "maxRunTime": 10, "mounts": mounts}
    return jsonschema.Draft7Validator(references.schema(GW_SCHEMA)).is_valid(payload)


@pytest.mark.parametrize("mounts", SAMPLES + BAD)
def test_the_shell_schema_agrees_with_generic_workers(
    references: References, mounts: list[dict[str, Any]]
) -> None:
    payload = {"command": [["true"]], "maxRunTime": 10, "mounts": mounts}
    assert builtin_schema("shell").is_valid(payload) == gw_accepts(references, mounts)
    assert gw_accepts(references, mounts) == (mounts in SAMPLES)


def test_formats_and_properties_are_generic_workers(references: References) -> None:
    theirs = references.schema(GW_SCHEMA)["definitions"]
    mine = ours()["definitions"]
    for name in ("fileMount", "readOnlyDirectory", "writableDirectoryCache"):
        assert set(mine[name]["properties"]) == set(theirs[name]["properties"]), name
        assert set(mine[name]["required"]) == set(theirs[name]["required"]), name
        their_format = theirs[name]["properties"]["format"]["enum"]
        my_format = mine[name]["properties"]["format"]
        my_enum = my_format.get("enum") or mine["archiveFormat"]["enum"]
        assert sorted(my_enum) == sorted(their_format), name
    their_kinds = [sorted(branch["properties"]) for branch in theirs["content"]["oneOf"]]
    my_kinds = [sorted(branch["properties"]) for branch in mine["content"]["oneOf"]]
    assert my_kinds == their_kinds
