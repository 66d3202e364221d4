"""One frozen, typed configuration for every tcw command.

Values come from four layers, highest first: command-line flags, the environment (``TASKCLUSTER_*`` as the
official clients read it, and ``TCW_<SECTION>_<KEY>``), a YAML config file, and the defaults below. Every
problem in every layer is collected and reported together, each with its place, so a user fixes a config in
one round instead of one error per run.

Each setting is one ``setting(...)`` declaration in a section dataclass: its type, default, help text,
environment variable and rule live there and nowhere else. The loader walks these declarations, and
``make generated`` renders them as docs/config.md and the CONFIGURATION section of tcw(1), so adding a
setting is adding one declaration.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
import types
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tcw.config_values import bounded, clip, coerce, parse_environment_value, read_yaml_file, type_name
from tcw.errors import ConfigError

ID_PATTERN = re.compile(r"^[a-zA-Z0-9-_]{1,38}\Z")
WORKER_TYPE_PATTERN = re.compile(r"^[a-z]([-a-z0-9]{0,36}[a-z0-9])?\Z")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9!@/:.+|_-]+\Z")  # the auth service's clientId pattern
WORKER_POOL_PATTERN = re.compile(r"^[a-zA-Z0-9-_]{1,38}/[a-z]([-a-z0-9]{0,36}[a-z0-9])?\Z")
ID_RULE = "must be 1 to 38 letters, digits, '-' or '_'"
WORKER_TYPE_RULE = (
    "must be 1 to 38 lower-case letters, digits or '-', starting with a letter, not ending in '-'"
)

LogFormat = Literal["text", "json"]
ArtifactStorage = Literal["object", "s3"]
Containment = Literal["auto", "cgroup", "subreaper"]
Rule = tuple[Callable[[Any], bool], str]  # (is the value valid?, what a valid value is)


def setting(
    default: Any,
    help: str,
    *,
    env: str | None = None,
    rule: Rule | None = None,
    shown_default: str | None = None,
    secret: bool = False,
) -> Any:
    """Declare one setting: ``capacity: int = setting(1, "Tasks run at the same time.")``.

    ``env`` replaces the variable derived from the key (``TCW_WORKER_CAPACITY``); ``shown_default`` says in
    words what an unset (None) default means; ``secret`` keeps the value out of reprs.
    """
    metadata = {"help": help, "env": env, "rule": rule, "shown_default": shown_default, "secret": secret}
    if isinstance(default, Mapping):
        frozen = types.MappingProxyType(dict(default))
        return field(default_factory=lambda: frozen, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def default_state_dir() -> Path:
    """Where tcw keeps state between runs (local queue DB, schema cache) unless told otherwise."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tcw"


def _matches(pattern: re.Pattern[str], message: str) -> Rule:
    return (lambda v: bool(pattern.match(v))), message


def _seconds(minimum: float, *, strict: bool = False) -> Rule:
    if strict:
        return (lambda v: math.isfinite(v) and v > minimum), f"must be a number of seconds above {minimum:g}"
    return (lambda v: math.isfinite(v) and v >= minimum), f"must be a number of seconds, at least {minimum:g}"


AT_LEAST_ONE: Rule = (lambda v: bool(v >= 1)), "must be at least 1"
_PORT: Rule = (lambda v: 0 <= v <= 65535), "must be 0..65535"


def _is_http_url(value: str) -> bool:
    """``https://logs.example.com/worker-7``: a scheme, a host, an optional path."""
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and value.isprintable()
        and " " not in value
    )


TASKCLUSTER_ID: Rule = _matches(ID_PATTERN, ID_RULE)


def _is_root_url(value: str) -> bool:
    """``https://tc.example.com`` or ``http://127.0.0.1:8731``: a scheme, a host, a valid port, no path."""
    try:
        parts = urllib.parse.urlsplit(value)
        _ = parts.port  # raises for a port out of range or not a number
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path in ("", "/")
        and not (parts.query or parts.fragment or parts.username)
        and value.isprintable()
        and " " not in value
    )


def _is_certificate(value: str) -> bool:
    try:
        return isinstance(json.loads(value), dict)
    except ValueError:
        return False


