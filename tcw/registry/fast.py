"""A fast yes/no check in front of jsonschema, for the common case: a valid payload.

jsonschema walks a schema interpretively (about 5,000 typical payloads a second here); fastjsonschema
compiles it into Python code (ten times faster) but stops at the first error and knows drafts 4 to 7 only.
So a payload goes through the compiled check first; only when that says "invalid" (or cannot compile the
schema) does jsonschema run, and jsonschema's list of errors is the answer. The two agree because every
format goes through jsonschema's own format checker, defaults are never filled in, and the property tests
in tests/registry compare them on generated payloads.

fastjsonschema is optional: without it every payload goes through jsonschema, slower but the same.
"""

from __future__ import annotations

import copy
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any

from tcw.registry.compiler import OWN_FORMATS

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

log = logging.getLogger(__name__)

FastCheck = Callable[[Any], bool]
_FAST_DRAFTS = ("draft-04", "draft-06", "draft-07")


@dataclass(frozen=True)
class FastCode:
    """fastjsonschema's code for one schema: a module defining ``function``; ``dialect`` is the draft's
    metaschema id. Kept as a code object so that ``tcw.registry.check_cache`` can store it as it is."""

    dialect: str
    function: str
    code: CodeType


def fast_code(validator: Validator, retrieve: Callable[[str], Any], where: str) -> FastCode | None:
    """The fast check's code for ``validator``'s schema, or None when fastjsonschema cannot make one."""
    dialect = str(validator.META_SCHEMA.get("$id") or validator.META_SCHEMA.get("id") or "")
    if not any(draft in dialect for draft in _FAST_DRAFTS):
        return None
    try:
        import fastjsonschema
        from fastjsonschema.ref_resolver import RefResolver
    except ImportError:
        return None
    # A deep copy: fastjsonschema rewrites every $ref in place (made absolute), and the schema is the
    # registry entry's own (shown by `tcw schemas`, hashed by the check cache).
    schema = copy.deepcopy({**validator.schema, "$schema": dialect})  # type: ignore[dict-item]
    handlers = {scheme: retrieve for scheme in ("http", "https", "file", "urn")}
    # No detailed exceptions: only the yes/no is used (jsonschema explains), and without them the generated
    # code is a third of the size and compiles five times faster (8 ms instead of 44 for the shell schema).
    try:
        source = fastjsonschema.compile_to_code(
            schema,
            handlers=handlers,
            formats=validator_formats(validator),
            use_default=False,
            detailed_exceptions=False,
        )
        function = RefResolver.from_schema(schema, handlers=handlers, store={}).get_scope_name()
        code = compile(source, f"<fast check of {where}>", "exec")
    except Exception as error:  # any failure here only costs speed, never correctness
        log.debug("%s: no fast check (%s: %s); using jsonschema alone", where, type(error).__name__, error)
        return None
    return FastCode(dialect, function, code)


def fast_check(code: FastCode, formats: Mapping[str, Callable[[Any], bool]]) -> FastCheck:
    """The check ``code`` defines, checking formats with ``formats`` (looked up by name as it meets them)."""
    namespace: dict[str, Any] = {}
    exec(code.code, namespace)  # fastjsonschema's code, made here or read from the worker's own check cache
    return _checker(functools.partial(namespace[code.function], custom_formats=formats))


def _checker(compiled: Callable[[Any], Any]) -> FastCheck:
    from fastjsonschema import JsonSchemaException

    def is_valid(payload: Any) -> bool:
        try:
            compiled(payload)
        except (JsonSchemaException, RecursionError, TypeError, ValueError):
            return False  # jsonschema decides, and explains
        return True

    return is_valid


def validator_formats(validator: Validator) -> dict[str, Callable[[Any], bool]]:
    """Every format either library knows, checked exactly as jsonschema checks it (or not at all)."""
    from fastjsonschema.draft07 import CodeGeneratorDraft07

    checker: Any = getattr(validator, "format_checker", None)
    names = set(CodeGeneratorDraft07.FORMAT_REGEXS) | {"regex"}
    if checker is not None:
        names |= set(checker.checkers)

    def conforms(name: str) -> Callable[[Any], bool]:
        if checker is None or name not in checker.checkers:
            return lambda _value: True
        function, raises = checker.checkers[name]
        if not raises:
            return function  # type: ignore[no-any-return]
        return lambda value: bool(checker.conforms(value, name))

    return {name: conforms(name) for name in names}


class OwnFormatsFirst(Mapping[str, Callable[[Any], bool]]):
    """The formats of ``validator_formats``, for a check read from the cache before any validator exists:
    the formats tcw checks itself (``date-time``, ``uri``) are served at once; any other builds the
    validator (importing jsonschema) the first time the check meets it."""

    def __init__(self, all_formats: Callable[[], Mapping[str, Callable[[Any], bool]]]) -> None:
        self._all_formats = all_formats
        self._loaded: Mapping[str, Callable[[Any], bool]] | None = None

    def _all(self) -> Mapping[str, Callable[[Any], bool]]:
        if self._loaded is None:
            self._loaded = self._all_formats()
        return self._loaded

    def __getitem__(self, name: str) -> Callable[[Any], bool]:
        own = OWN_FORMATS.get(name)
        return own if own is not None else self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
