"""One frozen, typed configuration for every tcw command.

Values come from four layers, highest first: command-line flags, the environment (``TASKCLUSTER_*`` as the
official clients read it, and ``TCW_<SECTION>_<KEY>``), a YAML config file, and the defaults below. Every
problem in every layer is collected and reported together, each with its place, so a user fixes a config in
one round instead of one error per run.

Each setting lives in one section dataclass; the loader walks their fields, so adding a setting is adding a
field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tcw.errors import ConfigError

ID_PATTERN = re.compile(r"^[a-zA-Z0-9-_]{1,38}\Z")
WORKER_TYPE_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,36}[a-z0-9])?\Z")
ID_RULE = "must be 1 to 38 letters, digits, '-' or '_'"
WORKER_TYPE_RULE = (
    "must be 1 to 38 lower-case letters, digits or '-', starting with a letter, not ending in '-'"
)

LogFormat = Literal["text", "json"]
ArtifactStorage = Literal["object", "s3"]


def default_state_dir() -> Path:
    """Where tcw keeps state between runs (local queue DB, schema cache) unless told otherwise."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tcw"


@dataclass(frozen=True)
class Credentials:
    """Taskcluster credentials; the token never appears in a repr or a log."""

    client_id: str | None = None
    access_token: str | None = field(default=None, repr=False)
    certificate: str | None = field(default=None, repr=False)

    def for_client(self) -> dict[str, str] | None:
        """The ``credentials`` option of the official client, or None for anonymous calls."""
        if not self.client_id or not self.access_token:
            return None
        creds = {"clientId": self.client_id, "accessToken": self.access_token}
        if self.certificate:
            creds["certificate"] = self.certificate
        return creds


@dataclass(frozen=True)
class WorkerSettings:
    """Identity and behaviour of a worker (`tcw run`, `tcw claim-once`)."""

    provisioner_id: str | None = None
    worker_type: str | None = None
    worker_group: str = "tcw"
    worker_id: str | None = None  # None: the host name, sanitised to the id pattern
    capacity: int = 1
    shutdown_grace: float = 30.0
    max_tasks: int | None = None
    idle_timeout: float | None = None
    work_root: str | None = None  # None: a directory under the system's temp dir
    keep_workdir: bool = False
    executor: str = "shell"  # a registered executor name or module:function
    executors: Mapping[str, str] = field(default_factory=dict)  # task-queue pattern -> executor
    accept_any_payload: bool = False
    artifact_storage: ArtifactStorage = "object"

    @property
    def task_queue_id(self) -> str | None:
        if self.provisioner_id and self.worker_type:
            return f"{self.provisioner_id}/{self.worker_type}"
        return None


@dataclass(frozen=True)
class RegistrySettings:
    """Where payload schemas come from besides the built-in ones and entry points (see tcw.registry)."""

    directories: tuple[str, ...] = ()  # <dir>/<provisionerId>/<workerType>.json|yaml, plus <dir>/index.yaml
    # registry key (task queue id or glob) -> a schema URL, /schemas/... under root_url, a file, or a
    # named schema such as "shell"
    schema_urls: Mapping[str, str] = field(default_factory=dict)
    cache_dir: str | None = None  # None: <state dir>/schemas


@dataclass(frozen=True)
class LocalQueueSettings:
    """The local Taskcluster-compatible queue (`tcw queue serve`)."""

    host: str = "127.0.0.1"
    port: int = 8731
    db: str | None = None  # None: <state dir>/queue.sqlite3; ":memory:" keeps nothing
    clients_file: str | None = None
    claim_timeout: float = 1200.0
    claim_work_wait: float = 20.0
    resolver_interval: float = 5.0
    schemas_dir: str | None = None  # served at <root_url>/schemas/, as a deployment serves its schemas


@dataclass(frozen=True)
class InspectSettings:
    """Defaults for `tcw inspect-runs`."""

    concurrency: int = 16


@dataclass(frozen=True)
class Config:
    root_url: str | None = None
    credentials: Credentials = field(default_factory=Credentials)
    log_format: LogFormat = "text"
    verbosity: int = 0
    debug: bool = False
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    queue: LocalQueueSettings = field(default_factory=LocalQueueSettings)
    inspect: InspectSettings = field(default_factory=InspectSettings)

    def client_options(self) -> dict[str, Any]:
        """Options for the official ``taskcluster`` client classes."""
        if not self.root_url:
            raise ConfigError(["root_url: not set (use --root-url or TASKCLUSTER_ROOT_URL)"])
        options: dict[str, Any] = {"rootUrl": self.root_url}
        creds = self.credentials.for_client()
        if creds:
            options["credentials"] = creds
        return options