@dataclass(frozen=True)
class Credentials:
    """Taskcluster credentials; the token never appears in a repr or a log."""

    client_id: str | None = setting(
        None,
        "Taskcluster client id the worker and commands call as (unset: anonymous calls).",
        env="TASKCLUSTER_CLIENT_ID",
        rule=_matches(CLIENT_ID_PATTERN, "must be letters, digits or any of !@/:.+|_- (no spaces)"),
    )
    access_token: str | None = setting(
        None, "Access token of the client id.", env="TASKCLUSTER_ACCESS_TOKEN", secret=True
    )
    certificate: str | None = setting(
        None,
        "Certificate (JSON) of temporary credentials.",
        env="TASKCLUSTER_CERTIFICATE",
        rule=(_is_certificate, "must be the JSON certificate of temporary credentials"),
        secret=True,
    )
    file: str | None = setting(
        None,
        "YAML file with client_id, access_token (and certificate), readable by this user only (0600); "
        "the environment and flags override what it holds.",
    )

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

    provisioner_id: str | None = setting(
        None, "Provisioner id of the task queue served (the part before the '/').", rule=TASKCLUSTER_ID
    )
    worker_type: str | None = setting(
        None,
        "Worker type of the task queue served (the part after the '/').",
        rule=_matches(WORKER_TYPE_PATTERN, WORKER_TYPE_RULE),
    )
    worker_group: str = setting("tcw", "Worker group this worker reports in.", rule=TASKCLUSTER_ID)
    worker_id: str | None = setting(
        None, "Worker id.", shown_default="the host name, sanitised to an id", rule=TASKCLUSTER_ID
    )
    capacity: int = setting(1, "Tasks run at the same time.", rule=AT_LEAST_ONE)
    shutdown_grace: float = setting(
        30.0,
        "Seconds running tasks get to finish after the first SIGTERM/SIGINT before they are killed.",
        rule=_seconds(0),
    )
    max_tasks: int | None = setting(
        None, "Exit after claiming this many tasks.", shown_default="no limit", rule=AT_LEAST_ONE
    )
    idle_timeout: float | None = setting(
        None, "Exit after this many seconds without work.", shown_default="never", rule=_seconds(0)
    )
    work_root: str | None = setting(
        None, "Where per-run work directories go.", shown_default="a directory under the system's temp dir"
    )
    keep_workdir: bool = setting(False, "Keep each run's work directory after the run.")
    executor: str = setting(
        "shell",
        "Executor for tasks: a registered executor name (entry point group tcw.executors), "
        "module:function or path/to/file.py:function. Used when neither worker.executors nor the queue's "
        "registry entry names one.",
    )
    executors: Mapping[str, str] = setting(
        {}, "Executor per task queue: task queue id or glob (P/*) -> executor name or module:function."
    )
    accept_any_payload: bool = setting(
        False,
        "Run payloads unchecked when the task queue has no payload schema (registry entry or executor's).",
    )
    artifact_storage: ArtifactStorage = setting(
        "s3",
        "How artifacts with data are uploaded: s3 (the queue's s3 type: createArtifact and one PUT, "
        "generic-worker's default) or object (the object service: three calls more per artifact, with "
        "hashes checked on download).",
    )
    task_user: str | None = setting(
        None,
        "User (name or uid) tasks run as; the worker must run as root. The production setting: a task "
        "then cannot read the worker's files, credentials or other runs' logs.",
        shown_default="the worker's own user",
    )
    allow_root_tasks: bool = setting(
        False, "Run tasks as root when the worker runs as root and no worker.task_user is set."
    )
    containment: Containment = setting(
        "auto",
        "How a run's processes are all ended, also those that left its process group: cgroup (a cgroup v2 "
        "per run), subreaper (the worker inherits and kills orphans), or auto (cgroup where the host "
        "allows it).",
    )
    location: str | None = setting(
        None,
        "Where the worker runs, as the JSON object worker-runner's workerLocation holds "
        '({"cloud": "aws", "region": ...}); tasks get it as TASKCLUSTER_WORKER_LOCATION.',
        shown_default="unset",
        rule=(_is_certificate, "must be a JSON object"),  # a certificate is a JSON object in a string too
    )
    worker_pool: str | None = setting(
        None,
        "Register with worker-manager as a worker of this pool (its task queue id, P/W) and serve its "
        "queue (--worker-pool).",
        shown_default="no registration",
        rule=_matches(WORKER_POOL_PATTERN, "must be provisionerId/workerType"),
    )
    static_secret: str | None = setting(
        None,
        "The static worker's secret for registerWorker (createWorker's providerInfo.staticSecret); best "
        "given as TCW_WORKER_STATIC_SECRET from a secret store, never in a file others can read.",
        rule=_matches(re.compile(r"^[a-zA-Z0-9_-]{44}\Z"), "must be 44 letters, digits, '-' or '_'"),
        secret=True,
    )
    provider_id: str = setting(
        "static", "The worker-manager provider the worker registers with.", rule=TASKCLUSTER_ID
    )
    terminate_check_interval: float = setting(
        60.0,
        "Seconds between the worker's shouldWorkerTerminate questions to worker-manager.",
        rule=_seconds(0.1),
    )
    taskcluster_proxy: bool = setting(
        False,
        "Give shell tasks a taskcluster-proxy (TASKCLUSTER_PROXY_URL) unless their payload sets "
        "features.taskclusterProxy.",
    )
    task_credentials_fd: bool = setting(
        False,
        "Pass shell tasks the claim's own credentials (worker-only scopes included) in the file descriptor "
        "TASKCLUSTER_CREDENTIALS_FD, rewritten after each reclaim: only for tasks the worker trusts.",
    )
    live_log_port: int | None = setting(
        None,
        "Port of the live log server (0: any free port); public/logs/live.log points there while tasks run.",
        shown_default="no live logs",
        rule=_PORT,
    )
    live_log_url: str | None = setting(
        None,
        "Base URL published for live logs (e.g. an operator's TLS front); runs get <url>/log/<token>.",
        shown_default="http://<host>:<live_log_port>",
        rule=(_is_http_url, "must be an http(s) URL with a host"),
    )
    metrics_port: int | None = setting(
        None,
        "Port serving Prometheus /metrics and /healthz (0: any free port).",
        shown_default="the live log server's port, when it runs",
        rule=_PORT,
    )
    listen_address: str = setting("0.0.0.0", "Address the live log and metrics servers listen on.")
    health_window: float = setting(
        1200.0,
        "/healthz answers 503 once no claimWork was answered and no reclaim landed for this many seconds "
        "(keep it above the time between reclaims: 17 min on a deployment's default 20 min claims).",
        rule=_seconds(0, strict=True),
    )
    min_free_disk_mb: int = setting(
        0,
        "Claim nothing while the work root's file system has less free space than this (MiB); 0: no check.",
        rule=(lambda v: v >= 0, "must be 0 or more"),
    )
    progress_interval: float = setting(
        60.0,
        "Seconds between the progress lines (elapsed, task log size) logged for a running task; 0: none.",
        rule=_seconds(0),
    )
    startup_timeout: float = setting(
        30.0,
        "Seconds `tcw run` and `claim-once` try to reach the deployment at start before exiting 5.",
        rule=_seconds(0, strict=True),
    )

    @property
    def task_queue_id(self) -> str | None:
        if self.provisioner_id and self.worker_type:
            return f"{self.provisioner_id}/{self.worker_type}"
        return None

    @property
    def work_root_path(self) -> Path:
        """``work_root``, or its default under the system's temp dir."""
        return Path(self.work_root or Path(tempfile.gettempdir()) / "tcw-work")


