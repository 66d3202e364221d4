"""Handlers that tests load by ``module:function`` and through an entry point."""

from __future__ import annotations

import threading

from tcw.executors.api import TaskContext, TaskFailed

NOT_CALLABLE = 42


async def async_handler(ctx: TaskContext) -> None:
    (ctx.work_dir / "async.txt").write_text(ctx.payload["text"])
    await ctx.upload_artifact("public/async.txt", ctx.work_dir / "async.txt")


def sync_handler(ctx: TaskContext) -> None:
    (ctx.work_dir / "thread.txt").write_text(threading.current_thread().name)
    ctx.log.info("sync handler ran")


def failing_handler(ctx: TaskContext) -> None:
    raise TaskFailed(f"nothing to do for {ctx.task_id}")


class Namespace:
    """For dotted attribute paths: ``module:Namespace.handler``."""

    @staticmethod
    async def handler(ctx: TaskContext) -> None:
        ctx.log.info("namespaced handler ran")
