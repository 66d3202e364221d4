"""One registry entry: a key, the schema for it, where it came from, and its compiled validator."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcw.registry.compiler import Retrieve, compile_schema
from tcw.registry.fast import FastCheck, OwnFormatsFirst, fast_check, fast_code, validator_formats
from tcw.registry.problems import PayloadProblem, problems_from_errors

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from tcw.registry.check_cache import CheckCache


@dataclass(frozen=True)
class PayloadSchema:
    """What a ``tcw.payload_schemas`` entry point may provide besides a bare schema or a path to one.

    ``schema`` is a schema (a mapping) or the path of a JSON/YAML file holding one; ``executor`` names the
    executor that runs tasks of the queue.
    """

    schema: Mapping[str, Any] | str | Path
    executor: str | None = None


@dataclass(frozen=True)
class RegistryEntry:
    """A schema for one key. ``validate`` compiles it on first use and reuses the validator after that.

    Copies made with :meth:`under_key` (an index pointing a queue pattern at a named schema) share the
    compiled validator with the original. With a ``check_cache``, a schema checked and compiled by an
    earlier process is neither checked nor compiled again (``tcw.registry.check_cache``).
    """

    key: str
    source: str  # where it came from, for people: "built-in", "directory /etc/tcw/schemas", a URL...
    schema: Mapping[str, Any]
    base_uri: str  # what relative $id/$ref resolve against: the file's or URL's address
    retrieve: Retrieve = field(repr=False, compare=False)
    executor: str | None = None
    check_cache: CheckCache | None = field(default=None, repr=False, compare=False)
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def schema_id(self) -> str:
        """The schema's ``$id`` as it declares it (or the address it was read from, when it has none)."""
        declared = self.schema.get("$id", self.schema.get("id"))
        if isinstance(declared, str) and declared.rstrip("#"):
            return declared.rstrip("#")
        return self.base_uri

    @property
    def title(self) -> str:
        title = self.schema.get("title")
        return title if isinstance(title, str) else ""

    @property
    def validator(self) -> Validator:
        """The compiled validator; raises ``ConfigError`` if the schema is broken."""
        compiled: Validator | None = self._compiled.get("validator")
        if compiled is None:
            compiled = compile_schema(
                self.schema, base_uri=self.base_uri, retrieve=self.retrieve, where=self.describe()
            )
            self._compiled["validator"] = compiled
        return compiled

    def check(self) -> None:
        """Compile now, so a broken schema is reported at load (``ConfigError``); a schema in the check
        cache passed this check when it was stored there."""
        if self._cached_fast_check() is None:
            _ = self.validator

    def validate(self, payload: Any) -> list[PayloadProblem]:
        """Every problem with ``payload`` (empty when it is valid), sorted by path."""
        if self._fast_check()(payload):
            return []
        try:
            return problems_from_errors(self.validator.iter_errors(payload))
        except RecursionError:
            return [PayloadProblem("payload", "depth", "is nested too deeply to check")]

    def is_valid(self, payload: Any) -> bool:
        return not self.validate(payload)

    def _fast_check(self) -> FastCheck:
        """The compiled yes/no check (see tcw.registry.fast): from the check cache, else made on the second
        use.

        A one-off check (`tcw validate-payload` on one file) does not pay for compiling it; a worker or a
        batch does, once, and stores it for the next start.
        """
        fast: FastCheck | None = self._compiled.get("fast") or self._cached_fast_check()
        if fast is None:
            if not self._compiled.pop("used", False):
                self._compiled["used"] = True
                return _never_sure
            fast = self._compile_fast_check()
        self._compiled["fast"] = fast
        return fast

    def _cached_fast_check(self) -> FastCheck | None:
        """The check stored by an earlier process, looked up once."""
        if "cached" not in self._compiled:
            code = self.check_cache.load(self.schema, self.base_uri) if self.check_cache else None
            formats = OwnFormatsFirst(lambda: validator_formats(self.validator))
            self._compiled["cached"] = None if code is None else fast_check(code, formats)
        cached: FastCheck | None = self._compiled["cached"]
        return cached

    def _compile_fast_check(self) -> FastCheck:
        code = fast_code(self.validator, self.retrieve, self.describe())
        if code is None:
            return _never_sure
        if self.check_cache is not None:
            self.check_cache.store(self.schema, self.base_uri, code)
        return fast_check(code, validator_formats(self.validator))

    def under_key(self, key: str, source: str, executor: str | None = None) -> RegistryEntry:
        """This schema registered again under another key (sharing the compiled validator)."""
        return dataclasses.replace(self, key=key, source=source, executor=executor or self.executor)

    def describe(self) -> str:
        return f"schema {self.key!r} from {self.source}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "source": self.source,
            "schemaId": self.schema_id,
            "title": self.title,
            "executor": self.executor,
        }


def _never_sure(_payload: Any) -> bool:
    """Stands in for a fast check where there is none: jsonschema then decides every payload."""
    return False