@dataclass(frozen=True)
class MountSettings:
    """Mounts of shell payloads: writable caches and the content store of downloaded mount content."""

    root: str | None = setting(
        None,
        "Where caches and downloaded mount content are kept; on the work root's file system, since caches "
        "are moved into task directories, never copied.",
        shown_default="<work root>/mounts",
    )
    allow_absolute: bool = setting(
        False, "Let mounts name absolute paths outside the task directory (refused as malformed otherwise)."
    )
    min_free_space_mb: int = setting(
        10240,
        "Before each claim, idle caches and stored content are collected, least recently used first, "
        "until this many MiB are free where they live.",
        rule=(lambda v: v >= 0, "must be 0 or more"),
    )

    def root_path(self, worker: WorkerSettings) -> Path:
        return Path(self.root) if self.root else worker.work_root_path / "mounts"


@dataclass(frozen=True)
class RegistrySettings:
    """Where payload schemas come from besides the built-in ones and entry points (see tcw.registry)."""

    directories: tuple[str, ...] = setting(
        (), "Registry directories: <dir>/<provisionerId>/<workerType>.json|yaml files plus <dir>/index.yaml."
    )
    schema_urls: Mapping[str, str] = setting(
        {},
        "Registry key (task queue id or glob) -> payload schema: a URL, /schemas/... under the root URL, "
        "a file, or a named schema such as shell.",
    )
    cache_dir: str | None = setting(
        None,
        "Where fetched schemas are cached, and in its checks/ the payload checks compiled from schemas "
        "(used only while the worker's user alone can write there).",
        shown_default="<state dir>/schemas",
    )


