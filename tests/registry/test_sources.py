"""Loading the registry: directories, index files, entry points, cached URLs, merge order, errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tcw.config import RegistrySettings
from tcw.errors import ConfigError
from tcw.registry import load_registry
from tests.support.schemas import serve_directory, write_json

SMALL = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "small",
    "type": "object",
    "required": ["n"],
    "properties": {"n": {"type": "integer"}},
}


def settings(tmp_path: Path, *directories: Path, **schema_urls: str) -> RegistrySettings:
    return RegistrySettings(
        directories=tuple(str(d) for d in directories),
        schema_urls={key.replace("__", "/"): value for key, value in schema_urls.items()},
        cache_dir=str(tmp_path / "cache"),
    )


def test_a_directory_maps_provisioner_and_worker_type_files(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    write_json(registry_dir / "proj" / "linux.json", SMALL)
    (registry_dir / "proj" / "yaml-one.yaml").write_text("type: object\nrequired: [y]\n", encoding="utf-8")
    write_json(registry_dir / "_shared" / "ignored.json", SMALL)
    registry = load_registry(settings(tmp_path, registry_dir))
    assert registry.keys() == ["proj/linux", "proj/yaml-one", "shell"]
    entry = registry.entry_for("proj/linux")
    assert entry.source == f"directory {registry_dir} ({registry_dir / 'proj' / 'linux.json'})"
    assert [p.message for p in entry.validate({"n": "1"})] == ["'1' is not of type 'integer'"]
    assert [p.message for p in registry.entry_for("proj/yaml-one").validate({})] == [
        "'y' is a required property"
    ]


def test_an_index_maps_globs_to_files_and_named_schemas(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    write_json(registry_dir / "_schemas" / "small.json", SMALL)
    (registry_dir / "index.yaml").write_text(
        "'proj-*/linux-*': _schemas/small.json\n"
        "'local/*': {schema: shell, executor: shell}\n"
        "'local/special': {schema: _schemas/small.json, executor: my-executor}\n",
        encoding="utf-8",
    )
    registry = load_registry(settings(tmp_path, registry_dir))
    assert registry.entry_for("proj-ci/linux-big").key == "proj-*/linux-*"
    local = registry.entry_for("local/anything")
    assert (local.key, local.executor, local.title) == ("local/*", "shell", "tcw shell payload")
    assert local.source.endswith("-> shell (built-in)")
    special = registry.entry_for("local/special")
    assert (special.key, special.executor, special.title) == ("local/special", "my-executor", "small")


def test_an_index_naming_an_unknown_schema_is_a_config_error(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    (registry_dir / "index.yaml").write_text("'local/*': shel\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"local/\* points at schema 'shel', which no source provides"):
        load_registry(settings(tmp_path, registry_dir))


def test_later_sources_win(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_json(first / "proj" / "linux.json", {**SMALL, "title": "first"})
    write_json(first / "proj" / "mac.json", {**SMALL, "title": "first"})
    write_json(second / "proj" / "linux.json", {**SMALL, "title": "second"})
    url_file = write_json(tmp_path / "by-config.json", {**SMALL, "title": "config"})
    registry = load_registry(settings(tmp_path, first, second, proj__mac=url_file.as_uri()))
    assert registry.entry_for("proj/linux").title == "second"
    assert registry.entry_for("proj/mac").title == "config"


def test_tied_globs_are_refused_at_load(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    registry_dir.mkdir()
    (registry_dir / "index.yaml").write_text(
        "'proj-*/linux': shell\n'*oj-ci/linux': shell\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"registry keys \*oj-ci/linux and proj-\*/linux tie"):
        load_registry(settings(tmp_path, registry_dir))


def test_a_broken_schema_is_refused_at_load_with_its_place(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    path = write_json(registry_dir / "proj" / "linux.json", {"type": "objekt"})
    with pytest.raises(ConfigError) as caught:
        load_registry(settings(tmp_path, registry_dir))
    assert caught.value.problems == (
        f"schema 'proj/linux' from directory {registry_dir} ({path}): not a valid JSON schema: at type: "
        "'objekt' is not valid under any of the given schemas",
    )


def test_unparsable_and_unknown_draft_schemas_are_config_errors(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    (registry_dir / "proj").mkdir(parents=True)
    (registry_dir / "proj" / "linux.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"linux.json: not valid JSON: Expecting property name"):
        load_registry(settings(tmp_path, registry_dir))
    write_json(registry_dir / "proj" / "linux.json", {"$schema": "https://example.com/my-draft"})
    with pytest.raises(ConfigError, match=r"unknown \$schema 'https://example.com/my-draft'"):
        load_registry(settings(tmp_path, registry_dir))


def test_refs_resolve_between_files_and_unresolvable_ones_are_refused(tmp_path: Path) -> None:
    registry_dir = tmp_path / "registry"
    write_json(registry_dir / "_common" / "defs.json", {"definitions": {"n": {"type": "integer"}}})
    write_json(
        registry_dir / "proj" / "linux.json",
        {"type": "object", "properties": {"n": {"$ref": "../_common/defs.json#/definitions/n"}}},
    )
    entry = load_registry(settings(tmp_path, registry_dir)).entry_for("proj/linux")
    assert [(p.path, p.message) for p in entry.validate({"n": "x"})] == [
        ("payload.n", "'x' is not of type 'integer'")
    ]
    write_json(registry_dir / "proj" / "linux.json", {"properties": {"n": {"$ref": "missing.json"}}})
    with pytest.raises(ConfigError, match=r"cannot resolve \$ref file://.*/proj/missing.json"):
        load_registry(settings(tmp_path, registry_dir))


def test_schema_urls_are_fetched_once_then_read_from_the_cache(tmp_path: Path) -> None:
    served = tmp_path / "served"
    write_json(served / "schemas" / "small.json", SMALL)
    with serve_directory(served) as base_url:
        registry = load_registry(settings(tmp_path, **{"proj__*": f"{base_url}/schemas/small.json"}))
        assert registry.entry_for("proj/x").source == (
            f"config registry.schema_urls ({base_url}/schemas/small.json)"
        )
        relative = load_registry(settings(tmp_path, **{"proj__*": "/schemas/small.json"}), root_url=base_url)
        assert relative.entry_for("proj/x").title == "small"
    # The server is gone: the cache answers.
    again = load_registry(settings(tmp_path, **{"proj__*": f"{base_url}/schemas/small.json"}))
    assert again.entry_for("proj/x").title == "small"
    with pytest.raises(ConfigError, match="cannot fetch schema"):
        load_registry(settings(tmp_path, **{"proj__*": f"{base_url}/schemas/small.json"}), refresh=True)


def test_entry_points_register_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist_info = site / "tcw_test_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tcw-test-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[tcw.payload_schemas]\nplugin/* = tcw_test_plugin:SCHEMA\nsigning = tcw_test_plugin:signing_schema\n"
    )
    (site / "tcw_test_plugin.py").write_text(
        "from tcw.registry import PayloadSchema\n"
        "SCHEMA = {'type': 'object', 'title': 'plugin'}\n"
        "def signing_schema():\n"
        "    return PayloadSchema({'type': 'object', 'required': ['file']}, executor='signer')\n"
    )
    monkeypatch.syspath_prepend(str(site))
    try:
        registry = load_registry(settings(tmp_path))
        assert registry.entry_for("plugin/linux").title == "plugin"
        assert registry.entry_for("plugin/linux").source == "entry point plugin/* = tcw_test_plugin:SCHEMA"
        assert registry.lookup("signing").executor == "signer"
    finally:
        sys.modules.pop("tcw_test_plugin", None)


def test_a_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="registry directory does not exist"):
        load_registry(settings(tmp_path, tmp_path / "nope"))
