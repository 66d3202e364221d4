"""What is wrong with a payload, in words: one ``PayloadProblem`` per failing rule, and their text form.

jsonschema reports a failed ``oneOf``/``anyOf`` as one opaque error ("is not valid under any of the given
schemas") holding the errors of every alternative. People need the errors of the alternative they meant, so
the alternative with the fewest errors (the first of equals) stands in for the whole, recursively; that is
what makes ``payload.command[0]: 5 is not of type 'array'`` come out instead of a dump of the payload.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_COMBINATORS = ("oneOf", "anyOf")
_MAX_REPR = 60


@dataclass(frozen=True, order=True)
class PayloadProblem:
    """One failing rule: where (``payload.command[0]``), which keyword (``type``) and why, in words."""

    path: str
    rule: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


class NamedSchema(Protocol):
    """What the text rendering needs to name a schema (a ``RegistryEntry`` is one)."""

    @property
    def key(self) -> str: ...

    @property
    def schema_id(self) -> str: ...

    @property
    def title(self) -> str: ...


def format_path(parts: Iterable[str | int], root: str = "payload") -> str:
    """``["command", 0]`` -> ``payload.command[0]``; odd keys are quoted: ``payload.env["A B"]``."""
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += f"[{_quote(part)}]"
    return text


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def problems_from_errors(errors: Iterable[ValidationError], root: str = "payload") -> list[PayloadProblem]:
    """Every error, combinators replaced by their closest alternative, sorted by path then rule."""
    problems = {_problem(error, root) for error in _leaf_errors(errors)}
    return sorted(problems, key=lambda problem: (_path_sort_key(problem.path), problem.rule, problem.message))


def _leaf_errors(errors: Iterable[ValidationError]) -> Iterable[ValidationError]:
    for error in errors:
        closest = _closest_alternative(error) if error.validator in _COMBINATORS else None
        if closest:
            yield from _leaf_errors(closest)
        else:
            yield error


def _closest_alternative(error: ValidationError) -> list[ValidationError]:
    """The errors of the alternative that failed least; none when the combinator has no sub-errors."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub_error in error.context or ():
        branch = sub_error.schema_path[0] if sub_error.schema_path else 0
        by_branch.setdefault(int(branch), []).append(sub_error)
    if not by_branch:
        return []
    fewest = min(by_branch, key=lambda branch: (_badness(by_branch[branch], error), branch))
    return by_branch[fewest]


def _badness(errors: Sequence[ValidationError], parent: ValidationError) -> tuple[int, int]:
    """A wrong type at the combinator's own level means the alternative was not meant at all."""
    wrong_kind = sum(
        1 for e in errors if e.validator == "type" and len(e.absolute_path) == len(parent.absolute_path)
    )
    return wrong_kind, len(errors)


def _problem(error: ValidationError, root: str) -> PayloadProblem:
    return PayloadProblem(format_path(error.absolute_path, root), str(error.validator), _message(error))


def _message(error: ValidationError) -> str:
    """jsonschema's message, with a long instance shown in short so a huge payload never floods a log."""
    message = str(error.message)
    if "propertyNames" in error.relative_schema_path:
        message = f"property name {message}"
    full = repr(error.instance)
    if len(full) > _MAX_REPR and message.startswith(full):
        message = _short_repr(error.instance) + message[len(full) :]
    if len(message) > 300:
        message = message[:297] + "..."
    return message


def _short_repr(value: Any) -> str:
    if isinstance(value, dict):
        return f"{{...{len(value)} properties}}"
    if isinstance(value, list):
        return f"[...{len(value)} items]"
    return repr(value)[: _MAX_REPR - 3] + "..."


def _path_sort_key(path: str) -> list[tuple[int, int | str]]:
    parts: list[tuple[int, int | str]] = []
    for token in re.findall(r"\[(\d+)\]|\.?([^.\[]+)|\[(\"[^\]]*\")\]", path):
        index, name, quoted = token
        parts.append((0, int(index)) if index else (1, name or quoted))
    return parts


def render_problems_text(entry: NamedSchema, problems: Sequence[PayloadProblem]) -> str:
    """The text the CLI prints and the engine writes into the task log: the schema, then every problem."""
    if not problems:
        return f"Payload is valid against schema {_schema_name(entry)}.\n"
    noun = "problem" if len(problems) == 1 else "problems"
    lines = [f"Payload is invalid against schema {_schema_name(entry)}: {len(problems)} {noun}:"]
    lines.extend(f"  - {problem}" for problem in problems)
    return "\n".join(lines) + "\n"


def _schema_name(entry: NamedSchema) -> str:
    details = [detail for detail in (entry.title, entry.schema_id) if detail]
    return f"{entry.key} ({', '.join(details)})" if details else entry.key