@dataclass(frozen=True)
class LocalQueueSettings:
    """The local Taskcluster-compatible queue (`tcw queue serve`)."""

    host: str = setting("127.0.0.1", "Address the local queue listens on.")
    port: int = setting(
        8731,
        "Port the local queue listens on (0: any free port).",
        rule=(lambda v: 0 <= v <= 65535, "must be 0..65535"),
    )
    db: str | None = setting(
        None,
        "SQLite database of the local queue; :memory: keeps nothing.",
        shown_default="<state dir>/queue.sqlite3",
    )
    clients_file: str | None = setting(
        None,
        "YAML list of clients ({clientId, accessToken, scopes}) the local queue accepts.",
        shown_default="only a generated root client",
    )
    claim_timeout: float = setting(
        1200.0, "Seconds a claim lasts before it must be reclaimed.", rule=_seconds(0, strict=True)
    )
    claim_work_wait: float = setting(
        20.0, "Seconds an empty claimWork long-poll waits before answering.", rule=_seconds(0)
    )
    resolver_interval: float = setting(
        5.0,
        "Seconds between sweeps that resolve expired claims and deadlines.",
        rule=_seconds(0, strict=True),
    )
    public_read: bool = setting(
        False,
        "Give the anonymous role the read-only scopes of a public Taskcluster deployment (tasks, statuses,"
        " task groups, public artifacts, workers), so the web view and calls without credentials read them.",
    )
    schemas_dir: str | None = setting(
        None,
        "Directory served at <root URL>/schemas/, as a deployment serves its schemas.",
        rule=(os.path.isdir, "is not a directory"),
    )
    secrets_dir: str | None = setting(
        None,
        "Private directory (mode 0700) where the local queue keeps each database's root credentials and"
        " issuer token.",
        shown_default="<state dir>/local-queue-secrets",
    )
    max_connections: int = setting(
        512,
        "Connections the local queue keeps open at most (fewer if the descriptor limit is lower); at the"
        " limit a new one closes the oldest with no request in progress.",
        rule=(lambda v: v >= 1, "must be at least 1"),
    )
    idle_timeout: float = setting(
        30.0,
        "Seconds a connection to the local queue may stay open without a request in progress (also before"
        " its first request head is complete).",
        rule=_seconds(0, strict=True),
    )


@dataclass(frozen=True)
class InspectSettings:
    """Defaults for `tcw inspect-runs`."""

    concurrency: int = setting(16, "Requests inspect-runs makes at the same time.", rule=AT_LEAST_ONE)


