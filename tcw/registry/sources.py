"""Where registry entries come from: package data, entry points, directories, and configured URLs.

Each source yields ``Declaration``s: either a schema under a key, or an alias (an index file or the config
pointing a queue pattern at a named schema such as ``shell``), which the registry resolves once every
source is merged.

A schema reference (a value in an index file or in ``registry.schema_urls``) is read as:

- ``http://``, ``https://`` or ``file://`` URL: fetched (once, then cached on disk);
- ``/schemas/...`` with a root URL known: the deployment's schema, ``<rootUrl>/schemas/...``;
- a bare name (``shell``, no ``/`` and no ``.json``/``.yaml`` suffix): the named schema of that name;
- anything else: a file path, relative to the index file's directory (or the working directory, in config).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tcw.errors import ConfigError
from tcw.registry.entry import PayloadSchema, RegistryEntry
from tcw.registry.fetch import YAML_SUFFIXES, SchemaFetcher, read_schema_file
from tcw.registry.keys import key_problem

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "tcw.payload_schemas"
INDEX_NAMES = ("index.yaml", "index.yml", "index.json")
SCHEMA_SUFFIXES = (".json", *YAML_SUFFIXES)
BUILTIN_EXECUTORS = {"shell": "shell"}  # built-in schema name -> the executor that runs its tasks


def _entry(
    key: str, source: str, schema: Mapping[str, Any], uri: str, fetcher: SchemaFetcher, executor: str | None
) -> RegistryEntry:
    """A schema's entry, reading what it refers to through ``fetcher`` and keeping its compiled check in
    the fetcher's check cache."""
    cache = fetcher.check_cache
    return RegistryEntry(key, source, schema, uri, fetcher, executor=executor, check_cache=cache)


@dataclass(frozen=True)
class Declaration:
    """A key and either its entry or the name of the entry it stands for."""

    key: str
    source: str
    entry: RegistryEntry | None = None
    alias_of: str | None = None
    executor: str | None = None


def checked_key(key: Any, source: str) -> str:
    if not isinstance(key, str):
        raise ConfigError([f"{source}: registry key {key!r} is not a string"])
    problem = key_problem(key)
    if problem:
        raise ConfigError([f"{source}: {problem}"])
    return key


def builtin_names() -> list[str]:
    """The names of tcw's built-in schemas, without reading them (for help texts)."""
    folder = resources.files("tcw.registry") / "schemas"
    return sorted(item.name.removesuffix(".json") for item in folder.iterdir() if item.name.endswith(".json"))


def builtin_declarations(fetcher: SchemaFetcher) -> Iterator[Declaration]:
    """tcw's own schemas, shipped as package data in tcw/registry/schemas/, keyed by file stem."""
    folder = resources.files("tcw.registry") / "schemas"
    for item in sorted(folder.iterdir(), key=lambda item: item.name):
        if item.name.endswith(".json"):
            name = item.name.removesuffix(".json")
            schema = _mapping(read_schema_file(Path(str(item))), f"built-in schema {item.name}")
            uri = f"urn:tcw:builtin:{item.name}"
            executor = BUILTIN_EXECUTORS.get(name)
            entry = _entry(name, "built-in", schema, uri, fetcher, executor)
            yield Declaration(name, "built-in", entry=entry)


def entry_point_declarations(fetcher: SchemaFetcher) -> Iterator[Declaration]:
    """Schemas other packages register: ``[tcw.payload_schemas] <key> = module:attribute``.

    The attribute is a schema mapping, a path to a schema file, a ``PayloadSchema``, or a callable taking
    no arguments and returning one of those.
    """
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {point.name} = {point.value}"
        key = checked_key(point.name, source)
        try:
            provided = point.load()
            if callable(provided):
                provided = provided()
        except Exception as error:
            raise ConfigError([f"{source}: cannot load: {type(error).__name__}: {error}"]) from error
        yield _declaration_from_object(key, source, provided, fetcher)


def _declaration_from_object(key: str, source: str, provided: Any, fetcher: SchemaFetcher) -> Declaration:
    executor = None
    if isinstance(provided, PayloadSchema):
        provided, executor = provided.schema, provided.executor
    if isinstance(provided, str | Path):
        path = Path(provided).resolve()
        schema, uri = read_schema_file(path), path.as_uri()
    elif isinstance(provided, Mapping):
        schema, uri = provided, f"urn:tcw:entry-point:{key}"
    else:
        raise ConfigError([f"{source}: provides {type(provided).__name__}, not a schema or a path to one"])
    entry = _entry(key, source, _mapping(schema, source), uri, fetcher, executor)
    return Declaration(key, source, entry=entry)


