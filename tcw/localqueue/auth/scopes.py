"""Scopes and scope expressions, as Taskcluster's auth service and lib-api evaluate them.

A held scope ending in ``*`` grants every scope it is a prefix of; nothing else is special (``assume:`` is
not expanded: the local queue has no roles). Each API method names a scope *expression* (a template string,
``{"AllOf": [...]}``, ``{"AnyOf": [...]}`` or ``{"each": ..., "for": ..., "in": ...}`` inside those) that is
rendered with the call's parameters and then checked against the caller's scopes. The expressions are each
service's own data (services/<name>/scopes.py); a test compares them with the official API references.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias

from tcw.localqueue.core.checks import PRINTABLE
from tcw.localqueue.core.errors import InsufficientScopes

Expression: TypeAlias = str | Mapping[str, Any]


@dataclass(frozen=True)
class Caller:
    """An authenticated (or anonymous) caller: its clientId for logs and the scopes that authorize it."""

    client_id: str
    scopes: tuple[str, ...]


_PARAMETER = re.compile(r"<([^<>]+)>")


def each(template: str, variable: str, collection: str) -> dict[str, str]:
    """``{"each": template, "for": variable, "in": collection}``: one scope per item of a parameter."""
    return {"each": template, "for": variable, "in": collection}


def valid_scopes(scopes: Any) -> bool:
    """A list of strings of printable ASCII, the only characters a Taskcluster scope may hold."""
    return isinstance(scopes, list) and all(
        isinstance(scope, str) and PRINTABLE.match(scope) for scope in scopes
    )


def satisfies(held: Iterable[str], required: str) -> bool:
    """True when one held scope is ``required`` itself or a ``*``-pattern that is a prefix of it."""
    return any(
        scope == required or (scope.endswith("*") and required.startswith(scope[:-1])) for scope in held
    )


def satisfies_expression(held: Sequence[str], expression: Expression) -> bool:
    """Evaluate a rendered expression (no ``<param>`` or ``each`` left) against held scopes."""
    if isinstance(expression, str):
        return satisfies(held, expression)
    if "AllOf" in expression:
        return all(satisfies_expression(held, sub) for sub in expression["AllOf"])
    if "AnyOf" in expression:
        return any(satisfies_expression(held, sub) for sub in expression["AnyOf"])
    raise ValueError(f"not a scope expression: {expression!r}")


def missing_scopes(held: Sequence[str], expression: Expression) -> Expression | None:
    """The part of a rendered expression ``held`` does not satisfy (None when satisfied), simplified
    the way lib-scopes' ``removeGivenScopes`` reports it."""
    if isinstance(expression, str):
        return None if satisfies(held, expression) else expression
    if "AllOf" in expression:
        unmet = [m for m in (missing_scopes(held, sub) for sub in expression["AllOf"]) if m is not None]
        return _simplify("AllOf", unmet) if unmet else None
    unmet_options = [missing_scopes(held, sub) for sub in expression["AnyOf"]]
    if any(option is None for option in unmet_options):
        return None
    return _simplify("AnyOf", [option for option in unmet_options if option is not None])


def _simplify(operator: str, parts: list[Expression]) -> Expression:
    return parts[0] if len(parts) == 1 else {operator: parts}


def render(expression: Expression, params: Mapping[str, Any]) -> Expression:
    """Substitute ``<param>`` and expand ``each``/``for``/``in`` like lib-api's ScopeExpressionTemplate.

    A parameter the template names but ``params`` lacks is a bug in the caller, hence KeyError.
    """
    if isinstance(expression, str):
        return _substitute(expression, params)
    for operator in ("AllOf", "AnyOf"):
        if operator in expression:
            return {operator: [item for sub in expression[operator] for item in _render_item(sub, params)]}
    raise ValueError(f"not a scope expression template: {expression!r}")


def _render_item(item: Expression, params: Mapping[str, Any]) -> list[Expression]:
    if isinstance(item, Mapping) and "each" in item:
        values = _parameter(params, item["in"])
        if not isinstance(values, list | tuple):
            raise TypeError(f"scope parameter {item['in']!r} must be a list, not {type(values).__name__}")
        scope = dict(params)
        rendered: list[Expression] = []
        for value in values:
            scope[item["for"]] = value
            rendered.append(_substitute(item["each"], scope))
        return rendered
    return [render(item, params)]


def _substitute(template: str, params: Mapping[str, Any]) -> str:
    parts = _template_parts(template)
    rendered = [parts[0]]
    for index in range(1, len(parts), 2):
        name = parts[index]
        value = _parameter(params, name)
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise TypeError(f"scope parameter {name!r} must be a string, not {value!r}")
        rendered += [str(value), parts[index + 1]]
    return "".join(rendered)


@cache
def _template_parts(template: str) -> list[str]:
    """Literal text and parameter names alternating, split once per template: every request renders one."""
    return _PARAMETER.split(template)


def renders_with(expression: Expression, params: Mapping[str, Any]) -> bool:
    """Whether ``params`` fill every parameter ``expression`` names."""
    try:
        render(expression, params)
    except (KeyError, TypeError):
        return False
    return True


def _parameter(params: Mapping[str, Any], name: str) -> Any:
    if name not in params:
        raise KeyError(f"scope expression needs parameter {name!r}; got {sorted(params)}")
    return params[name]


def authorize(caller: Caller, template: Expression | None, params: Mapping[str, Any]) -> None:
    """Raise InsufficientScopes unless the caller satisfies the method's expression ``template`` rendered
    with ``params``; a method without one (None) needs no scope."""
    if template is None:
        return
    required = render(template, params)
    unmet = missing_scopes(caller.scopes, required)
    if unmet is not None:
        raise InsufficientScopes(
            insufficient_scopes_message(caller, required, unmet),
            details={"scopes": list(caller.scopes), "required": required, "unsatisfied": unmet},
        )


def insufficient_scopes_message(caller: Caller, required: Expression, unmet: Expression) -> str:
    """The real service's 403 text: what is missing, what the caller has, what the method requires."""
    return "\n".join(
        [
            f"Client ID {caller.client_id} does not have sufficient scopes. "
            "You are missing the following scopes:",
            "",
            "```",
            _as_text(unmet),
            "```",
            "",
            "You have the scopes:",
            "",
            "```",
            _as_text(list(caller.scopes)),
            "```",
            "",
            "This request requires you to satisfy this scope expression:",
            "",
            "```",
            _as_text(required),
            "```",
        ]
    )


def _as_text(value: Any) -> str:
    """lib-api renders non-string details as two-space-indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, indent=2)