@dataclass(frozen=True)
class Config:
    root_url: str | None = setting(
        None,
        "Taskcluster root URL, e.g. https://tc.example.com.",
        env="TASKCLUSTER_ROOT_URL",
        rule=(_is_root_url, "is not a root URL like https://tc.example.com"),
    )
    credentials: Credentials = field(default_factory=Credentials)
    log_format: LogFormat = setting("text", "Log lines for people (text) or one JSON object a line (json).")
    verbosity: int = setting(0, "Log detail: 0 info, 1 debug, -1 warnings only, -2 errors only (-v/-q).")
    debug: bool = setting(False, "Debug logs and full tracebacks on errors.")
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    queue: LocalQueueSettings = field(default_factory=LocalQueueSettings)
    inspect: InspectSettings = field(default_factory=InspectSettings)
    mounts: MountSettings = field(default_factory=MountSettings)

    def client_options(self) -> dict[str, Any]:
        """Options for the official ``taskcluster`` client classes."""
        if not self.root_url:
            raise ConfigError(["root_url: not set (use --root-url or TASKCLUSTER_ROOT_URL)"])
        options: dict[str, Any] = {"rootUrl": self.root_url}
        creds = self.credentials.for_client()
        if creds:
            options["credentials"] = creds
        return options


@dataclass(frozen=True)
class Leaf:
    """One declared setting, as the loader and the generated reference see it."""

    key: str
    hint: Any
    default: Any
    help: str
    env_name: str
    rule: Rule | None
    shown_default: str | None
    secret: bool

    @property
    def type_name(self) -> str:
        return type_name(self.hint)


def _derived_env_name(key: str) -> str:
    return "TCW_" + key.replace(".", "_").upper()


def _leaves(cls: type[Any], prefix: str = "") -> dict[str, Leaf]:
    hints = typing.get_type_hints(cls)
    leaves: dict[str, Leaf] = {}
    for f in dataclasses.fields(cls):
        hint, key = hints[f.name], prefix + f.name
        if dataclasses.is_dataclass(hint):
            leaves.update(_leaves(typing.cast(type[Any], hint), key + "."))
            continue
        default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        env_name = f.metadata["env"] or _derived_env_name(key)
        leaves[key] = Leaf(
            key,
            hint,
            default,
            f.metadata["help"],
            env_name,
            f.metadata["rule"],
            f.metadata["shown_default"],
            f.metadata["secret"],
        )
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
    flag_keys = {key for key, value in (flags or {}).items() if value is not None}
    credentials_file = (flags or {}).get("credentials.file") or env_values.get("credentials.file")
    credentials_file = credentials_file or values.get("credentials.file")
    if credentials_file:
        for key, value in _from_credentials_file(Path(credentials_file), problems).items():
            if key not in env_values and key not in flag_keys:
                values[key] = value
                origins[key] = f"{credentials_file}: {key}"
    values.update(env_values)
    origins.update({key: f"environment {LEAVES[key].env_name}" for key in env_values})
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in LEAVES:
            raise KeyError(f"unknown config key in flags: {key}")  # a programming error, not a user's
        values[key] = coerce(value, LEAVES[key].hint, f"command line: {key}", problems)
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
        document = read_yaml_file(path, "config file")
    except ConfigError as error:
        problems.extend(error.problems)
        return {}
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.append(f"{path}: the config file must hold a mapping, not {type(document).__name__}")
        return {}
    values: dict[str, Any] = {}
    _flatten(document, "", path, values, problems)
    if values.get("credentials.access_token") or values.get("credentials.certificate"):
        problems.extend(_readable_by_others(path, "holds credentials"))
    return values


def _readable_by_others(path: Path, what: str) -> list[str]:
    """A file with secrets must be this user's and unreadable by anyone else: its path is on the
    worker's command line, which every process on the host can read."""
    try:
        info = path.stat()
    except OSError:
        return []  # reading it already failed, or will, with its own message
    if info.st_uid == os.geteuid() and not info.st_mode & 0o077:
        return []
    return [
        f"{path}: {what} but is not private to this user (mode {info.st_mode & 0o777:04o}, uid "
        f"{info.st_uid}): chmod 600 it (as its owner), or give the credentials as TASKCLUSTER_* variables"
    ]


_CREDENTIAL_KEYS = ("client_id", "access_token", "certificate")


