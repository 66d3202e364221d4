"""Turning a JSON schema into a validator, once: draft detection, checks, ``$ref`` resolution, formats.

A schema is checked against its draft's metaschema and every ``$ref`` in it is resolved when it is
compiled, so a broken schema is a configuration error at load rather than a surprise on the first task.

Drafts come from ``$schema``; a schema without one is read as 2020-12 (jsonschema's default). Taskcluster's
own schemas name ``/schemas/common/metaschema.json#`` (relative to the deployment), which is draft-06 with
Taskcluster's extra annotations, so any ``$schema`` ending that way is draft-06.

Relative ``$id``s (Taskcluster's ``/schemas/generic-worker/insecure_posix.json#``) are resolved against the
place the schema came from, so relative ``$ref``s to sibling schemas resolve against the deployment or the
directory that served it.

Formats are checked. Two formats jsonschema checks only with optional packages are checked here without
them: ``date-time`` (RFC 3339, as Taskcluster writes it) and ``uri`` (an absolute URI).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from tcw.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema.protocols import Validator
    from referencing import Resource, Specification

TASKCLUSTER_METASCHEMA_SUFFIX = "/schemas/common/metaschema.json"
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_NOT_SCHEMAS = frozenset({"enum", "const", "default", "examples"})

# Reads the document at an absolute URI (file:// or http(s)://), for $refs to other schemas.
Retrieve = Callable[[str], Any]


def validator_class(schema: Any, where: str) -> type[Validator]:
    """The jsonschema validator class for the draft ``schema`` declares."""
    from jsonschema import validators

    if not isinstance(schema, dict):
        raise ConfigError([f"{where}: a schema must be a JSON object, not {type(schema).__name__}"])
    declared = schema.get("$schema")
    if declared is None:
        return validators.Draft202012Validator
    if not isinstance(declared, str):
        raise ConfigError([f"{where}: $schema must be a string, not {declared!r}"])
    if declared.rstrip("#").endswith(TASKCLUSTER_METASCHEMA_SUFFIX):
        return validators.Draft6Validator
    known: type[Validator] | None = validators.validator_for(schema, default=None)  # type: ignore[arg-type]
    if known is None:
        raise ConfigError([f"{where}: unknown $schema {declared!r} (name a JSON Schema draft, 4 to 2020-12)"])
    return known


def _specification(cls: type[Validator]) -> Specification[Any]:
    from referencing.jsonschema import specification_with

    return specification_with(str(cls.META_SCHEMA.get(_id_keyword(cls), "")))


def _id_keyword(cls: type[Validator]) -> str:
    """Draft-04 and older name a schema's id ``id``; later drafts ``$id``."""
    return "$id" if "$id" in cls.META_SCHEMA else "id"


def absolute_id(schema: dict[str, Any], base_uri: str, cls: type[Validator]) -> str:
    """The schema's own ``$id`` made absolute against where it came from, without the empty fragment.

    A root-relative ``$id`` (Taskcluster's ``/schemas/...``) in a file read from disk would point at the
    file system's root; the file's own address is kept instead, so ``$ref``s reach its neighbours.
    """
    own = schema.get(_id_keyword(cls))
    if not isinstance(own, str) or (own.startswith("/") and base_uri.startswith("file:")):
        return base_uri.rstrip("#")
    return urljoin(base_uri, own).rstrip("#")


def compile_schema(schema: Any, *, base_uri: str, retrieve: Retrieve, where: str) -> Validator:
    """A checked, ready validator for ``schema``; ``where`` names its source in error messages."""
    cls = validator_class(schema, where)
    _check_against_metaschema(cls, schema, where)
    uri = absolute_id(schema, base_uri, cls)
    rooted = {**schema, _id_keyword(cls): uri}
    registry = _reference_registry(retrieve).with_resource(uri, _specification(cls).create_resource(rooted))
    _check_refs(registry, rooted, uri, cls, where)
    return cls(rooted, registry=registry, format_checker=_format_checker(cls))


def _check_against_metaschema(cls: type[Validator], schema: Any, where: str) -> None:
    from jsonschema.exceptions import SchemaError, best_match

    errors = list(cls(cls.META_SCHEMA).iter_errors(schema))
    if errors:
        error = best_match(errors)
        assert isinstance(error, Exception)
        place = "/".join(str(part) for part in getattr(error, "absolute_path", ())) or "(root)"
        message = getattr(error, "message", str(error))
        raise ConfigError([f"{where}: not a valid JSON schema: at {place}: {message}"]) from SchemaError(
            message
        )


def _reference_registry(retrieve: Retrieve) -> Any:
    """A ``referencing`` registry that reads unknown URIs through ``retrieve``, each once."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    resources: dict[str, Resource[Any]] = {}

    def retrieve_resource(uri: str) -> Resource[Any]:
        if uri not in resources:
            try:
                contents = retrieve(uri)
            except ConfigError as error:
                raise NoSuchResource(uri) from error
            cls = validator_class(contents, uri)
            resources[uri] = _specification(cls).create_resource(contents)
        return resources[uri]

    return Registry(retrieve=retrieve_resource)  # type: ignore[call-arg]


def _check_refs(registry: Any, schema: Any, uri: str, cls: type[Validator], where: str) -> None:
    from referencing.exceptions import Unresolvable

    resolver = registry.resolver(base_uri=uri)
    problems = []
    for ref in sorted(set(_refs(schema, uri, _id_keyword(cls)))):
        try:
            resolver.lookup(ref)
        except Unresolvable as error:
            cause = f": {error.__cause__}" if error.__cause__ else ""
            problems.append(f"{where}: cannot resolve $ref {ref}{cause}")
    if problems:
        raise ConfigError(problems)


def _refs(node: Any, base: str, id_keyword: str) -> Iterator[str]:
    """Every ``$ref`` in a schema, made absolute against the ``$id`` in force where it appears."""
    if isinstance(node, list):
        for item in node:
            yield from _refs(item, base, id_keyword)
    elif isinstance(node, dict):
        own_id = node.get(id_keyword)
        if isinstance(own_id, str):
            base = urljoin(base, own_id)
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield urljoin(base, ref)
        for key, value in node.items():
            if key not in _NOT_SCHEMAS:
                yield from _refs(value, base, id_keyword)


@cache
def _format_checker(cls: type[Validator]) -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checkers = dict(cls.FORMAT_CHECKER.checkers)
    for name, check in OWN_FORMATS.items():
        checker.checks(name)(check)
    return checker


def is_date_time(value: object) -> bool:
    """RFC 3339 date-time (``2024-05-01T12:00:00.000Z``); only strings are checked, as the spec says."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))  # rejects 2024-02-30 and 25:00
    except ValueError:
        return False
    return True


def is_uri(value: object) -> bool:
    """An absolute URI: a scheme, then something, no spaces."""
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme
    return bool(scheme and _SCHEME.match(scheme) and value[len(scheme) + 1 :] and " " not in value)


OWN_FORMATS: dict[str, Callable[[Any], bool]] = {"date-time": is_date_time, "uri": is_uri}
"""The formats checked here rather than by jsonschema (whichever draft), by name."""
