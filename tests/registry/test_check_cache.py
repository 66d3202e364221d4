"""The check cache: a schema checked and compiled once is not checked or compiled again by the next process;
a changed schema is; a cache directory (or entry) that is not the worker's own is never read."""

from __future__ import annotations

import json
import logging
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tcw.config import RegistrySettings
from tcw.errors import ConfigError
from tcw.registry import load_registry
from tcw.registry.check_cache import ENTRY_FORMAT, entry_key
from tcw.registry.entry import RegistryEntry
from tests.support.paths import REPO_ROOT
from tests.support.schemas import write_json

FORMATS = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["url"],
    "properties": {
        "url": {"type": "string", "format": "uri"},  # checked by tcw itself
        "mail": {"type": "string", "format": "email"},  # checked by jsonschema's own format checker
        "n": {"$ref": "#/definitions/small"},
    },
    "definitions": {"small": {"type": "integer", "maximum": 3}},
}
PAYLOADS: list[Any] = [
    {"url": "https://x.test/a"},
    {"url": "not a uri"},
    {"url": "https://x.test/a", "mail": "a@b.test", "n": 3},
    {"url": "https://x.test/a", "mail": "no at sign", "n": 4},
    {"n": 1},
    [],
]


def registry_entry(tmp_path: Path, schema: dict[str, Any], cache: Path) -> RegistryEntry:
    """The entry for proj/linux, loaded afresh (a new process would load it so)."""
    write_json(tmp_path / "registry" / "proj" / "linux.json", schema)
    settings = RegistrySettings(directories=(str(tmp_path / "registry"),), cache_dir=str(cache))
    return load_registry(settings).entry_for("proj/linux")


def answers(entry: RegistryEntry) -> list[list[str]]:
    return [[problem.message for problem in entry.validate(payload)] for payload in PAYLOADS]


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "checks").glob("*.check"))


def test_a_stored_check_answers_as_a_fresh_compile_does(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = registry_entry(tmp_path, FORMATS, cache)
    fresh = answers(first) + answers(first)  # the second round goes through the compiled check
    assert len(entries(cache)) == 1
    assert oct((cache / "checks").stat().st_mode & 0o777) == "0o700"
    again = registry_entry(tmp_path, FORMATS, cache)
    assert answers(again) == fresh[: len(PAYLOADS)]
    assert fresh[0] == [] and fresh[1] and fresh[3] and fresh[5]  # the payloads do tell valid from invalid


def test_a_second_start_neither_checks_nor_compiles_its_schema(tmp_path: Path) -> None:
    probe = (
        "import sys, json\n"
        "from tcw.config import RegistrySettings\n"
        "from tcw.registry import load_registry\n"
        f"entry = load_registry(RegistrySettings(cache_dir={str(tmp_path / 'cache')!r})).lookup('shell')\n"
        "payload = {'command': [['true']], 'maxRunTime': 60}\n"
        "valid = [entry.validate(payload) for _ in range(3)]\n"
        "print(json.dumps([valid == [[], [], []], 'jsonschema' in sys.modules]))\n"
    )

    def start() -> list[bool]:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
        )
        result: list[bool] = json.loads(done.stdout)
        return result

    assert start() == [True, True]  # compiled, and stored
    assert start() == [True, False]  # read back: jsonschema not even imported


def test_a_changed_schema_is_checked_and_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = registry_entry(tmp_path, FORMATS, cache)
    answers(first), answers(first)
    stricter = {**FORMATS, "definitions": {"small": {"type": "integer", "maximum": 2}}}
    changed = registry_entry(tmp_path, stricter, cache)
    assert changed.validate({"url": "https://x.test/", "n": 3})  # the old entry would let it through
    answers(changed)
    assert len(entries(cache)) == 2
    broken = {**FORMATS, "definitions": {"small": {"type": "integral"}}}
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        registry_entry(tmp_path, broken, cache)


def test_an_unreadable_entry_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = registry_entry(tmp_path, FORMATS, cache)
    expected = answers(first) and answers(first)
    for garbage in (b"", b"\x00not marshal", marshal.dumps((ENTRY_FORMAT, "another key", "d", "f", None))):
        entries(cache)[0].write_bytes(garbage)
        assert answers(registry_entry(tmp_path, FORMATS, cache)) == expected


def planted_entry(cache: Path, schema: dict[str, Any], base_uri: str, marker: Path) -> Path:
    """What a hostile task would write: a well-formed entry whose code runs as the worker."""
    key = entry_key(schema, base_uri)
    assert key is not None
    source = f"open({str(marker)!r}, 'w').close()\ndef f(data, custom_formats):\n    pass\n"
    code = compile(source, "planted", "exec")
    path = cache / "checks" / f"{key}.check"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps((ENTRY_FORMAT, key, "http://json-schema.org/draft-07/schema#", "f", code)))
    return path


@pytest.mark.parametrize("writable", ["directory", "entry", "link"])
def test_a_cache_others_can_write_is_never_run(
    tmp_path: Path, writable: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    registry_entry(tmp_path, FORMATS, cache)  # writes the schema file, so its address is known
    base_uri = (tmp_path / "registry" / "proj" / "linux.json").as_uri()
    marker = tmp_path / "ran"
    where = cache if writable != "link" else tmp_path / "elsewhere"
    planted = planted_entry(where, FORMATS, base_uri, marker)
    if writable == "directory":
        os.chmod(cache / "checks", 0o777)
    elif writable == "entry":
        os.chmod(cache / "checks", 0o700)
        os.chmod(planted, 0o666)
    else:
        (cache / "checks").mkdir(mode=0o700, parents=True, exist_ok=True)
        (cache / "checks" / planted.name).symlink_to(planted)
    with caplog.at_level(logging.WARNING, logger="tcw.registry.check_cache"):
        entry = registry_entry(tmp_path, FORMATS, cache)
        assert entry.validate({"url": "not a uri"})  # jsonschema decided, not the planted check
        assert entry.validate({"n": 9})
    assert not marker.exists()
    if writable != "link":
        assert "check cache not used" in caplog.text


def test_schemas_a_hash_cannot_tell_apart_are_not_kept(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for number, text in enumerate(
        ("properties: {1: {type: string}}\n", "properties: {a: {$ref: 'x.json'}}\n")
    ):
        path = tmp_path / "registry" / "proj" / f"yaml-{number}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"type: object\n{text}", encoding="utf-8")
    (tmp_path / "registry" / "proj" / "x.json").write_text('{"type": "integer"}', encoding="utf-8")
    settings = RegistrySettings(directories=(str(tmp_path / "registry"),), cache_dir=str(cache))
    registry = load_registry(settings)
    for number in range(2):
        entry = registry.entry_for(f"proj/yaml-{number}")
        for _ in range(3):
            entry.validate({"1": 5, "a": "text"})
    assert registry.entry_for("proj/yaml-1").validate({"a": "text"})  # the $ref'd document is in force
    assert entries(cache) == []  # a YAML key 1 would hash as "1"; a $ref'd document could change alone