def _from_credentials_file(path: Path, problems: list[str]) -> dict[str, Any]:
    """``credentials.*`` values from a credentials file (``clientId`` spellings accepted too)."""
    try:
        document = read_yaml_file(path, "credentials file")
    except ConfigError as error:
        problems.extend(error.problems)
        return {}
    if not isinstance(document, dict):
        problems.append(f"{path}: the credentials file must hold a mapping of {', '.join(_CREDENTIAL_KEYS)}")
        return {}
    problems.extend(_readable_by_others(path, "is a credentials file"))
    spellings = {"clientId": "client_id", "accessToken": "access_token"}
    values: dict[str, Any] = {}
    for raw_key, value in document.items():
        key = spellings.get(str(raw_key), str(raw_key).replace("-", "_"))
        if key not in _CREDENTIAL_KEYS:
            problems.append(
                f"{path}: {clip(str(raw_key))}: unknown key (expected {', '.join(_CREDENTIAL_KEYS)})"
            )
            continue
        leaf = LEAVES[f"credentials.{key}"]
        values[leaf.key] = coerce(value, leaf.hint, f"{path}: {key}", problems)
    return values


SECTIONS = frozenset(key.rsplit(".", 1)[0] for key in LEAVES if "." in key)


def settings_in(document: dict[Any, Any], source: Path) -> tuple[dict[str, Any], list[str]]:
    """The dotted settings of a mapping shaped like a config file (another file's sub-key, e.g. the
    ``tcw`` key of worker-runner's file), with the problems found, each named by ``source``."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    _flatten(document, "", source, values, problems)
    return values, problems


def _flatten(node: dict[Any, Any], prefix: str, path: Path, out: dict[str, Any], problems: list[str]) -> None:
    for raw_key, value in node.items():
        key = prefix + str(raw_key).replace("-", "_")
        if key in SECTIONS:
            if isinstance(value, dict):
                _flatten(value, key + ".", path, out, problems)
            else:
                problems.append(f"{path}: {key}: expected a mapping of settings")
        elif key in LEAVES:
            out[key] = coerce(value, LEAVES[key].hint, f"{path}: {key}", problems)
        else:
            problems.append(f"{path}: {clip(key)}: unknown key{_suggest(key, list(LEAVES))}")


def _suggest(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


# TCW_ROOT_URL, TCW_CREDENTIALS_CLIENT_ID...: the names a setting with an official variable would have had.
OFFICIAL_INSTEAD = {
    derived: leaf.env_name
    for key, leaf in LEAVES.items()
    if (derived := _derived_env_name(key)) != leaf.env_name
}
SECTION_PREFIXES = tuple(f"TCW_{section.upper()}_" for section in SECTIONS)


def _unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """``TCW_WORKER_CAPACTY=3`` is a typo, not a variable of someone else's: say so instead of ignoring it.
    Only names inside a section are judged (``TCW_CONFIG`` and other ``TCW_*`` names are left alone)."""
    known = [leaf.env_name for leaf in LEAVES.values()]
    problems = []
    for name in sorted(environ):
        if name in OFFICIAL_INSTEAD:
            problems.append(f"environment {name}: not read; tcw reads {OFFICIAL_INSTEAD[name]}")
        elif name.startswith(SECTION_PREFIXES) and name not in known:
            problems.append(f"environment {name}: unknown setting{_suggest(name, known)}")
    return problems


def _from_environment(environ: Mapping[str, str], problems: list[str]) -> dict[str, Any]:
    problems.extend(_unknown_settings(environ))
    values: dict[str, Any] = {}
    for leaf in LEAVES.values():
        raw = environ.get(leaf.env_name)
        if raw:
            values[leaf.key] = parse_environment_value(
                raw, leaf.hint, f"environment {leaf.env_name}", problems
            )
    return values


def _build(cls: type[Any], values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = prefix + f.name
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(typing.cast(type[Any], hint), values, key + ".")
        elif key in values and (values[key] is not None or LEAVES[key].default is None):
            kwargs[f.name] = values[key]
    return cls(**kwargs)


def _value(config: Config, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = getattr(node, part)
    return node


def _check(config: Config, origins: Mapping[str, str]) -> list[str]:
    """Rules beyond types (identifiers, ranges, URLs), each problem named by where its value came from."""
    problems = []
    for key, leaf in LEAVES.items():
        value = _value(config, key)
        if leaf.rule is not None and value is not None and not leaf.rule[0](value):
            got = "" if leaf.secret else f", got {bounded(value)}"
            problems.append(f"{origins.get(key, key)}: {leaf.rule[1]}{got}")
    return problems