def directory_declarations(
    directory: Path, fetcher: SchemaFetcher, root_url: str | None
) -> Iterator[Declaration]:
    """``<dir>/<provisionerId>/<workerType>.json|yaml`` files, then the directory's index file.

    Sub-directories whose names start with ``_`` or ``.`` hold shared schema files the index refers to;
    they are not provisioners.
    """
    if not directory.is_dir():
        raise ConfigError([f"{directory}: registry directory does not exist or is not a directory"])
    for path in sorted(directory.glob("*/*")):
        if path.suffix in SCHEMA_SUFFIXES and path.is_file() and not path.parent.name.startswith(("_", ".")):
            key = checked_key(f"{path.parent.name}/{path.stem}", f"registry directory {directory}")
            yield _file_declaration(key, path, f"directory {directory}", fetcher)
    index = next((directory / name for name in INDEX_NAMES if (directory / name).is_file()), None)
    if index is not None:
        yield from index_declarations(index, fetcher, root_url)


def index_declarations(index: Path, fetcher: SchemaFetcher, root_url: str | None) -> Iterator[Declaration]:
    """An index file maps keys (usually globs) to ``schema-reference`` or ``{schema: ..., executor: ...}``."""
    document = read_schema_file(index)
    if not isinstance(document, dict):
        raise ConfigError([f"{index}: an index file must map registry keys to schemas"])
    source = f"index {index}"
    for raw_key, value in document.items():
        key = checked_key(raw_key, source)
        reference, executor = _index_value(value, f"{index}: {key}")
        yield reference_declaration(key, reference, source, fetcher, root_url, index.parent, executor)


def _index_value(value: Any, where: str) -> tuple[str, str | None]:
    if isinstance(value, str):
        return value, None
    if (
        isinstance(value, dict)
        and isinstance(value.get("schema"), str)
        and set(value) <= {"schema", "executor"}
    ):
        executor = value.get("executor")
        if executor is None or isinstance(executor, str):
            return value["schema"], executor
    raise ConfigError(
        [f"{where}: expected a schema reference or {{schema: ..., executor: ...}}, got {value!r}"]
    )


def url_declarations(
    schema_urls: Mapping[str, str], fetcher: SchemaFetcher, root_url: str | None
) -> Iterator[Declaration]:
    """``registry.schema_urls`` from the config: key -> schema reference."""
    for raw_key, reference in schema_urls.items():
        key = checked_key(raw_key, "config registry.schema_urls")
        yield reference_declaration(
            key, reference, "config registry.schema_urls", fetcher, root_url, Path.cwd()
        )


def reference_declaration(
    key: str,
    reference: str,
    source: str,
    fetcher: SchemaFetcher,
    root_url: str | None,
    base_dir: Path,
    executor: str | None = None,
) -> Declaration:
    """A key bound to a schema reference (see the module docstring for how references are read)."""
    if "://" in reference or (reference.startswith("/schemas/") and root_url):
        url = reference if "://" in reference else f"{root_url}{reference}"
        schema = _mapping(fetcher.document(url), f"{source}: {url}")
        entry = _entry(key, f"{source} ({url})", schema, url, fetcher, executor)
        return Declaration(key, source, entry=entry)
    if "/" not in reference and not reference.endswith(SCHEMA_SUFFIXES):
        return Declaration(key, source, alias_of=reference, executor=executor)
    path = base_dir / reference
    return _file_declaration(key, path, source, fetcher, executor)


def _file_declaration(
    key: str, path: Path, source: str, fetcher: SchemaFetcher, executor: str | None = None
) -> Declaration:
    path = path.resolve()
    schema = _mapping(read_schema_file(path), str(path))
    entry = _entry(key, f"{source} ({path})", schema, path.as_uri(), fetcher, executor)
    return Declaration(key, source, entry=entry)


def _mapping(schema: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(schema, dict):
        raise ConfigError([f"{where}: a schema must be a JSON object, not {type(schema).__name__}"])
    return schema
