"""The ``shell`` executor: generic-worker-style payloads (a subset of its POSIX native payload).

Commands run in order in the task's work directory, each as a process tree of its own
(:mod:`tcw.executors.process`) writing straight into the task log; the first non-zero exit stops the task.
``maxRunTime`` covers all commands together. Artifacts are published after the commands, also when they
failed, so a failing task still shows what it produced. A run that does not complete raises an outcome
whose message says why; the engine writes it as the last line of the task log, where people look first.

The environment is built from scratch: the worker's own variables (its ``TASKCLUSTER_ACCESS_TOKEN``...)
never reach a task.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcw.executors.api import (
    RESERVED_ARTIFACT_NAMES,
    IntermittentTask,
    MalformedPayload,
    ResourceUnavailable,
    TaskContext,
    TaskFailed,
    TaskOutcome,
    WorkerShutdown,
)
from tcw.executors.artifact_rules import artifact_property_problems, published_name_problem
from tcw.executors.process import (
    DEFAULT_CANCEL_GRACE,
    DEFAULT_GRACE,
    ProcessExit,
    StartFailed,
    StopReason,
    run_process,
)
from tcw.executors.taskcluster_env import CREDENTIALS_FD, PROXY_URL, taskcluster_environment

if TYPE_CHECKING:
    from tcw.config import Config
    from tcw.executors.mounts import MountedRun, MountManager

# Set by the worker for every command; a payload's ``env`` cannot override them (as in generic-worker).
FIXED_ENV = (
    "TASK_ID",
    "RUN_ID",
    "TASK_GROUP_ID",
    "TASKCLUSTER_ROOT_URL",
    "TASK_WORKDIR",
    "TASKCLUSTER_WORKER_LOCATION",
    PROXY_URL,
    CREDENTIALS_FD,
)
# Passed on from the worker's environment when set (worker-runner's workerLocation).
WORKER_VARIABLES = ("TASKCLUSTER_WORKER_LOCATION",)


@dataclass(frozen=True)
class ArtifactSpec:
    kind: str  # "file" or "directory"
    path: str
    name: str
    expires: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class ShellPayload:
    commands: tuple[tuple[str, ...], ...]
    max_run_time: int
    env: Mapping[str, str]
    artifacts: tuple[ArtifactSpec, ...] = ()
    retry_exit_codes: frozenset[int] = frozenset()
    taskcluster_proxy: bool | None = None  # features.taskclusterProxy; None: the worker's default

    @classmethod
    def parse(cls, payload: Mapping[str, Any], task_expires: str | None = None) -> ShellPayload:
        """Read a payload the registry already validated, defensively: anything unusable raises
        ``MalformedPayload`` listing every problem, never a crash halfway through a run. Artifacts may not
        expire after ``task_expires`` (the queue would refuse them after the task ran)."""
        problems: list[str] = []
        payload = payload if isinstance(payload, Mapping) else {}
        commands = _parse_commands(payload.get("command"), problems)
        max_run_time = payload.get("maxRunTime")
        if type(max_run_time) is not int or max_run_time < 1:
            problems.append(f"maxRunTime: must be a whole number of seconds >= 1, not {max_run_time!r}")
            max_run_time = 1
        env = _parse_env(payload.get("env", {}), problems)
        artifacts = _parse_artifacts(payload.get("artifacts", []), problems)
        for index, spec in enumerate(artifacts):
            problems.extend(
                f"artifacts[{index}]: {problem}"
                for problem in artifact_property_problems(
                    spec.name, spec.content_type, spec.expires, task_expires
                )
            )
        retry = _parse_retry(payload.get("onExitStatus", {}), problems)
        proxy = _parse_proxy_feature(payload.get("features", {}), problems)
        if problems:
            raise MalformedPayload("payload cannot be run by the shell executor: " + "; ".join(problems))
        return cls(commands, max_run_time, env, artifacts, retry, proxy)


def _is_text(value: object) -> bool:
    return isinstance(value, str) and "\0" not in value


def _parse_commands(value: object, problems: list[str]) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value:
        problems.append("command: must be a non-empty list of argv lists or shell strings")
        return ()
    commands = []
    for index, command in enumerate(value):
        if _is_text(command) and command:
            commands.append(("/bin/sh", "-c", command))
        elif isinstance(command, list) and command and all(_is_text(arg) for arg in command):
            commands.append(tuple(command))
        else:
            problems.append(f"command[{index}]: must be a non-empty list of strings or a non-empty string")
    return tuple(commands)


def _parse_env(value: object, problems: list[str]) -> dict[str, str]:
    if not isinstance(value, Mapping):
        problems.append("env: must be an object of strings")
        return {}
    env = {}
    for name, text in value.items():
        if not _is_text(name) or not name or "=" in name or not _is_text(text):
            problems.append(f"env.{name}: names and values must be strings (no '=' in names, no NUL)")
        else:
            env[name] = text
    return env


def _parse_artifacts(value: object, problems: list[str]) -> tuple[ArtifactSpec, ...]:
    if not isinstance(value, list):
        problems.append("artifacts: must be a list")
        return ()
    specs = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            problems.append(f"artifacts[{index}]: must be an object")
            continue
        kind, path, name = item.get("type"), item.get("path"), item.get("name", item.get("path"))
        expires, content_type = item.get("expires"), item.get("contentType")
        if kind not in ("file", "directory") or not _is_text(path) or not path or not _is_text(name):
            problems.append(f"artifacts[{index}]: needs type file|directory and a path (and a string name)")
        elif not all(extra is None or isinstance(extra, str) for extra in (expires, content_type)):
            problems.append(f"artifacts[{index}]: expires and contentType must be strings")
        else:
            specs.append(ArtifactSpec(kind, path, name, expires, content_type))
    _check_artifact_names(specs, problems)
    return tuple(specs)


def _check_artifact_names(specs: Sequence[ArtifactSpec], problems: list[str]) -> None:
    """An artifact name used twice, or the task log's, would make the queue refuse an upload (409) after
    the task ran: refused here instead, before anything runs."""
    seen: set[str] = set()
    for spec in specs:
        name = spec.name.rstrip("/") if spec.kind == "directory" else spec.name
        if name in RESERVED_ARTIFACT_NAMES:
            problems.append(f"artifacts: {name} is the name of the task log the worker uploads")
        elif name in seen:
            problems.append(f"artifacts: {name} is declared more than once")
        seen.add(name)


def _parse_retry(value: object, problems: list[str]) -> frozenset[int]:
    retry = value.get("retry", []) if isinstance(value, Mapping) else None
    if not isinstance(retry, list) or not all(type(code) is int for code in retry):
        problems.append("onExitStatus.retry: must be a list of exit codes")
        return frozenset()
    return frozenset(retry)


def _parse_proxy_feature(value: object, problems: list[str]) -> bool | None:
    proxy = value.get("taskclusterProxy") if isinstance(value, Mapping) else None
    if not isinstance(value, Mapping) or not isinstance(proxy, bool | None):
        problems.append("features.taskclusterProxy: must be true or false")
        return None
    return proxy


def task_environment(ctx: TaskContext, payload_env: Mapping[str, str], path: str) -> dict[str, str]:
    """A task's environment: a few defaults, the payload's variables, then the fixed ones on top."""
    work_dir = str(ctx.work_dir.resolve())
    fixed = {
        "TASK_ID": ctx.task_id,
        "RUN_ID": str(ctx.run_id),
        "TASKCLUSTER_ROOT_URL": ctx.root_url,
        "TASK_WORKDIR": work_dir,
    }
    if isinstance(ctx.task.get("taskGroupId"), str):
        fixed["TASK_GROUP_ID"] = ctx.task["taskGroupId"]
    fixed.update({name: os.environ[name] for name in WORKER_VARIABLES if name in os.environ})
    overridden = sorted(set(payload_env) & set(FIXED_ENV))
    if overridden:
        ctx.log.warning("Ignoring payload env %s: set by the worker", ", ".join(overridden))
    # LANG only, not LC_ALL: LC_ALL would silently beat a LANG or LC_* that the payload sets.
    defaults = {"PATH": path, "HOME": work_dir, "LANG": "C.UTF-8"}
    return defaults | dict(payload_env) | fixed


class ShellExecutor:
    """Runs ``shell`` payloads.

    ``grace`` is the time between TERM and KILL when a tree must stop at maxRunTime (or left processes
    behind), ``cancel_grace`` the same when the run is cancelled; ``path`` is the tasks' default ``PATH``
    (default: the worker's, which holds no secret and names the tools the host was set up with).
    """

    payload_schema = "shell"  # tcw's built-in schema: a queue with no registry entry is checked against it

    def __init__(
        self,
        *,
        grace: float = DEFAULT_GRACE,
        cancel_grace: float = DEFAULT_CANCEL_GRACE,
        path: str | None = None,
        mounts: MountManager | None = None,
        config: Config | None = None,
    ) -> None:
        self.grace = grace
        self.cancel_grace = cancel_grace
        self.path = path if path is not None else os.environ.get("PATH", os.defpath)
        self._mounts = mounts
        self._config = config

    @classmethod
    def from_config(cls, config: Config) -> ShellExecutor:
        return cls(config=config)

    @property
    def mounts(self) -> MountManager:
        """Made on first use, so that its modules (archives, locks, downloads) stay out of the worker's
        start-up, which must reach its signal handlers quickly."""
        if self._mounts is None:
            from tcw.executors.mounts import MountManager

            self._mounts = MountManager() if self._config is None else MountManager.from_config(self._config)
        return self._mounts

    async def before_claim(self) -> None:
        """Free disk for the mounts (idle caches, stored content) before the worker claims a task."""
        await self.mounts.before_claim()

    async def __call__(self, ctx: TaskContext) -> None:
        expires = ctx.task.get("expires")
        payload = ShellPayload.parse(ctx.payload, expires if isinstance(expires, str) else None)
        plan = self.mounts.plan(ctx)
        taskcluster = await taskcluster_environment(ctx, payload.taskcluster_proxy)
        env = task_environment(ctx, payload.env, self.path) | taskcluster.env
        async with self.mounts.mounted(ctx, plan) as mounted:
            await self._run_and_publish(ctx, payload, env, taskcluster.pass_fds, mounted)

    async def _run_and_publish(
        self,
        ctx: TaskContext,
        payload: ShellPayload,
        env: Mapping[str, str],
        pass_fds: tuple[int, ...],
        mounted: MountedRun,
    ) -> None:
        outcome = await self._run_commands(ctx, payload, env, pass_fds, mounted.saw_exit)
        try:
            artifact_problem = await publish_artifacts(ctx, payload.artifacts)
        except ResourceUnavailable:
            # An artifact would be missing whatever the commands did, so even a failed task resolves
            # resource-unavailable (the queue retries it). Its own failure goes in the log first; the
            # engine ends the log with the upload error it reports.
            if outcome is not None:
                ctx.log.error("The task had failed before the upload error: %s", outcome.message)
            raise
        if artifact_problem is not None and outcome is not None:
            ctx.log.error("%s", artifact_problem.message)  # the engine logs only the outcome it reports
        final = outcome or artifact_problem
        if final is not None:
            raise final

    async def _run_commands(
        self,
        ctx: TaskContext,
        payload: ShellPayload,
        env: Mapping[str, str],
        pass_fds: tuple[int, ...] = (),
        on_exit: Callable[[int | None], None] = lambda returncode: None,
    ) -> TaskOutcome | None:
        """Run the commands in order; the outcome that ends the task early, or None when all succeed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + payload.max_run_time
        for index, argv in enumerate(payload.commands):
            _stop_if_cancelled(ctx)
            ctx.log.info("Executing command %d: %s", index, shlex.join(argv))
            started = loop.time()
            try:
                ended = await run_process(
                    argv,
                    cwd=ctx.work_dir,
                    env=env,
                    output=ctx.log_path,
                    timeout=max(deadline - loop.time(), 0.0),
                    cancelled=ctx.cancelled,
                    grace=self.grace,
                    cancel_grace=self.cancel_grace,
                    sandbox=ctx.sandbox,
                    pass_fds=pass_fds,
                )
            except StartFailed as error:
                return TaskFailed(f"command {index} could not be started: {error}")
            on_exit(ended.returncode)
            ctx.log.info(
                "Command %d: %s after %.3f s%s",
                index,
                ended.describe(),
                loop.time() - started,
                _stopped_because(ended, payload),
            )
            _stop_if_cancelled(ctx)
            problem = _command_outcome(index, ended, payload)
            if problem is not None:
                return problem
        return None


def _stop_if_cancelled(ctx: TaskContext) -> None:
    if ctx.cancelled.is_set():
        raise WorkerShutdown("the run was cancelled; its processes were stopped")


def _stopped_because(ended: ProcessExit, payload: ShellPayload) -> str:
    if ended.stopped_by is StopReason.TIMEOUT:
        return f", stopped by the worker: maxRunTime of {payload.max_run_time} s exceeded"
    if ended.stopped_by is StopReason.CANCELLED:
        return ", stopped by the worker: the run was cancelled"
    return ""


def _command_outcome(index: int, ended: ProcessExit, payload: ShellPayload) -> TaskOutcome | None:
    if ended.stopped_by is StopReason.TIMEOUT:
        return TaskFailed(
            f"maxRunTime exceeded: the task ran longer than {payload.max_run_time} s, "
            f"so command {index} and its processes were killed"
        )
    if ended.returncode in payload.retry_exit_codes:
        return IntermittentTask(
            f"command {index} ended with {ended.describe()}, listed in onExitStatus.retry: "
            "the queue will retry the task"
        )
    if ended.returncode != 0:
        return TaskFailed(f"command {index} ended with {ended.describe()}")
    return None


async def publish_artifacts(ctx: TaskContext, specs: Sequence[ArtifactSpec]) -> TaskFailed | None:
    """Upload every declared artifact; each one that cannot be becomes an ``error`` artifact, and the run
    fails naming them all. Upload errors the publisher could not overcome raise ``ResourceUnavailable``."""
    problems = []
    for spec in specs:
        problems.extend(await _publish(ctx, spec))
    if problems:
        return TaskFailed("artifacts could not be published: " + "; ".join(problems))
    return None


async def _publish(ctx: TaskContext, spec: ArtifactSpec) -> list[str]:
    root = ctx.work_dir.resolve()
    source = (root / spec.path).resolve()  # an absolute path stays absolute
    if not source.is_relative_to(root):
        why = "is outside the task directory"
        return [await _error(ctx, spec, spec.name, spec.path, "invalid-resource-on-worker", why)]
    if not source.exists():
        return [await _error(ctx, spec, spec.name, spec.path, "file-missing-on-worker", "does not exist")]
    if spec.kind == "file":
        if not source.is_file():
            return [await _error(ctx, spec, spec.name, spec.path, "invalid-resource-on-worker", "is no file")]
        ctx.log.info("Uploading artifact %s from %s", spec.name, spec.path)
        return await _upload(ctx, spec.name, source, spec.content_type, spec.expires)
    if not source.is_dir():
        why = "is no directory"
        return [await _error(ctx, spec, spec.name, spec.path, "invalid-resource-on-worker", why)]
    return await _publish_directory(ctx, spec, root, source)


async def _publish_directory(ctx: TaskContext, spec: ArtifactSpec, root: Path, source: Path) -> list[str]:
    """Every file under ``source`` as ``<name>/<relative path>``; symlinks leading outside the task dir
    are refused, or a task could publish the worker's own files. The tree is walked in a thread: a task
    can leave one large enough to stall every other run on the event loop."""
    problems = []
    prefix = spec.name.rstrip("/")
    ctx.log.info("Uploading directory artifact %s from %s", prefix, spec.path)
    for entry in await asyncio.to_thread(_walk_files, root, source):
        name = f"{prefix}/{entry.relative}"
        refused = published_name_problem(name, RESERVED_ARTIFACT_NAMES)
        if refused is not None:  # no error artifact either: its name is the problem
            shown = f"{spec.path.rstrip('/')}/{entry.relative}"
            ctx.log.error("artifact %s: %s %s (not uploaded)", name, shown, refused)
            problems.append(f"artifact {name}: {shown} {refused}")
        elif not entry.inside:
            shown = f"{spec.path.rstrip('/')}/{entry.relative}"
            why = "leads outside the task directory"
            problems.append(await _error(ctx, spec, name, shown, "invalid-resource-on-worker", why))
        elif entry.is_file:
            problems.extend(await _upload(ctx, name, entry.target, None, spec.expires))
    return problems


async def _upload(
    ctx: TaskContext, name: str, source: Path, content_type: str | None, expires: str | None
) -> list[str]:
    """One file; the publisher refuses what is no plain file of the task's (a hard link to a file
    elsewhere, a FIFO), which fails the task without stopping the other uploads."""
    try:
        await ctx.artifacts.upload(name, source, content_type=content_type, expires=expires)
    except TaskFailed as refused:
        ctx.log.error("%s", refused.message)
        return [refused.message]
    return []


@dataclass(frozen=True)
class _WalkedFile:
    relative: str  # under the artifact's directory, with / separators
    target: Path  # symlinks resolved
    inside: bool  # whether the target is within the task directory
    is_file: bool


def _walk_files(root: Path, source: Path) -> list[_WalkedFile]:
    found = []
    for directory, _, files in sorted(os.walk(source)):
        for file_name in sorted(files):
            path = Path(directory, file_name)
            target = path.resolve()
            inside = target.is_relative_to(root)
            found.append(
                _WalkedFile(path.relative_to(source).as_posix(), target, inside, inside and target.is_file())
            )
    return found


async def _error(ctx: TaskContext, spec: ArtifactSpec, name: str, path: str, reason: str, why: str) -> str:
    message = f"artifact {name}: {path} {why}"
    ctx.log.error("%s (%s)", message, reason)
    await ctx.artifacts.error(name, reason, message, expires=spec.expires)
    return message


shell = ShellExecutor()
"""The built-in ``shell`` executor with default settings."""
