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

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

log = logging.getLogger(__name__)

FastCheck = Callable[[Any], bool]
_FAST_DRAFTS = ("draft-04", "draft-06", "draft-07")


def compile_fast_check(validator: Validator, retrieve: Callable[[str], Any], where: str) -> FastCheck | None:
    """A compiled ``payload -> is it valid?`` for ``validator``'s schema, or None when there is none."""
    dialect = str(validator.META_SCHEMA.get("$id") or validator.META_SCHEMA.get("id") or "")
    if not any(draft in dialect for draft in _FAST_DRAFTS):
        return None
    try:
        import fastjsonschema
    except ImportError:
        return None
    schema = {**validator.schema, "$schema": dialect}  # type: ignore[dict-item]
    handlers = {scheme: retrieve for scheme in ("http", "https", "file", "urn")}
    # No detailed exceptions: only the yes/no is used (jsonschema explains), and without them the generated
    # code is a third of the size and compiles five times faster (8 ms instead of 44 for the shell schema).
    try:
        compiled = fastjsonschema.compile(
            schema,
            handlers=handlers,
            formats=_formats(validator),
            use_default=False,
            detailed_exceptions=False,
        )
    except Exception as error:  # any failure here only costs speed, never correctness
        log.debug("%s: no fast check (%s: %s); using jsonschema alone", where, type(error).__name__, error)
        return None
    return _checker(compiled)


def _checker(compiled: Callable[[Any], Any]) -> FastCheck:
    from fastjsonschema import JsonSchemaException

    def is_valid(payload: Any) -> bool:
        try:
            compiled(payload)
        except (JsonSchemaException, RecursionError, TypeError, ValueError):
            return False  # jsonschema decides, and explains
        return True

    return is_valid


def _formats(validator: Validator) -> dict[str, Callable[[Any], bool]]:
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