# The environment variables the official clients read, mapped onto our keys.
TASKCLUSTER_ENV = {
    "TASKCLUSTER_ROOT_URL": "root_url",
    "TASKCLUSTER_CLIENT_ID": "credentials.client_id",
    "TASKCLUSTER_ACCESS_TOKEN": "credentials.access_token",
    "TASKCLUSTER_CERTIFICATE": "credentials.certificate",
}


@dataclass(frozen=True)
class _Leaf:
    """One settable value: its dotted key and declared type."""

    key: str
    hint: Any

    @property
    def env_name(self) -> str:
        return "TCW_" + self.key.replace(".", "_").upper()


def _leaves(cls: type[Any], prefix: str = "") -> dict[str, _Leaf]:
    hints = typing.get_type_hints(cls)
    leaves: dict[str, _Leaf] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = prefix + f.name
        if dataclasses.is_dataclass(hint):
            leaves.update(_leaves(typing.cast(type[Any], hint), key + "."))
        else:
            leaves[key] = _Leaf(key, hint)
    return leaves


LEAVES = _leaves(Config)


def load_config(
    config_file: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Config:
    """Merge defaults < file < environment < flags into one validated ``Config``.

    ``flags`` maps dotted keys (``worker.capacity``) to values already typed by click; ``None`` values
    mean "flag not given" and are skipped.
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}  # key -> where its value came from, for messages
    if config_file is not None:
        file_values = _from_file(Path(config_file), problems)
        values.update(file_values)
        origins.update({key: f"{config_file}: {key}" for key in file_values})
    env_values = _from_environment(environ, problems)
    values.update(env_values)
    origins.update({key: _env_place(key) for key in env_values})
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in LEAVES:
            raise KeyError(f"unknown config key in flags: {key}")  # a programming error, not a user's
        values[key] = _coerce(value, LEAVES[key].hint, f"command line: {key}", problems)
        origins[key] = f"command line: {key}"
    config: Config = _build(Config, values, "")
    if config.root_url:
        config = dataclasses.replace(config, root_url=config.root_url.rstrip("/"))
    problems.extend(_check(config, origins))
    if problems:
        raise ConfigError(problems)
    return config


def _from_file(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"{path}: cannot read config file: {error.strerror or error}")
        return {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problems.append(f"{path}{where}: not valid YAML: {getattr(error, 'problem', error)}")
        return {}
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.append(f"{path}: the config file must hold a mapping, not {type(document).__name__}")
        return {}
    values: dict[str, Any] = {}
    _flatten(document, "", path, values, problems)
    return values


def _flatten(node: dict[Any, Any], prefix: str, path: Path, out: dict[str, Any], problems: list[str]) -> None:
    sections = {key.rsplit(".", 1)[0] for key in LEAVES if "." in key}
    for raw_key, value in node.items():
        key = prefix + str(raw_key).replace("-", "_")
        if key in sections:
            if isinstance(value, dict):
                _flatten(value, key + ".", path, out, problems)
            else:
                problems.append(f"{path}: {key}: expected a mapping of settings")
        elif key in LEAVES:
            out[key] = _coerce(value, LEAVES[key].hint, f"{path}: {key}", problems)
        else:
            problems.append(f"{path}: {key}: unknown key{_suggest(key)}")


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(LEAVES), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_place(key: str) -> str:
    official = {leaf_key: name for name, leaf_key in TASKCLUSTER_ENV.items()}
    return f"environment {official.get(key, LEAVES[key].env_name)}"


SECTION_PREFIXES = tuple(
    "TCW_" + section.upper() + "_" for section in {key.split(".")[0] for key in LEAVES if "." in key}
)


def _unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """``TCW_WORKER_CAPACTY=3`` is a typo, not a variable of someone else's: say so instead of ignoring it.
    Only names inside a section are judged (``TCW_CONFIG`` and other ``TCW_*`` names are left alone)."""
    import difflib

    known = [leaf.env_name for leaf in LEAVES.values()]
    problems = []
    for name in sorted(environ):
        if name.startswith(SECTION_PREFIXES) and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"environment {name}: unknown setting{hint}")
    return problems


def _from_environment(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    problems.extend(_unknown_settings(environ))
    values: dict[str, Any] = {}
    for name, key in TASKCLUSTER_ENV.items():
        if environ.get(name):
            values[key] = environ[name]
    for leaf in LEAVES.values():
        raw = environ.get(leaf.env_name)
        if raw is not None and raw != "":
            values[leaf.key] = _coerce_text(raw, leaf.hint, f"environment {leaf.env_name}", problems)
    return values


def _optional_inner(hint: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _coerce_text(raw: str, hint: Any, place: str, problems: list[str]) -> Any:
    """Environment values are text: parse them into the declared type first."""
    inner = _optional_inner(hint)
    origin = typing.get_origin(inner)
    if inner is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        problems.append(f"{place}: expected true or false, got {raw!r}")
        return None
    if inner in (int, float):
        try:
            return inner(raw)
        except ValueError:
            problems.append(f"{place}: expected {_type_name(inner)}, got {raw!r}")
            return None
    if origin is tuple:
        return tuple(
            part for part in raw.split(os.pathsep if "directories" in place.lower() else ",") if part
        )
    if origin in (Mapping, dict):
        document = yaml.safe_load(raw)
        return _coerce(document, hint, place, problems)
    return _coerce(raw, hint, place, problems)


def _type_name(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, str(hint))


def _coerce(value: Any, hint: Any, place: str, problems: list[str]) -> Any:
    """Check a value (from YAML or click) against the declared type; record a problem if it does not fit."""
    if value is None:
        if _optional_inner(hint) is not hint:
            return None
        problems.append(f"{place}: must not be empty")
        return None
    inner = _optional_inner(hint)
    origin = typing.get_origin(inner)
    if origin is Literal:
        return _coerce_choice(value, typing.get_args(inner), place, problems)
    if origin is tuple:
        return _coerce_strings(value, place, problems)
    if origin in (Mapping, dict):
        return _coerce_mapping(value, place, problems)
    return _coerce_scalar(value, inner, place, problems)


def _coerce_choice(value: Any, choices: tuple[str, ...], place: str, problems: list[str]) -> Any:
    if value in choices:
        return value
    problems.append(f"{place}: expected one of {', '.join(choices)}, got {value!r}")
    return None


def _coerce_scalar(value: Any, inner: Any, place: str, problems: list[str]) -> Any:
    if isinstance(value, bool) and inner is not bool:
        problems.append(f"{place}: expected {_type_name(inner)}, got {value!r}")
        return None
    if inner is float and isinstance(value, int | float):
        return float(value)
    if inner in (int, str, bool):
        if isinstance(value, inner):
            return value
        problems.append(f"{place}: expected {_type_name(inner)}, got {value!r}")
        return None
    raise TypeError(f"config type {inner!r} has no coercion")  # a programming error


def _coerce_strings(value: Any, place: str, problems: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    problems.append(f"{place}: expected a list of strings, got {value!r}")
    return None


def _coerce_mapping(value: Any, place: str, problems: list[str]) -> Mapping[str, str] | None:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return types.MappingProxyType(dict(value))
    problems.append(f"{place}: expected a mapping of strings to strings, got {value!r}")
    return None


def _build(cls: type[Any], values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(typing.cast(type[Any], hint), values, key + ".")
        elif key in values and (values[key] is not None or _optional_inner(hint) is not hint):
            kwargs[f.name] = values[key]
    return cls(**kwargs)


def _finite(minimum: float, *, strict: bool = False) -> tuple[Callable[[Any], bool], str]:
    if strict:
        return (lambda v: math.isfinite(v) and v > minimum), f"must be a number of seconds above {minimum:g}"
    return (lambda v: math.isfinite(v) and v >= minimum), f"must be a number of seconds, at least {minimum:g}"


def _at_least_one(v: Any) -> bool:
    return bool(v >= 1)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "worker.provisioner_id": (lambda v: bool(ID_PATTERN.match(v)), ID_RULE),
    "worker.worker_group": (lambda v: bool(ID_PATTERN.match(v)), ID_RULE),
    "worker.worker_id": (lambda v: bool(ID_PATTERN.match(v)), ID_RULE),
    "worker.worker_type": (
        lambda v: bool(WORKER_TYPE_PATTERN.match(v)),
        WORKER_TYPE_RULE,
    ),
    "worker.capacity": (_at_least_one, "must be at least 1"),
    "worker.max_tasks": (_at_least_one, "must be at least 1"),
    "inspect.concurrency": (_at_least_one, "must be at least 1"),
    "worker.shutdown_grace": _finite(0),
    "worker.idle_timeout": _finite(0),
    "queue.claim_timeout": _finite(0, strict=True),
    "queue.claim_work_wait": _finite(0),
    "queue.resolver_interval": _finite(0, strict=True),
    "queue.port": (lambda v: 0 <= v <= 65535, "must be 0..65535"),
    "queue.schemas_dir": (os.path.isdir, "is not a directory"),
    "root_url": (
        lambda v: bool(re.match(r"^https?://[^/]+/?$", v)),
        "is not a root URL like https://tc.example.com",
    ),
}


def _value(config: Config, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _check(config: Config, origins: Mapping[str, str]) -> list[str]:
    """Rules beyond types (identifiers, ranges, URLs), each problem named by where its value came from."""
    problems = []
    for key, (valid, message) in RULES.items():
        value = _value(config, key)
        if value is not None and not valid(value):
            problems.append(f"{origins.get(key, key)}: {message}, got {value!r}")
    return problems
