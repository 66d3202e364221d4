"""How config values are read and checked: YAML files, environment text, declared types, bounded messages.

The declarations live in ``tcw.config``; this module knows only Python types, so the two read one way: a
setting's type decides how its environment text is parsed and what its file value must look like.
Environment lists and maps use YAML flow syntax (``[a, b]``, ``{key: value}``; JSON is YAML too), the same
syntax as the config file.
"""

from __future__ import annotations

import json
import reprlib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tcw.errors import ConfigError

if TYPE_CHECKING:
    import yaml

MAX_SHOWN = 120  # characters of a bad value a message quotes: enough to recognise it, never a flood

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxlist, _repr.maxdict, _repr.maxstring, _repr.maxother = 3, 6, 6, MAX_SHOWN, MAX_SHOWN


def bounded(value: Any) -> str:
    """``repr(value)`` cut to a readable length, computed without walking the whole value: a YAML alias
    bomb (a few lines that expand to billions of items) must not become a 300 MB error message."""
    return clip(_repr.repr(value))


def clip(text: str) -> str:
    """``text`` cut to MAX_SHOWN characters, marked with ``...`` where it was cut."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's own text spans several lines)."""
    mark = getattr(error, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"not valid YAML: {getattr(error, 'problem', None) or error}{where}"


def read_yaml_file(path: Path, what: str) -> Any:
    """The document in a YAML file a user gave us (config, clients); every failure is one ConfigError line."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError([f"{path}: cannot read {what}: {error.strerror or error}"]) from error
    except UnicodeDecodeError as error:
        byte = f"byte {error.object[error.start]:#04x} at offset {error.start}"
        raise ConfigError([f"{path}: {what} is not UTF-8 text ({byte})"]) from error
    import yaml  # here: a worker configured by flags and environment alone never pays for importing it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError([f"{path}: {yaml_problem(error)}"]) from error


def optional_inner(hint: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


_SCALAR_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def type_name(hint: Any) -> str:
    """The declared type in words, for messages and the generated reference."""
    inner = optional_inner(hint)
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "one of " + ", ".join(typing.get_args(inner))
    if origin is tuple:
        return "a list of strings"
    if origin in (Mapping, dict):
        return "a mapping of strings to strings"
    return _SCALAR_NAMES[inner]


_UNREADABLE = object()


def _structured(raw: str, place: str, problems: list[str]) -> Any:
    """A list or mapping written in the environment: JSON (what programs write, and read without importing
    PyYAML), else YAML (what people write: ``{proj-*/*: shell}``)."""
    try:
        return json.loads(raw)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as error:
        problems.append(f"{place}: {yaml_problem(error)}")
        return _UNREADABLE


def parse_environment_value(raw: str, hint: Any, place: str, problems: list[str]) -> Any:
    """Environment values are text: parse them into the declared type first."""
    inner = optional_inner(hint)
    origin = typing.get_origin(inner)
    if inner is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
    elif inner in (int, float):
        try:
            return inner(raw)
        except ValueError:
            pass
    elif origin is tuple and not raw.lstrip().startswith("["):
        return (raw,)  # a bare value is a list of one: TCW_REGISTRY_DIRECTORIES=/etc/tcw/schemas
    elif origin in (tuple, Mapping, dict):
        document = _structured(raw, place, problems)
        return None if document is _UNREADABLE else coerce(document, hint, place, problems)
    else:
        return coerce(raw, hint, place, problems)
    problems.append(f"{place}: expected {type_name(hint)}, got {bounded(raw)}")
    return None


def coerce(value: Any, hint: Any, place: str, problems: list[str]) -> Any:
    """Check a value (from YAML or click) against the declared type; record a problem if it does not fit."""
    if value is None:
        if optional_inner(hint) is not hint:
            return None
        problems.append(f"{place}: must not be empty")
        return None
    inner = optional_inner(hint)
    origin = typing.get_origin(inner)
    if origin is Literal:
        fits = value in typing.get_args(inner)
    elif origin is tuple:
        fits = isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
        value = tuple(value) if fits else value
    elif origin in (Mapping, dict):
        fits = isinstance(value, Mapping) and all(  # a mapping already checked is read-only
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )
        value = types.MappingProxyType(dict(value)) if fits else value
    elif isinstance(value, bool) and inner is not bool:
        fits = False
    elif inner is float and isinstance(value, int | float):
        fits, value = True, float(value)
    else:
        fits = isinstance(value, inner)
    if fits:
        return value
    problems.append(f"{place}: expected {type_name(hint)}, got {bounded(value)}")
    return None
