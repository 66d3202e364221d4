"""What a task process gets of the run's Taskcluster access: ``TASKCLUSTER_PROXY_URL`` when the proxy is on
for it, and ``TASKCLUSTER_CREDENTIALS_FD`` with the descriptor to inherit when the worker opted in."""

from __future__ import annotations

from dataclasses import dataclass, field

from tcw.executors.api import TaskContext

PROXY_URL = "TASKCLUSTER_PROXY_URL"
CREDENTIALS_FD = "TASKCLUSTER_CREDENTIALS_FD"


@dataclass(frozen=True)
class TaskclusterEnv:
    env: dict[str, str] = field(default_factory=dict)
    pass_fds: tuple[int, ...] = ()


async def taskcluster_environment(ctx: TaskContext, proxy: bool | None) -> TaskclusterEnv:
    """``proxy``: the payload's ``features.taskclusterProxy``, None when it does not say (the worker's
    setting decides)."""
    access = ctx.taskcluster
    if access is None:
        return TaskclusterEnv()
    env: dict[str, str] = {}
    if proxy if proxy is not None else access.proxy_by_default:
        env[PROXY_URL] = await access.proxy_url()
    fd = access.credentials_fd()
    if fd is None:
        return TaskclusterEnv(env)
    env[CREDENTIALS_FD] = str(fd)
    return TaskclusterEnv(env, (fd,))
